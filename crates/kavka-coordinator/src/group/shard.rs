//! One shard of the group coordinator: the groups of one `__consumer_offsets` partition.

use std::collections::HashMap;

use super::api::{JoinResponse, SyncResponse};
use super::classic::{Group, GroupState, Member};
use super::records::{GroupMetadataValue, GroupRecord, MemberMetadata};
use super::GroupConfig;

/// A reply to a request that was waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// To the JoinGroup of `member_id`.
    Join {
        /// Group id.
        group_id: String,
        /// The member whose JoinGroup waits.
        member_id: String,
        /// The answer.
        response: JoinResponse,
    },
    /// To the SyncGroup of `member_id`.
    Sync {
        /// Group id.
        group_id: String,
        /// The member whose SyncGroup waits.
        member_id: String,
        /// The answer.
        response: SyncResponse,
    },
}

/// What an operation asks of the caller: append `records` to the shard's partition, replay
/// them with [`GroupShard::replay`], then deliver `replies`.
pub type Effects = crate::runtime::Effects<GroupRecord, Reply>;

/// The groups of one `__consumer_offsets` partition.
#[derive(Debug)]
pub struct GroupShard {
    /// Settings.
    pub(crate) config: GroupConfig,
    /// Groups by id.
    pub(crate) groups: HashMap<String, Group>,
    /// Makes member ids unique across restarts (chosen at random by the caller).
    member_id_prefix: String,
    /// Counter of member ids handed out.
    member_id_seq: u64,
    /// Offsets committed inside transactions, by producer id, waiting for their marker
    /// (TxnOffsetCommit): invisible to OffsetFetch until a COMMIT marker makes them committed.
    pub(crate) pending_txn: HashMap<i64, Vec<GroupRecord>>,
}

impl GroupShard {
    /// An empty shard. `member_id_prefix` should differ between runs of the broker (a random
    /// token), so member ids never repeat.
    pub fn new(config: GroupConfig, member_id_prefix: String) -> GroupShard {
        GroupShard {
            config,
            groups: HashMap::new(),
            member_id_prefix,
            member_id_seq: 0,
            pending_txn: HashMap::new(),
        }
    }

    /// Changes the settings (dynamic broker config).
    pub fn set_config(&mut self, config: GroupConfig) {
        self.config = config;
    }

    /// A fresh member id: `<client id or instance id>-<prefix>-<n>`, as Kafka's
    /// `<client id>-<uuid>`.
    pub(crate) fn new_member_id(&mut self, base: &str) -> String {
        self.member_id_seq += 1;
        format!("{base}-{}-{}", self.member_id_prefix, self.member_id_seq)
    }

    /// The state of a group, if it exists.
    pub fn group_state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }

    /// Applies one record of the shard's partition: the only way offsets and stored group
    /// metadata change, both live (after the append) and when the partition is loaded.
    pub fn replay(&mut self, record: &GroupRecord, now_ms: i64) {
        match record {
            GroupRecord::Offset { key, value } => match value {
                Some(v) => {
                    let group = self
                        .groups
                        .entry(key.group.clone())
                        .or_insert_with(|| Group::new(now_ms));
                    group
                        .offsets
                        .insert((key.topic.clone(), key.partition), v.clone());
                }
                None => {
                    if let Some(group) = self.groups.get_mut(&key.group) {
                        group.offsets.remove(&(key.topic.clone(), key.partition));
                    }
                }
            },
            GroupRecord::Group { group, value } => match value {
                Some(v) => self.replay_group(group, v, now_ms),
                None => {
                    self.groups.remove(group);
                }
            },
        }
    }

    /// A stored group: generation, protocol, leader, members and assignments. A group with
    /// members is Stable (records with members are written when a rebalance completes), one
    /// without is Empty. Members already in memory keep their session state.
    fn replay_group(&mut self, group_id: &str, v: &GroupMetadataValue, now_ms: i64) {
        let group = self
            .groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(now_ms));
        group.generation_id = v.generation;
        group.protocol_type = (!v.protocol_type.is_empty()).then(|| v.protocol_type.clone());
        group.protocol_name = v.protocol.clone();
        group.leader = v.leader.clone();
        let mut previous = std::mem::take(&mut group.members);
        group.static_members.clear();
        for m in &v.members {
            let member = match previous.remove(&m.member_id) {
                Some(mut known) => {
                    // The record is the truth for everything it stores (the same values live;
                    // newer ones than an earlier record's at load): the member's subscription
                    // for the chosen protocol among them.
                    known.assignment = m.assignment.clone();
                    known.group_instance_id = m.group_instance_id.clone();
                    known.client_id = m.client_id.clone();
                    known.client_host = m.client_host.clone();
                    known.session_timeout_ms = m.session_timeout_ms;
                    known.rebalance_timeout_ms = m.rebalance_timeout_ms;
                    if let Some(protocol) = &v.protocol {
                        match known.protocols.iter_mut().find(|(n, _)| n == protocol) {
                            Some((_, metadata)) => *metadata = m.subscription.clone(),
                            None => known
                                .protocols
                                .push((protocol.clone(), m.subscription.clone())),
                        }
                    }
                    known
                }
                None => Member {
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout_ms,
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    protocols: vec![(
                        v.protocol.clone().unwrap_or_default(),
                        m.subscription.clone(),
                    )],
                    assignment: m.assignment.clone(),
                    awaiting_join: false,
                    awaiting_sync: false,
                    heartbeat_deadline_ms: Some(now_ms + i64::from(m.session_timeout_ms)),
                },
            };
            if let Some(instance) = &member.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            group.members.insert(m.member_id.clone(), member);
        }
        let state = if group.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group.state = state;
        // Without a timestamp (GroupMetadata v0-v1), Kafka expires the offsets of an empty group
        // counting from their commit.
        group.state_timestamp_ms =
            (v.current_state_timestamp_ms >= 0).then_some(v.current_state_timestamp_ms);
        group.join_timer = None;
        // Live, the SyncGroups still awaited of the generation stay awaited (the record of the
        // leader's assignment, or of a static member's new id); when loading, none are.
        let members = &group.members;
        group.pending_sync.retain(|id| members.contains_key(id));
        if group.pending_sync.is_empty() {
            group.sync_deadline_ms = None;
        }
    }

    /// The GroupMetadata record of `group` as it stands, with `assignments` for its members.
    pub(crate) fn group_record(
        group_id: &str,
        group: &Group,
        assignments: &HashMap<String, bytes::Bytes>,
        now_ms: i64,
    ) -> GroupRecord {
        let protocol = group.protocol_name.clone().unwrap_or_default();
        GroupRecord::Group {
            group: group_id.to_string(),
            value: Some(GroupMetadataValue {
                protocol_type: group.protocol_type.clone().unwrap_or_default(),
                generation: group.generation_id,
                protocol: group.protocol_name.clone(),
                leader: group.leader.clone(),
                current_state_timestamp_ms: now_ms,
                members: group
                    .members
                    .iter()
                    .map(|(id, m)| MemberMetadata {
                        member_id: id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        session_timeout_ms: m.session_timeout_ms,
                        subscription: m.metadata(&protocol),
                        assignment: assignments.get(id).cloned().unwrap_or_default(),
                    })
                    .collect(),
            }),
        }
    }

    /// The earliest deadline over all groups: when [`GroupShard::tick`] has work.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.groups
            .values()
            .filter_map(Group::next_deadline_ms)
            .min()
    }

    /// Runs every deadline that has passed: initial-delay and rebalance timeouts, sessions
    /// that ended without a heartbeat, member ids never used, SyncGroups that never came.
    pub fn tick(&mut self, now_ms: i64) -> Effects {
        let mut effects = Effects::default();
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_deadline_ms().is_some_and(|d| d <= now_ms))
            .map(|(id, _)| id.clone())
            .collect();
        for group_id in due {
            effects.extend(self.expire(&group_id, now_ms));
        }
        effects
    }
}

impl crate::runtime::CoordinatorShard for GroupShard {
    type Record = GroupRecord;
    type Reply = Reply;

    fn replay(&mut self, record: &GroupRecord, now_ms: i64) {
        GroupShard::replay(self, record, now_ms)
    }

    fn next_deadline_ms(&self) -> Option<i64> {
        GroupShard::next_deadline_ms(self)
    }

    fn tick(&mut self, now_ms: i64) -> Effects {
        GroupShard::tick(self, now_ms)
    }

    fn replay_in_txn(&mut self, record: &GroupRecord, producer_id: i64, _now_ms: i64) {
        self.replay_pending(record, producer_id)
    }

    fn replay_marker(&mut self, producer_id: i64, commit: bool, now_ms: i64) {
        self.complete_txn(producer_id, commit, now_ms)
    }
}
