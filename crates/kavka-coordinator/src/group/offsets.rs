//! Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and expiration. Offsets change only
//! by replaying the records these operations return.

use std::collections::BTreeSet;

use kavka_protocol::ErrorCode;

use super::api::{CommitRequest, CommittedOffset};
use super::classic::{Group, GroupState};
use super::records::{fits_record, GroupRecord, OffsetCommitValue, OffsetKey};
use super::shard::{Effects, GroupShard};

/// The protocol type of consumers (whose subscriptions the coordinator can read).
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

impl GroupShard {
    /// OffsetCommit: the error of each partition, in request order.
    pub fn commit_offsets(
        &mut self,
        now_ms: i64,
        req: &CommitRequest,
    ) -> (Vec<ErrorCode>, Effects) {
        let mut effects = Effects::default();
        if let Err(e) = self.validate_commit(now_ms, req) {
            return (vec![e; req.partitions.len()], effects);
        }
        let errors = req
            .partitions
            .iter()
            .map(|p| {
                let metadata = p.metadata.clone().unwrap_or_default();
                if metadata.len() > self.config.offset_metadata_bytes_max || !fits_record(&metadata)
                {
                    return ErrorCode::OFFSET_METADATA_TOO_LARGE;
                }
                if !fits_record(&p.topic) {
                    return ErrorCode::INVALID_TOPIC_EXCEPTION;
                }
                effects.records.push(GroupRecord::Offset {
                    key: OffsetKey {
                        group: req.group_id.clone(),
                        topic: p.topic.clone(),
                        partition: p.partition,
                    },
                    value: Some(OffsetCommitValue {
                        offset: p.offset,
                        leader_epoch: p.leader_epoch,
                        metadata,
                        commit_timestamp_ms: now_ms,
                        expire_timestamp_ms: (req.retention_time_ms >= 0)
                            .then(|| now_ms.saturating_add(req.retention_time_ms)),
                    }),
                });
                ErrorCode::NONE
            })
            .collect();
        (errors, effects)
    }

    /// Kafka's checks of a commit against the group (ClassicGroup.validateOffsetCommit).
    fn validate_commit(&mut self, now_ms: i64, req: &CommitRequest) -> Result<(), ErrorCode> {
        if req.group_id.is_empty() || !fits_record(&req.group_id) {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            // Offsets of a consumer that does not use group management (or the admin client).
            return if req.generation_id < 0 {
                Ok(())
            } else {
                Err(ErrorCode::ILLEGAL_GENERATION)
            };
        };
        if group.is(GroupState::Dead) {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        if req.generation_id < 0 && group.is(GroupState::Empty) {
            return Ok(());
        }
        if req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
            if group.is_static_member_fenced(&req.member_id, req.group_instance_id.as_deref()) {
                return Err(ErrorCode::FENCED_INSTANCE_ID);
            }
            if !group.members.contains_key(&req.member_id) {
                return Err(ErrorCode::UNKNOWN_MEMBER_ID);
            }
            if req.generation_id != group.generation_id {
                return Err(ErrorCode::ILLEGAL_GENERATION);
            }
        } else if !group.is(GroupState::Empty) {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        if group.is(GroupState::CompletingRebalance) {
            return Err(ErrorCode::REBALANCE_IN_PROGRESS);
        }
        // A commit from a member counts as a heartbeat.
        if let Some(m) = group.members.get_mut(&req.member_id) {
            if m.heartbeat_deadline_ms.is_some() {
                m.heartbeat_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
            }
        }
        Ok(())
    }

    /// OffsetFetch of `partitions` (None: every committed partition). A partition without a
    /// commit gets offset -1.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<CommittedOffset>, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::INVALID_GROUP_ID);
        }
        let group = self.groups.get(group_id);
        let committed = |topic: &str, partition: i32| -> CommittedOffset {
            let pending = self.has_pending_offset(group_id, topic, partition);
            match group.and_then(|g| g.offsets.get(&(topic.to_string(), partition))) {
                Some(v) => CommittedOffset {
                    topic: topic.to_string(),
                    partition,
                    offset: v.offset,
                    leader_epoch: v.leader_epoch,
                    metadata: v.metadata.clone(),
                    pending,
                },
                None => CommittedOffset {
                    topic: topic.to_string(),
                    partition,
                    offset: -1,
                    leader_epoch: -1,
                    metadata: String::new(),
                    pending,
                },
            }
        };
        Ok(match partitions {
            Some(list) => list.iter().map(|(t, p)| committed(t, *p)).collect(),
            None => group
                .map(|g| g.offsets.keys().map(|(t, p)| committed(t, *p)).collect())
                .unwrap_or_default(),
        })
    }

    /// OffsetDelete: the error of each partition, or of the whole request.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> (Result<Vec<ErrorCode>, ErrorCode>, Effects) {
        let mut effects = Effects::default();
        if group_id.is_empty() {
            return (Err(ErrorCode::INVALID_GROUP_ID), effects);
        }
        let Some(group) = self.groups.get(group_id) else {
            return (Err(ErrorCode::GROUP_ID_NOT_FOUND), effects);
        };
        if group.is(GroupState::Dead) {
            return (Err(ErrorCode::GROUP_ID_NOT_FOUND), effects);
        }
        let consumer = group.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE);
        if !group.is(GroupState::Empty) && !consumer {
            return (Err(ErrorCode::NON_EMPTY_GROUP), effects);
        }
        let subscribed = (!group.is(GroupState::Empty)).then(|| subscribed_topics(group));
        let errors = partitions
            .iter()
            .map(|(topic, partition)| {
                let in_use = match &subscribed {
                    None => false,
                    Some(None) => true,
                    Some(Some(topics)) => topics.iter().any(|t| t == topic),
                };
                if in_use {
                    return ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC;
                }
                if group.offsets.contains_key(&(topic.clone(), *partition)) {
                    effects
                        .records
                        .push(offset_tombstone(group_id, topic, *partition));
                }
                ErrorCode::NONE
            })
            .collect();
        (Ok(errors), effects)
    }

    /// Tombstones for every committed offset of `topic` in every group of the shard: a deleted
    /// topic's offsets go with it (Kafka's `onPartitionsDeleted`), so a topic created again
    /// under the same name starts with none.
    pub fn delete_topic_offsets(&mut self, topic: &str) -> Effects {
        let mut effects = Effects::default();
        let mut groups: Vec<&String> = self.groups.keys().collect();
        groups.sort();
        for group_id in groups {
            let mut partitions: Vec<i32> = self.groups[group_id]
                .offsets
                .keys()
                .filter(|(t, _)| t == topic)
                .map(|(_, p)| *p)
                .collect();
            partitions.sort_unstable();
            for partition in partitions {
                effects
                    .records
                    .push(offset_tombstone(group_id, topic, partition));
            }
        }
        effects
    }

    /// Expires offsets past `offsets.retention.minutes`, as Kafka's
    /// OffsetMetadataManager.cleanupExpiredOffsets with ClassicGroup.offsetExpirationCondition:
    /// - an empty group: every offset, counting from when the group became empty (from the
    ///   commit when that time is unknown);
    /// - a group without protocol (commits outside group management): every offset, counting
    ///   from its commit;
    /// - a Stable consumer group: the offsets of topics no member subscribes to, counting from
    ///   their commit (nothing when a subscription cannot be read);
    /// - any other group: nothing.
    ///
    /// An explicit expiry (OffsetCommit v2-4 retention) replaces the retention. An empty group
    /// left without offsets is removed.
    pub fn expire_offsets(&mut self, now_ms: i64) -> Effects {
        let retention_ms = self.config.offsets_retention_ms;
        let mut effects = Effects::default();
        for (group_id, group) in &self.groups {
            let Some((base_ms, subscribed)) = expiration_condition(group) else {
                continue;
            };
            let mut expired = 0usize;
            for ((topic, partition), v) in &group.offsets {
                if subscribed.contains(topic) {
                    continue;
                }
                let expires_ms = match v.expire_timestamp_ms {
                    Some(t) => t,
                    None => base_ms
                        .unwrap_or(v.commit_timestamp_ms)
                        .saturating_add(retention_ms),
                };
                if expires_ms <= now_ms {
                    effects
                        .records
                        .push(offset_tombstone(group_id, topic, *partition));
                    expired += 1;
                }
            }
            // Kafka removes every empty group left without offsets, also one that never had
            // any; one whose member id (MEMBER_ID_REQUIRED) is still to be used stays.
            if group.is(GroupState::Empty)
                && expired == group.offsets.len()
                && group.pending_members.is_empty()
            {
                effects.records.push(GroupRecord::Group {
                    group: group_id.clone(),
                    value: None,
                });
            }
        }
        effects
    }
}

/// Whether and how the offsets of `group` expire (ClassicGroup.offsetExpirationCondition): the
/// time retention counts from (None: from each commit) and the topics whose offsets stay; None
/// when no offset of the group expires.
fn expiration_condition(group: &Group) -> Option<(Option<i64>, BTreeSet<String>)> {
    match &group.protocol_type {
        None => Some((None, BTreeSet::new())),
        Some(_) if group.is(GroupState::Empty) => Some((group.state_timestamp_ms, BTreeSet::new())),
        Some(t) if t == CONSUMER_PROTOCOL_TYPE && group.is(GroupState::Stable) => {
            let topics = subscribed_topics(group)?;
            Some((None, topics.into_iter().collect()))
        }
        Some(_) => None,
    }
}

/// A tombstone for one committed offset.
pub(crate) fn offset_tombstone(group_id: &str, topic: &str, partition: i32) -> GroupRecord {
    GroupRecord::Offset {
        key: OffsetKey {
            group: group_id.to_string(),
            topic: topic.to_string(),
            partition,
        },
        value: None,
    }
}

/// Topics the members subscribe to, read from their consumer-protocol metadata for the group's
/// protocol, as Kafka's ClassicGroup.computeSubscribedTopics: every version starts with the v0
/// ConsumerProtocolSubscription (int16 version, an array of int16-length strings, nullable
/// bytes of user data); None when one cannot be read that way.
fn subscribed_topics(group: &Group) -> Option<Vec<String>> {
    let protocol = group.protocol_name.clone()?;
    let mut topics = Vec::new();
    for m in group.members.values() {
        topics.extend(parse_subscription_topics(&m.metadata(&protocol))?);
    }
    Some(topics)
}

fn parse_subscription_topics(buf: &[u8]) -> Option<Vec<String>> {
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Option<&[u8]> {
        let s = buf.get(*pos..pos.checked_add(n)?)?;
        *pos += n;
        Some(s)
    };
    take(&mut pos, 2)?; // version: any is read as v0
    let count = i32::from_be_bytes(take(&mut pos, 4)?.try_into().ok()?);
    let count = usize::try_from(count).ok()?;
    let mut topics = Vec::with_capacity(count.min(buf.len() / 2));
    for _ in 0..count {
        let len = i16::from_be_bytes(take(&mut pos, 2)?.try_into().ok()?);
        let bytes = take(&mut pos, usize::try_from(len).ok()?)?;
        // Java decodes malformed UTF-8 with replacement characters.
        topics.push(String::from_utf8_lossy(bytes).into_owned());
    }
    let user_data_len = i32::from_be_bytes(take(&mut pos, 4)?.try_into().ok()?);
    if let Ok(len) = usize::try_from(user_data_len) {
        take(&mut pos, len)?;
    }
    Some(topics)
}
