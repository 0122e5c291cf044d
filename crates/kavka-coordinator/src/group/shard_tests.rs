//! Scenario tests of the classic group state machine, modelled on Kafka's GroupCoordinatorTest
//! and GroupMetadataManagerTest. A [`Driver`] runs the shard as the broker does: every record of
//! an operation's effects is replayed (and kept, to rebuild a shard from the log later), then the
//! replies go to a mailbox per member. The clock is a number the tests advance.
//!
//! This file holds the [`Driver`] and the request builders; the scenarios are in the child
//! modules, one file each.

use std::collections::HashMap;

use bytes::Bytes;
use kavka_protocol::ErrorCode;

use super::api::{
    HeartbeatRequest, JoinMember, JoinRequest, JoinResponse, LeavingMember, SyncRequest,
    SyncResponse,
};
use super::classic::Group;
use super::records::GroupRecord;
use super::{Effects, GroupConfig, GroupShard, GroupState, JoinOutcome, Reply, SyncOutcome};

#[path = "shard_expiry_tests.rs"]
mod expiry;
#[path = "shard_join_tests.rs"]
mod join;
#[path = "shard_leave_tests.rs"]
mod leave;
#[path = "shard_max_size_tests.rs"]
mod max_size;
#[path = "shard_offsets_tests.rs"]
mod offsets;
#[path = "shard_random_tests.rs"]
mod random;
#[path = "shard_replay_tests.rs"]
mod replay;
#[path = "shard_static_tests.rs"]
mod static_members;
#[path = "shard_sync_tests.rs"]
mod sync;

pub(super) const SESSION_MS: i32 = 10_000;
pub(super) const REBALANCE_MS: i32 = 30_000;
pub(super) const DELAY_MS: i64 = 3_000;

/// The broker's defaults with `initial_rebalance_delay_ms = delay_ms`.
pub(super) fn config(delay_ms: i64) -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: delay_ms,
        ..GroupConfig::default()
    }
}

/// A ConsumerProtocolSubscription v0: version, topics (int16-length strings), null user data.
pub(super) fn subscription(topics: &[&str]) -> Bytes {
    let mut b = Vec::new();
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(topics.len() as i32).to_be_bytes());
    for t in topics {
        b.extend_from_slice(&(t.len() as i16).to_be_bytes());
        b.extend_from_slice(t.as_bytes());
    }
    b.extend_from_slice(&(-1i32).to_be_bytes());
    Bytes::from(b)
}

/// A JoinGroup of a consumer (v5-8: known member id required, no skip assignment) with the
/// "range" protocol subscribed to "t1".
pub(super) fn join_req(group: &str, member: &str) -> JoinRequest {
    JoinRequest {
        group_id: group.into(),
        member_id: member.into(),
        group_instance_id: None,
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), subscription(&["t1"]))],
        client_id: "client".into(),
        client_host: "/10.0.0.1".into(),
        require_known_member_id: true,
        supports_skip_assignment: false,
    }
}

/// A JoinGroup of static member `instance`.
pub(super) fn static_req(group: &str, member: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.into()),
        require_known_member_id: false,
        ..join_req(group, member)
    }
}

/// Protocols named `names`, each with metadata `<name>-meta`.
pub(super) fn protocols(names: &[&str]) -> Vec<(String, Bytes)> {
    names
        .iter()
        .map(|n| (n.to_string(), Bytes::from(format!("{n}-meta"))))
        .collect()
}

/// Runs a shard the way the broker does, with a hand-driven clock.
pub(super) struct Driver {
    pub shard: GroupShard,
    pub now: i64,
    /// Every record the operations emitted, in order (the shard's partition).
    pub log: Vec<GroupRecord>,
    joins: HashMap<String, Vec<JoinResponse>>,
    syncs: HashMap<String, Vec<SyncResponse>>,
}

impl Driver {
    pub fn new(config: GroupConfig) -> Driver {
        Driver {
            shard: GroupShard::new(config, "p".into()),
            now: 1_000_000,
            log: Vec::new(),
            joins: HashMap::new(),
            syncs: HashMap::new(),
        }
    }

    /// Replays the records, then delivers the replies.
    pub fn apply(&mut self, effects: Effects) {
        for r in effects.records {
            self.shard.replay(&r, self.now);
            self.log.push(r);
        }
        for reply in effects.replies {
            match reply {
                Reply::Join {
                    member_id,
                    response,
                    ..
                } => self.joins.entry(member_id).or_default().push(response),
                Reply::Sync {
                    member_id,
                    response,
                    ..
                } => self.syncs.entry(member_id).or_default().push(response),
            }
        }
    }

    /// Moves the clock on by `ms` and runs the deadlines.
    pub fn advance(&mut self, ms: i64) {
        self.now += ms;
        let effects = self.shard.tick(self.now);
        self.apply(effects);
    }

    pub fn join(&mut self, req: JoinRequest) -> JoinOutcome {
        let (outcome, effects) = self.shard.join(self.now, req);
        self.apply(effects);
        outcome
    }

    pub fn join_done(&mut self, req: JoinRequest) -> JoinResponse {
        match self.join(req) {
            JoinOutcome::Done(r) => r,
            JoinOutcome::Pending { member_id } => panic!("JoinGroup of {member_id} waits"),
        }
    }

    pub fn join_pending(&mut self, req: JoinRequest) -> String {
        match self.join(req) {
            JoinOutcome::Pending { member_id } => member_id,
            JoinOutcome::Done(r) => panic!("JoinGroup answered at once: {r:?}"),
        }
    }

    /// A dynamic member's first join: MEMBER_ID_REQUIRED with an id, then the join with it.
    pub fn join_new_with(&mut self, req: JoinRequest) -> String {
        let r = self.join_done(req.clone());
        assert_eq!(r.error, ErrorCode::MEMBER_ID_REQUIRED);
        assert!(!r.member_id.is_empty());
        let id = self.join_pending(JoinRequest {
            member_id: r.member_id.clone(),
            ..req
        });
        assert_eq!(id, r.member_id);
        id
    }

    pub fn join_new(&mut self, group: &str) -> String {
        self.join_new_with(join_req(group, ""))
    }

    /// The one JoinGroup reply `member` got.
    pub fn take_join(&mut self, member: &str) -> JoinResponse {
        let mut v = self
            .joins
            .remove(member)
            .unwrap_or_else(|| panic!("no JoinGroup reply for {member}"));
        assert_eq!(v.len(), 1, "JoinGroup replies for {member}: {v:?}");
        v.remove(0)
    }

    /// The one SyncGroup reply `member` got.
    pub fn take_sync(&mut self, member: &str) -> SyncResponse {
        let mut v = self
            .syncs
            .remove(member)
            .unwrap_or_else(|| panic!("no SyncGroup reply for {member}"));
        assert_eq!(v.len(), 1, "SyncGroup replies for {member}: {v:?}");
        v.remove(0)
    }

    pub fn assert_no_replies(&self) {
        assert!(
            self.joins.is_empty(),
            "unexpected JoinGroup replies: {:?}",
            self.joins
        );
        assert!(
            self.syncs.is_empty(),
            "unexpected SyncGroup replies: {:?}",
            self.syncs
        );
    }

    pub fn sync_req(&self, group: &str, generation: i32, member: &str) -> SyncRequest {
        SyncRequest {
            group_id: group.into(),
            generation_id: generation,
            member_id: member.into(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: None,
            assignments: Vec::new(),
        }
    }

    pub fn sync_with(&mut self, req: SyncRequest) -> SyncOutcome {
        let (outcome, effects) = self.shard.sync(self.now, req);
        self.apply(effects);
        outcome
    }

    /// SyncGroup; `assignments` (member, assignment) for the leader.
    pub fn sync(
        &mut self,
        group: &str,
        gen: i32,
        member: &str,
        assignments: &[(&str, &str)],
    ) -> SyncOutcome {
        let mut req = self.sync_req(group, gen, member);
        req.assignments = assignments
            .iter()
            .map(|(m, a)| (m.to_string(), Bytes::from(a.to_string())))
            .collect();
        self.sync_with(req)
    }

    pub fn sync_done(&mut self, group: &str, gen: i32, member: &str) -> SyncResponse {
        match self.sync(group, gen, member, &[]) {
            SyncOutcome::Done(r) => r,
            SyncOutcome::Pending => panic!("SyncGroup of {member} waits"),
        }
    }

    pub fn heartbeat_as(
        &mut self,
        group: &str,
        gen: i32,
        member: &str,
        instance: Option<&str>,
    ) -> ErrorCode {
        let req = HeartbeatRequest {
            group_id: group.into(),
            generation_id: gen,
            member_id: member.into(),
            group_instance_id: instance.map(Into::into),
        };
        self.shard.heartbeat(self.now, &req)
    }

    pub fn heartbeat(&mut self, group: &str, gen: i32, member: &str) -> ErrorCode {
        self.heartbeat_as(group, gen, member, None)
    }

    pub fn leave(
        &mut self,
        group: &str,
        members: &[(&str, Option<&str>)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let leaving: Vec<LeavingMember> = members
            .iter()
            .map(|(m, i)| LeavingMember {
                member_id: m.to_string(),
                group_instance_id: i.map(Into::into),
            })
            .collect();
        let (result, effects) = self.shard.leave(self.now, group, &leaving);
        self.apply(effects);
        result
    }

    pub fn group(&self, group: &str) -> &Group {
        &self.shard.groups[group]
    }

    pub fn state(&self, group: &str) -> Option<GroupState> {
        self.shard.group_state(group)
    }

    /// Advances by the initial delay until the join phase completes.
    pub fn complete_initial_join(&mut self, group: &str) {
        for _ in 0..20 {
            if self.state(group) != Some(GroupState::PreparingRebalance) {
                return;
            }
            self.advance(DELAY_MS);
        }
        panic!("the initial join of {group} never completed");
    }

    /// Syncs every member of a group in CompletingRebalance (the leader assigns `a-<member>`),
    /// leader first; returns the generation.
    pub fn sync_all(&mut self, group: &str, members: &[String]) -> i32 {
        let g = self.group(group);
        let (gen, leader) = (g.generation_id, g.leader.clone().expect("a leader"));
        let assignments: Vec<(String, String)> = members
            .iter()
            .map(|m| (m.clone(), format!("a-{m}")))
            .collect();
        let refs: Vec<(&str, &str)> = assignments
            .iter()
            .map(|(m, a)| (m.as_str(), a.as_str()))
            .collect();
        assert!(matches!(
            self.sync(group, gen, &leader, &refs),
            SyncOutcome::Pending
        ));
        assert_eq!(
            self.take_sync(&leader).assignment,
            Bytes::from(format!("a-{leader}"))
        );
        assert_eq!(self.state(group), Some(GroupState::Stable));
        for m in members.iter().filter(|m| **m != leader) {
            let r = self.sync_done(group, gen, m);
            assert_eq!(
                (r.error, r.assignment),
                (ErrorCode::NONE, Bytes::from(format!("a-{m}")))
            );
        }
        gen
    }

    /// A Stable group of `n` dynamic members (the first leads); returns them and the generation.
    pub fn stable_group(&mut self, group: &str, n: usize) -> (Vec<String>, i32) {
        let members: Vec<String> = (0..n).map(|_| self.join_new(group)).collect();
        self.complete_initial_join(group);
        for m in &members {
            assert_eq!(self.take_join(m).error, ErrorCode::NONE);
        }
        let gen = self.sync_all(group, &members);
        assert_eq!(
            self.group(group).leader.as_deref(),
            Some(members[0].as_str())
        );
        self.assert_no_replies();
        (members, gen)
    }
}

pub(super) fn ids(members: &[JoinMember]) -> Vec<&str> {
    members.iter().map(|m| m.member_id.as_str()).collect()
}
