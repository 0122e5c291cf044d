//! The consumer's positions: found from committed offsets or `auto.offset.reset`, advanced by
//! fetching from the leaders, reset on OFFSET_OUT_OF_RANGE, committed when auto commit is due.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kavka_protocol::ErrorCode;
use tokio::task::JoinSet;

use super::fetch::{self, PartitionFetch};
use super::Consumer;
use crate::admin::{Admin, OffsetSpec};
use crate::config::OffsetReset;
use crate::error::ClientError;
use crate::offsets;

impl Consumer {
    /// Commits positions when auto commit is on and the interval passed (errors are logged:
    /// the next commit carries the same positions).
    pub(super) async fn maybe_auto_commit(&mut self) {
        let interval = Duration::from_millis(self.config.auto_commit_interval_ms);
        if !self.config.enable_auto_commit
            || self.config.group_id.is_none()
            || self.last_commit.elapsed() < interval
        {
            return;
        }
        if let Err(e) = self.commit_sync(None).await {
            tracing::debug!(error = %e, "auto commit failed");
            self.last_commit = Instant::now();
        }
    }

    /// Gives every assigned partition without a position one: the committed offset, else
    /// `auto.offset.reset`.
    pub(super) async fn ensure_positions(&mut self) -> Result<(), ClientError> {
        let missing: Vec<(String, i32)> = self
            .positions
            .iter()
            .filter(|(_, p)| p.is_none())
            .map(|(tp, _)| tp.clone())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let mut unknown = missing.clone();
        if let Some(group) = self.config.group_id.clone() {
            let client = &self.client;
            let committed = client
                .with_coordinator(&group, |node| {
                    offsets::fetch(client, node, &group, Some(&missing))
                })
                .await?;
            for o in committed.into_iter().filter(|o| o.offset >= 0) {
                let key = (o.topic, o.partition);
                if let Some(pos) = self.positions.get_mut(&key) {
                    *pos = Some(o.offset);
                    unknown.retain(|tp| *tp != key);
                }
            }
        }
        self.reset(&unknown).await
    }

    /// Sets positions per `auto.offset.reset`.
    async fn reset(&mut self, partitions: &[(String, i32)]) -> Result<(), ClientError> {
        if partitions.is_empty() {
            return Ok(());
        }
        let spec = match self.config.auto_offset_reset {
            OffsetReset::Earliest => OffsetSpec::Earliest,
            OffsetReset::Latest => OffsetSpec::Latest,
            OffsetReset::None => {
                let (topic, partition) = partitions[0].clone();
                return Err(ClientError::NoOffset { topic, partition });
            }
        };
        for o in Admin::new(self.client.clone())
            .list_offsets(partitions, spec)
            .await?
        {
            match o.error {
                None => self.set_position((o.topic, o.partition), o.offset),
                Some(e) if e.is_retriable() => self.client.invalidate_topic(&o.topic),
                Some(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// One round of fetches, one request per leader (in parallel), each waiting at most
    /// `wait_ms` at the broker; records go to the buffer.
    pub(super) async fn fetch_once(&mut self, wait_ms: i32) -> Result<(), ClientError> {
        let mut by_leader: BTreeMap<i32, Vec<(String, i32, i64)>> = BTreeMap::new();
        let buffered: std::collections::BTreeSet<(String, i32)> = self
            .buffer
            .iter()
            .map(|r| (r.topic.clone(), r.partition))
            .collect();
        for ((topic, partition), position) in &self.positions {
            let Some(position) = position else { continue };
            if buffered.contains(&(topic.clone(), *partition)) {
                continue;
            }
            match self.client.leader(topic, *partition).await {
                Ok(leader) => by_leader.entry(leader).or_default().push((
                    topic.clone(),
                    *partition,
                    *position,
                )),
                Err(e) if e.is_retriable() => {}
                Err(e) => return Err(e),
            }
        }
        if by_leader.is_empty() {
            tokio::time::sleep(Duration::from_millis(crate::client::RETRY_BACKOFF_MS)).await;
            return Ok(());
        }
        let mut requests = JoinSet::new();
        for (leader, partitions) in by_leader {
            let client = self.client.clone();
            let config = self.config.clone();
            requests.spawn(fetch::fetch(client, leader, partitions, config, wait_ms));
        }
        let mut fetched: Vec<PartitionFetch> = Vec::new();
        while let Some(joined) = requests.join_next().await {
            match joined.map_err(|e| ClientError::State(format!("fetch task failed: {e}")))? {
                Ok(parts) => fetched.extend(parts),
                Err(e) if e.is_retriable() => tracing::debug!(error = %e, "fetch failed"),
                Err(e) => return Err(e),
            }
        }
        let mut out_of_range = Vec::new();
        for f in fetched {
            let key = (f.topic.clone(), f.partition);
            let Some(&Some(position)) = self.positions.get(&key) else {
                continue;
            };
            if position != f.fetch_offset {
                continue; // sought meanwhile
            }
            match &f.error {
                None => {
                    let (records, next) = fetch::decode(&f, position)?;
                    if records.is_empty() {
                        self.positions.insert(key, Some(next.max(position)));
                    }
                    self.buffer.extend(records);
                }
                Some(e) if e.code == ErrorCode::OFFSET_OUT_OF_RANGE => out_of_range.push(key),
                Some(e) if e.is_retriable() => self.client.invalidate_topic(&f.topic),
                Some(e) => return Err(e.clone().into()),
            }
        }
        if !out_of_range.is_empty() {
            if self.config.auto_offset_reset == OffsetReset::None {
                let (topic, partition) = out_of_range.swap_remove(0);
                return Err(ClientError::Kafka(crate::error::KafkaError::new(
                    ErrorCode::OFFSET_OUT_OF_RANGE,
                    format!("fetch position out of range for partition {topic}-{partition}"),
                )));
            }
            self.reset(&out_of_range).await?;
        }
        Ok(())
    }
}
