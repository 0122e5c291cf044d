//! A classic group: its members, its state and the rebalance in flight.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;

use super::records::OffsetCommitValue;

/// Kafka's states of a classic group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may remain).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assignment delivered; members heartbeat.
    Stable,
    /// Being removed.
    Dead,
}

impl GroupState {
    /// Kafka's name of the state (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A member of a classic group.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Session timeout asked for at join.
    pub session_timeout_ms: i32,
    /// Rebalance timeout asked for at join.
    pub rebalance_timeout_ms: i32,
    /// Supported protocols (name, metadata), most preferred first.
    pub protocols: Vec<(String, Bytes)>,
    /// Assignment of the current generation.
    pub assignment: Bytes,
    /// A JoinGroup of this member waits for the rebalance to complete.
    pub awaiting_join: bool,
    /// A SyncGroup of this member waits for the leader's assignment.
    pub awaiting_sync: bool,
    /// When the session ends without a heartbeat (None while a JoinGroup or SyncGroup waits).
    pub heartbeat_deadline_ms: Option<i64>,
}

impl Member {
    /// The member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether the member's protocols equal `protocols`.
    pub fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

/// The rebalance timer of a group in PreparingRebalance.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JoinTimer {
    /// First rebalance of an empty group: waits `initial_rebalance_delay_ms` and, while new
    /// members keep arriving, again, until the rebalance timeout is used up (Kafka's
    /// InitialDelayedJoin).
    Initial {
        /// When the current delay ends.
        deadline_ms: i64,
        /// Rebalance time left after this delay.
        remaining_ms: i64,
    },
    /// Completes when every member has rejoined, or at the deadline without the others.
    Regular {
        /// Rebalance timeout.
        deadline_ms: i64,
    },
}

/// A classic group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    /// State.
    pub state: GroupState,
    /// Generation id (incremented when a join phase completes).
    pub generation_id: i32,
    /// Protocol type of the members ("consumer"); None for a group that only stores offsets.
    pub protocol_type: Option<String>,
    /// Protocol chosen for the generation.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader: Option<String>,
    /// Members by id (ordered, for deterministic answers).
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out by MEMBER_ID_REQUIRED, not yet joined, with their deadline.
    pub pending_members: HashMap<String, i64>,
    /// Static instance id to member id.
    pub static_members: HashMap<String, String>,
    /// A member joined while the initial delay ran (extends it).
    pub new_member_added: bool,
    /// Rebalance timer while PreparingRebalance.
    pub join_timer: Option<JoinTimer>,
    /// Members of the current generation that have not sent SyncGroup yet (Kafka's
    /// pendingSyncMembers): filled when the join phase completes, emptied by a new rebalance.
    pub pending_sync: BTreeSet<String>,
    /// While some member is in `pending_sync` (CompletingRebalance, or Stable once the leader
    /// has synced): when those still in it are removed and the group rebalances (Kafka's
    /// pending-sync timer, the rebalance timeout after the join phase completed).
    pub sync_deadline_ms: Option<i64>,
    /// When the state last changed (Kafka's currentStateTimestamp; offsets of an empty group
    /// expire counting from it). None for a group loaded from a record without it (GroupMetadata
    /// v0-v1), until its next transition.
    pub state_timestamp_ms: Option<i64>,
    /// Committed offsets by (topic, partition).
    pub offsets: BTreeMap<(String, i32), OffsetCommitValue>,
}

impl Group {
    /// A new empty group.
    pub fn new(now_ms: i64) -> Group {
        Group {
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            new_member_added: false,
            join_timer: None,
            pending_sync: BTreeSet::new(),
            sync_deadline_ms: None,
            state_timestamp_ms: Some(now_ms),
            offsets: BTreeMap::new(),
        }
    }

    /// Moves to `state`.
    pub fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_timestamp_ms = Some(now_ms);
    }

    /// A member sent SyncGroup for the current generation: once every member has, the
    /// pending-sync deadline is dropped (Kafka's removePendingSyncMember).
    pub fn mark_synced(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline_ms = None;
        }
    }

    /// Forgets the SyncGroups awaited of this generation (a rebalance starts).
    pub fn clear_pending_sync(&mut self) {
        self.pending_sync.clear();
        self.sync_deadline_ms = None;
    }

    /// Members waiting for the end of the join phase (Kafka's numAwaitingJoinResponse).
    pub fn awaiting_join_count(&self) -> usize {
        self.members.values().filter(|m| m.awaiting_join).count()
    }

    /// Whether JoinGroup of `member_id` fits under `group.max.size` (Kafka's
    /// acceptJoiningMember): an empty group takes anyone (member ids handed out by
    /// MEMBER_ID_REQUIRED do not count); while preparing a rebalance, a member already rejoined
    /// is kept and others fit while fewer than `size_max` have rejoined; otherwise a member is
    /// kept and others fit while there are fewer than `size_max` members.
    pub fn accepts_joining(&self, member_id: &str, size_max: usize) -> bool {
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.members.get(member_id).is_some_and(|m| m.awaiting_join)
                    || self.awaiting_join_count() < size_max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < size_max
            }
        }
    }

    /// Whether the group is in one of `states`.
    pub fn is(&self, state: GroupState) -> bool {
        self.state == state
    }

    /// Protocols every member supports.
    fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return Vec::new();
        };
        let mut candidates: Vec<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            candidates.retain(|c| m.protocols.iter().any(|(n, _)| n == c));
        }
        candidates
    }

    /// Whether a member of `protocol_type` supporting `protocols` may join.
    pub fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if protocol_type.is_empty() || protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && self
                .candidate_protocols()
                .iter()
                .any(|c| protocols.iter().any(|(n, _)| n == c))
    }

    /// The protocol for the next generation: each member votes for its most preferred protocol
    /// among those all support; the most votes win (ties: the earliest-listed candidate).
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes = vec![0usize; candidates.len()];
        for m in self.members.values() {
            if let Some(i) = m
                .protocols
                .iter()
                .find_map(|(n, _)| candidates.iter().position(|c| c == n))
            {
                votes[i] += 1;
            }
        }
        let best = votes.iter().copied().max()?;
        candidates
            .into_iter()
            .zip(votes)
            .find(|&(_, v)| v == best)
            .map(|(c, _)| c)
    }

    /// The longest rebalance timeout of the members.
    pub fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    /// Whether every member has rejoined and no member id handed out is still to join.
    pub fn all_members_joined(&self) -> bool {
        self.members.values().all(|m| m.awaiting_join) && self.pending_members.is_empty()
    }

    /// Whether `instance_id` belongs to a static member with another member id.
    pub fn is_static_member_fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        match instance_id.and_then(|i| self.static_members.get(i)) {
            Some(known) => known != member_id,
            None => false,
        }
    }

    /// Adds a member; the first member leads.
    pub fn add_member(&mut self, member_id: String, member: Member) {
        if self.leader.is_none() {
            self.leader = Some(member_id.clone());
        }
        if let Some(instance) = &member.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        self.members.insert(member_id, member);
    }

    /// Removes a member; a new leader is picked when it led.
    pub fn remove_member(&mut self, member_id: &str) -> Option<Member> {
        let member = self.members.remove(member_id)?;
        if self.pending_sync.contains(member_id) {
            self.mark_synced(member_id);
        }
        if let Some(instance) = &member.group_instance_id {
            if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                self.static_members.remove(instance);
            }
        }
        if self.leader.as_deref() == Some(member_id) {
            // Prefer a member that has already rejoined, as Kafka does.
            self.leader = self
                .members
                .iter()
                .find(|(_, m)| m.awaiting_join)
                .or_else(|| self.members.iter().next())
                .map(|(id, _)| id.clone());
        }
        Some(member)
    }

    /// The earliest deadline of the group, if any.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        let join = self.join_timer.map(|t| match t {
            JoinTimer::Initial { deadline_ms, .. } | JoinTimer::Regular { deadline_ms } => {
                deadline_ms
            }
        });
        self.members
            .values()
            .filter_map(|m| m.heartbeat_deadline_ms)
            .chain(self.pending_members.values().copied())
            .chain(join)
            .chain(self.sync_deadline_ms)
            .min()
    }
}
