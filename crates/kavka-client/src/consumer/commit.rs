//! Commits, committed offsets, group membership and closing.

use std::time::Instant;

use super::Consumer;
use crate::error::ClientError;
use crate::group::GroupMember;
use crate::offsets::{self, Committer};

impl Consumer {
    /// Commits `offsets` (`None`: every known position) for the group.
    pub async fn commit_sync(
        &mut self,
        offsets: Option<&[(String, i32, i64)]>,
    ) -> Result<(), ClientError> {
        let items: Vec<offsets::OffsetToCommit> = match offsets {
            Some(o) => o
                .iter()
                .map(|(t, p, off)| (t.clone(), *p, *off, None))
                .collect(),
            None => self
                .positions
                .iter()
                .filter_map(|((t, p), pos)| {
                    pos.map(|o| (t.clone(), *p, o, self.epochs.get(&(t.clone(), *p)).copied()))
                })
                .collect(),
        };
        if items.is_empty() {
            return Ok(());
        }
        let group = self.group_id()?.to_string();
        let (generation_id, member_id, instance) = match &self.member {
            // Also while a rejoin is pending: the coordinator accepts the commit of the
            // current generation until the rebalance completes (Kafka commits there too).
            Some(m) if m.generation_id >= 0 && !m.member_id.is_empty() => (
                m.generation_id,
                m.member_id.clone(),
                m.group_instance_id.clone(),
            ),
            _ => (-1, String::new(), None),
        };
        let who = Committer {
            group_id: &group,
            generation_id,
            member_id: &member_id,
            group_instance_id: instance.as_deref(),
        };
        let client = &self.client;
        let result = client
            .with_coordinator(&group, |node| offsets::commit(client, node, &who, &items))
            .await;
        if let (Err(e), Some(m)) = (&result, self.member.as_mut()) {
            if GroupMember::is_membership_error(e) {
                let reset = e.kafka_code() == Some(kavka_protocol::ErrorCode::UNKNOWN_MEMBER_ID);
                m.request_rejoin(reset);
            }
        }
        if result.is_ok() {
            self.last_commit = Instant::now();
        }
        result
    }

    /// The group's committed offsets of `partitions` (`None` where nothing is committed).
    pub async fn committed(
        &mut self,
        partitions: &[(String, i32)],
    ) -> Result<Vec<Option<i64>>, ClientError> {
        let group = self.group_id()?.to_string();
        let client = &self.client;
        let found = client
            .with_coordinator(&group, |node| {
                offsets::fetch(client, node, &group, Some(partitions))
            })
            .await?;
        Ok(partitions
            .iter()
            .map(|(t, p)| {
                found
                    .iter()
                    .find(|o| &o.topic == t && o.partition == *p)
                    .map(|o| o.offset)
                    .filter(|o| *o >= 0)
            })
            .collect())
    }

    /// Commits the positions (with auto commit) and leaves the group. A commit refused
    /// because a rebalance took the partitions away is only logged (as the Java consumer
    /// does); other failures are returned, after leaving.
    pub async fn close(mut self) -> Result<(), ClientError> {
        let mut result = Ok(());
        if self.config.enable_auto_commit && self.config.group_id.is_some() {
            match self.commit_sync(None).await {
                Err(e) if GroupMember::is_membership_error(&e) => {
                    tracing::warn!(error = %e, "commit on close refused: a rebalance took over");
                }
                r => result = r,
            }
        }
        if let Some(mut member) = self.member.take() {
            let left = member.leave(&self.client).await;
            result = result.and(left);
        }
        result
    }

    pub(super) fn group_id(&self) -> Result<&str, ClientError> {
        self.config
            .group_id
            .as_deref()
            .ok_or_else(|| ClientError::Config("group.id is not configured".into()))
    }

    /// Joins or rejoins the group when subscribed and needed (committing first with auto
    /// commit); the new assignment's positions are looked up afresh.
    pub(super) async fn ensure_membership(&mut self) -> Result<(), ClientError> {
        let Some(topics) = self.subscription.clone() else {
            return Ok(());
        };
        if !self.member.as_ref().is_some_and(GroupMember::needs_join) {
            return Ok(());
        }
        if self.config.enable_auto_commit
            && self.member.as_ref().is_some_and(|m| m.generation_id >= 0)
        {
            if let Err(e) = self.commit_sync(None).await {
                tracing::debug!(error = %e, "commit before rejoining failed");
            }
        }
        if self.config.allow_auto_create_topics {
            self.client.topics(&topics, true).await?;
        }
        let owned = self.assignment();
        let member = self
            .member
            .as_mut()
            .expect("subscribed consumers have a member");
        let assigned = member
            .join(&self.client, &self.config, &topics, &owned)
            .await?;
        self.positions.clear();
        self.buffer.clear();
        self.set_assignment(assigned);
        self.last_commit = Instant::now();
        Ok(())
    }
}
