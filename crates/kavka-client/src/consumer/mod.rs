//! [`Consumer`]: reads partitions it is assigned (by `assign`, or by its group after
//! `subscribe`) from their leaders, from a position per partition.
//!
//! Positions start at the group's committed offset, else where `auto.offset.reset` says. A
//! `poll` returns the records at and after each position (earlier records of a batch are
//! skipped), at most `max.poll.records`, and moves the positions past them. With a group and
//! `enable.auto.commit`, positions are committed every `auto.commit.interval.ms` (at the start
//! of a `poll`), before a rebalance, and on `close`.
//!
//! Group membership follows the classic protocol (see [`crate::group`]); a `poll` joins or
//! rejoins when needed and may wait for the rebalance to complete beyond its timeout.
//! Not done (yet): pausing partitions, rejoining when a subscribed topic gains partitions,
//! leaving the group when `poll` is not called within `max.poll.interval.ms`.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::admin::{Admin, OffsetSpec};
use crate::client::Client;
use crate::config::ConsumerConfig;
use crate::error::ClientError;
use crate::group::GroupMember;

mod commit;
mod fetch;
mod positions;

/// Where a record's timestamp comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker when appending.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's name (`CreateTime`, `LogAppendTime`), as the console consumer prints it.
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }
}

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Timestamp (ms since the epoch).
    pub timestamp_ms: i64,
    /// What the timestamp is.
    pub timestamp_type: TimestampType,
    /// Key.
    pub key: Option<Bytes>,
    /// Value (`None`: a tombstone).
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// Leader epoch of the batch (-1 when unknown).
    pub leader_epoch: i32,
}

/// A consumer (see the module documentation). Not `Clone`: one task polls it.
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    config: ConsumerConfig,
    /// Assigned partitions and their positions (`None`: to be found).
    positions: BTreeMap<(String, i32), Option<i64>>,
    /// Leader epoch of the last record returned per partition (committed with it).
    epochs: BTreeMap<(String, i32), i32>,
    /// Topics subscribed to (group assignment), `None` with `assign` or nothing.
    subscription: Option<Vec<String>>,
    /// Group membership, once subscribed.
    member: Option<GroupMember>,
    /// Records fetched but not yet returned.
    buffer: VecDeque<ConsumerRecord>,
    last_commit: Instant,
}

impl Consumer {
    /// A consumer over `client` (nothing is assigned or joined yet).
    pub async fn new(client: Client, config: ConsumerConfig) -> Result<Consumer, ClientError> {
        if config.max_poll_records == 0 {
            return Err(ClientError::Config(
                "max.poll.records must be positive".into(),
            ));
        }
        if config.group_instance_id.is_some() && config.group_id.is_none() {
            return Err(ClientError::Config(
                "group.instance.id needs a group.id".into(),
            ));
        }
        Ok(Consumer {
            client,
            config,
            positions: BTreeMap::new(),
            epochs: BTreeMap::new(),
            subscription: None,
            member: None,
            buffer: VecDeque::new(),
            last_commit: Instant::now(),
        })
    }

    /// Reads exactly these partitions (no group membership); positions of partitions already
    /// assigned are kept.
    pub async fn assign(&mut self, partitions: Vec<(String, i32)>) -> Result<(), ClientError> {
        if self.subscription.is_some() {
            return Err(ClientError::State(
                "subscribe() and assign() are exclusive: this consumer is subscribed".into(),
            ));
        }
        if self.config.allow_auto_create_topics {
            let mut topics: Vec<String> = partitions.iter().map(|(t, _)| t.clone()).collect();
            topics.sort();
            topics.dedup();
            self.client.topics(&topics, true).await?;
        }
        self.set_assignment(partitions);
        Ok(())
    }

    /// Subscribes to `topics` through the group `group.id`; the group's assignment applies
    /// from the next `poll`, which joins the group.
    pub async fn subscribe(&mut self, topics: Vec<String>) -> Result<(), ClientError> {
        let group = self.config.group_id.clone().ok_or_else(|| {
            ClientError::Config("subscribe() needs group.id to be configured".into())
        })?;
        if self.subscription.is_none() && !self.positions.is_empty() {
            return Err(ClientError::State(
                "subscribe() and assign() are exclusive: this consumer has an assignment".into(),
            ));
        }
        let mut topics = topics;
        topics.sort();
        topics.dedup();
        let member = self
            .member
            .get_or_insert_with(|| GroupMember::new(group, self.config.group_instance_id.clone()));
        if self.subscription.as_ref() != Some(&topics) {
            member.request_rejoin(false);
        }
        self.subscription = Some(topics);
        Ok(())
    }

    /// Fetches records, waiting up to `timeout` for some (see the module documentation).
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            self.ensure_membership().await?;
            self.maybe_auto_commit().await;
            self.ensure_positions().await?;
            if !self.buffer.is_empty() {
                return Ok(self.drain());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if self.positions.is_empty() {
                if self.subscription.is_none() {
                    return Err(ClientError::State(
                        "the consumer is not subscribed to any topics or assigned any partitions"
                            .into(),
                    ));
                }
                if left.is_zero() {
                    return Ok(Vec::new());
                }
                tokio::time::sleep(left.min(Duration::from_millis(100))).await;
                continue;
            }
            let wait_ms = (left.as_millis() as i32).min(self.config.fetch_max_wait_ms);
            self.fetch_once(wait_ms).await?;
            if !self.buffer.is_empty() {
                return Ok(self.drain());
            }
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
        }
    }

    /// Moves a partition's position.
    pub async fn seek(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(), ClientError> {
        let key = (topic.to_string(), partition);
        if !self.positions.contains_key(&key) {
            return Err(not_assigned(topic, partition));
        }
        self.set_position(key, offset);
        Ok(())
    }

    /// Moves positions to the log start offsets (`[]`: every assigned partition).
    pub async fn seek_to_beginning(
        &mut self,
        partitions: &[(String, i32)],
    ) -> Result<(), ClientError> {
        self.seek_to(partitions, OffsetSpec::Earliest).await
    }

    /// Moves positions to the log end offsets (`[]`: every assigned partition).
    pub async fn seek_to_end(&mut self, partitions: &[(String, i32)]) -> Result<(), ClientError> {
        self.seek_to(partitions, OffsetSpec::Latest).await
    }

    /// The next offset `poll` returns for a partition (`None`: not assigned, or not known until
    /// the next `poll`).
    pub fn position(&self, topic: &str, partition: i32) -> Option<i64> {
        self.positions
            .get(&(topic.to_string(), partition))
            .copied()
            .flatten()
    }

    /// The assigned partitions, sorted.
    pub fn assignment(&self) -> Vec<(String, i32)> {
        self.positions.keys().cloned().collect()
    }

    fn set_assignment(&mut self, partitions: Vec<(String, i32)>) {
        let mut next = BTreeMap::new();
        for tp in partitions {
            let position = self.positions.get(&tp).copied().flatten();
            next.insert(tp, position);
        }
        self.buffer
            .retain(|r| next.contains_key(&(r.topic.clone(), r.partition)));
        self.epochs.retain(|tp, _| next.contains_key(tp));
        self.positions = next;
    }

    fn set_position(&mut self, key: (String, i32), offset: i64) {
        self.buffer
            .retain(|r| !(r.topic == key.0 && r.partition == key.1));
        self.positions.insert(key, Some(offset));
    }

    async fn seek_to(
        &mut self,
        partitions: &[(String, i32)],
        spec: OffsetSpec,
    ) -> Result<(), ClientError> {
        let wanted: Vec<(String, i32)> = if partitions.is_empty() {
            self.assignment()
        } else {
            partitions.to_vec()
        };
        if let Some((t, p)) = wanted.iter().find(|tp| !self.positions.contains_key(tp)) {
            return Err(not_assigned(t, *p));
        }
        for o in Admin::new(self.client.clone())
            .list_offsets(&wanted, spec)
            .await?
        {
            if let Some(e) = o.error {
                return Err(e.into());
            }
            self.set_position((o.topic, o.partition), o.offset);
        }
        Ok(())
    }

    /// Hands out up to `max.poll.records` buffered records, moving positions past them.
    fn drain(&mut self) -> Vec<ConsumerRecord> {
        let n = self.buffer.len().min(self.config.max_poll_records);
        let out: Vec<ConsumerRecord> = self.buffer.drain(..n).collect();
        for r in &out {
            let key = (r.topic.clone(), r.partition);
            if let Some(pos) = self.positions.get_mut(&key) {
                *pos = Some(r.offset + 1);
            }
            self.epochs.insert(key, r.leader_epoch);
        }
        out
    }
}

fn not_assigned(topic: &str, partition: i32) -> ClientError {
    ClientError::State(format!(
        "partition {topic}-{partition} is not assigned to this consumer"
    ))
}
