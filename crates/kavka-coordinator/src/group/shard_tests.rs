//! Scenario tests of the classic group state machine, modelled on Kafka's GroupCoordinatorTest
//! and GroupMetadataManagerTest. A [`Driver`] runs the shard as the broker does: every record of
//! an operation's effects is replayed (and kept, to rebuild a shard from the log later), then the
//! replies go to a mailbox per member. The clock is a number the tests advance.

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

#[path = "shard_offsets_tests.rs"]
mod offsets;

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

fn ids(members: &[JoinMember]) -> Vec<&str> {
    members.iter().map(|m| m.member_id.as_str()).collect()
}

#[test]
fn first_join_requires_member_id_then_completes_after_initial_delay() {
    let mut d = Driver::new(config(DELAY_MS));
    let r = d.join_done(join_req("g", ""));
    assert_eq!(
        (r.error, r.generation_id),
        (ErrorCode::MEMBER_ID_REQUIRED, -1)
    );
    assert!(r.member_id.starts_with("client-"), "{}", r.member_id);
    assert!(d.group("g").members.is_empty());
    assert!(d.group("g").pending_members.contains_key(&r.member_id));
    assert_eq!(d.state("g"), Some(GroupState::Empty));

    let a = d.join_pending(join_req("g", &r.member_id));
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert!(d.group("g").pending_members.is_empty());
    d.advance(1_000);
    // A second member joins during the delay: its protocols list roundrobin first.
    let b = d.join_new_with(JoinRequest {
        protocols: vec![
            ("roundrobin".into(), Bytes::from_static(b"rr")),
            ("range".into(), subscription(&["t2"])),
        ],
        ..join_req("g", "")
    });
    d.advance(DELAY_MS - 1_000 - 1);
    d.assert_no_replies();
    // The delay ends with a new member: it is extended once more.
    d.advance(1);
    d.assert_no_replies();
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    d.advance(DELAY_MS);

    let ra = d.take_join(&a);
    let rb = d.take_join(&b);
    for r in [&ra, &rb] {
        assert_eq!(r.error, ErrorCode::NONE);
        assert_eq!(r.generation_id, 1);
        assert_eq!(r.leader, a);
        assert_eq!(r.protocol_type.as_deref(), Some("consumer"));
        assert_eq!(r.protocol_name.as_deref(), Some("range"));
        assert!(!r.skip_assignment);
    }
    assert_eq!(
        (ra.member_id.as_str(), rb.member_id.as_str()),
        (a.as_str(), b.as_str())
    );
    let mut expected = vec![
        JoinMember {
            member_id: a.clone(),
            group_instance_id: None,
            metadata: subscription(&["t1"]),
        },
        JoinMember {
            member_id: b.clone(),
            group_instance_id: None,
            metadata: subscription(&["t2"]),
        },
    ];
    expected.sort_by(|x, y| x.member_id.cmp(&y.member_id));
    assert_eq!(ra.members, expected);
    assert!(rb.members.is_empty());
    assert_eq!(d.state("g"), Some(GroupState::CompletingRebalance));
    assert_eq!(d.group("g").generation_id, 1);
    assert!(d.log.is_empty(), "no record before the leader's SyncGroup");
}

#[test]
fn a_lone_member_waits_exactly_the_initial_delay() {
    let mut d = Driver::new(config(DELAY_MS));
    let a = d.join_new("g");
    d.advance(DELAY_MS - 1);
    d.assert_no_replies();
    d.advance(1);
    let r = d.take_join(&a);
    assert_eq!(
        (r.error, r.generation_id, r.leader.as_str()),
        (ErrorCode::NONE, 1, a.as_str())
    );
    assert_eq!(d.state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn initial_delay_is_extended_only_up_to_the_rebalance_timeout() {
    let mut d = Driver::new(config(DELAY_MS));
    let req = |m: &str| JoinRequest {
        rebalance_timeout_ms: 5_000,
        ..join_req("g", m)
    };
    let t0 = d.now;
    let a = d.join_new_with(req(""));
    d.advance(1_000);
    let b = d.join_new_with(req(""));
    d.advance(2_000); // t0 + 3000: extended by min(3000, 2000 left)
    let c = d.join_new_with(req(""));
    d.advance(1_999);
    d.assert_no_replies();
    d.advance(1); // t0 + 5000: the rebalance timeout is used up, despite the new member
    assert_eq!(d.now - t0, 5_000);
    for m in [&a, &b, &c] {
        assert_eq!(d.take_join(m).generation_id, 1);
    }
    assert_eq!(d.group("g").members.len(), 3);
}

#[test]
fn without_initial_delay_the_join_completes_at_once() {
    let mut d = Driver::new(config(0));
    let a = d.join_new("g");
    let r = d.take_join(&a);
    assert_eq!(
        (r.error, r.generation_id, r.leader.as_str()),
        (ErrorCode::NONE, 1, a.as_str())
    );
    assert_eq!(ids(&r.members), vec![a.as_str()]);
    assert_eq!(d.state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn leader_sync_stabilizes_the_group_and_answers_followers() {
    let mut d = Driver::new(config(DELAY_MS));
    let members: Vec<String> = (0..3).map(|_| d.join_new("g")).collect();
    d.complete_initial_join("g");
    for m in &members {
        d.take_join(m);
    }
    let (l, f1, f2) = (&members[0], &members[1], &members[2]);
    // A follower before the leader waits.
    assert!(matches!(d.sync("g", 1, f1, &[]), SyncOutcome::Pending));
    d.assert_no_replies();
    // Wrong generation, unknown member, other protocol.
    assert_eq!(d.sync_done("g", 2, f2).error, ErrorCode::ILLEGAL_GENERATION);
    assert_eq!(
        d.sync_done("g", 1, "nobody").error,
        ErrorCode::UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        d.sync_done("nogroup", 1, f2).error,
        ErrorCode::UNKNOWN_MEMBER_ID
    );
    assert_eq!(d.sync_done("", 1, f2).error, ErrorCode::INVALID_GROUP_ID);
    let mut wrong = d.sync_req("g", 1, f2);
    wrong.protocol_name = Some("roundrobin".into());
    assert!(
        matches!(d.sync_with(wrong), SyncOutcome::Done(r) if r.error == ErrorCode::INCONSISTENT_GROUP_PROTOCOL)
    );

    let outcome = d.sync(
        "g",
        1,
        l,
        &[
            (l.as_str(), "al"),
            (f1.as_str(), "a1"),
            (f2.as_str(), "a2"),
            ("stranger", "x"),
        ],
    );
    assert!(matches!(outcome, SyncOutcome::Pending));
    assert_eq!(d.log.len(), 1);
    let GroupRecord::Group {
        group,
        value: Some(v),
    } = &d.log[0]
    else {
        panic!("{:?}", d.log)
    };
    assert_eq!(
        (group.as_str(), v.generation, v.leader.as_deref()),
        ("g", 1, Some(l.as_str()))
    );
    assert_eq!(v.protocol.as_deref(), Some("range"));
    let mut stored: Vec<(&str, &[u8])> = v
        .members
        .iter()
        .map(|m| (m.member_id.as_str(), &m.assignment[..]))
        .collect();
    stored.sort();
    let mut expected: Vec<(&str, &[u8])> = vec![
        (l.as_str(), b"al"),
        (f1.as_str(), b"a1"),
        (f2.as_str(), b"a2"),
    ];
    expected.sort();
    assert_eq!(stored, expected);
    assert_eq!(d.state("g"), Some(GroupState::Stable));
    let rl = d.take_sync(l);
    assert_eq!(
        (rl.error, &rl.assignment[..]),
        (ErrorCode::NONE, &b"al"[..])
    );
    assert_eq!(rl.protocol_name.as_deref(), Some("range"));
    assert_eq!(&d.take_sync(f1).assignment[..], b"a1");
    // A follower after the leader gets its assignment at once.
    let r2 = d.sync_done("g", 1, f2);
    assert_eq!(
        (r2.error, &r2.assignment[..]),
        (ErrorCode::NONE, &b"a2"[..])
    );
    d.assert_no_replies();
    let desc = d.shard.describe("g").unwrap();
    assert_eq!(
        (desc.state, desc.protocol_name.as_str()),
        ("Stable", "range")
    );
    assert!(desc
        .members
        .iter()
        .all(|m| m.metadata == subscription(&["t1"])));
}

#[test]
fn protocol_selection_and_inconsistent_protocols() {
    let mut d = Driver::new(config(DELAY_MS));
    let with = |p: &[&str]| JoinRequest {
        protocols: protocols(p),
        ..join_req("g", "")
    };
    let a = d.join_new_with(with(&["range", "roundrobin"]));
    let b = d.join_new_with(with(&["roundrobin", "range"]));
    let c = d.join_new_with(with(&["roundrobin", "range", "sticky"]));
    // Nothing in common with the members, or another protocol type: rejected.
    for req in [
        with(&["sticky"]),
        JoinRequest {
            protocol_type: "connect".into(),
            ..with(&["range"])
        },
        JoinRequest {
            protocols: Vec::new(),
            ..with(&["range"])
        },
    ] {
        let r = d.join_done(req);
        assert_eq!(r.error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
    }
    // A known member switching to an unsupported protocol is rejected too.
    let r = d.join_done(JoinRequest {
        member_id: a.clone(),
        ..with(&["sticky"])
    });
    assert_eq!(r.error, ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
    d.complete_initial_join("g");
    // Two votes for roundrobin (b, c) against one for range (a).
    for m in [&a, &b, &c] {
        let r = d.take_join(m);
        assert_eq!(r.protocol_name.as_deref(), Some("roundrobin"));
    }
    assert_eq!(d.group("g").leader.as_deref(), Some(a.as_str()));
    let r = d.join_done(JoinRequest {
        member_id: a.clone(),
        ..with(&["range", "roundrobin"])
    });
    // The leader's lost JoinGroup response is answered again, with the members' roundrobin metadata.
    assert_eq!(r.members.len(), 3);
    assert!(r
        .members
        .iter()
        .all(|m| m.metadata == Bytes::from_static(b"roundrobin-meta")));

    // An empty group accepts any protocol type.
    let mut d = Driver::new(config(0));
    let r = d.join_done(JoinRequest {
        protocol_type: "connect".into(),
        ..join_req("h", "")
    });
    assert_eq!(r.error, ErrorCode::MEMBER_ID_REQUIRED);
}

#[test]
fn heartbeat_errors_follow_the_group_state() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, gen) = d.stable_group("g", 2);
    let (l, f) = (&m[0], &m[1]);
    assert_eq!(d.heartbeat("g", gen, l), ErrorCode::NONE);
    assert_eq!(d.heartbeat("g", gen + 1, f), ErrorCode::ILLEGAL_GENERATION);
    assert_eq!(
        d.heartbeat("g", gen, "nobody"),
        ErrorCode::UNKNOWN_MEMBER_ID
    );
    assert_eq!(d.heartbeat("nogroup", gen, l), ErrorCode::UNKNOWN_MEMBER_ID);
    assert_eq!(d.heartbeat("", gen, l), ErrorCode::INVALID_GROUP_ID);
    // The leader rejoining a Stable group starts a rebalance.
    d.join_pending(join_req("g", l));
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(d.heartbeat("g", gen, f), ErrorCode::REBALANCE_IN_PROGRESS);
    assert_eq!(
        d.sync_done("g", gen, f).error,
        ErrorCode::REBALANCE_IN_PROGRESS
    );
    d.join_pending(join_req("g", f));
    assert_eq!(d.take_join(l).generation_id, gen + 1);
    assert_eq!(d.take_join(f).generation_id, gen + 1);
    assert_eq!(
        d.heartbeat("g", gen + 1, f),
        ErrorCode::NONE,
        "CompletingRebalance"
    );
    assert_eq!(d.heartbeat("g", gen, f), ErrorCode::ILLEGAL_GENERATION);
}

#[test]
fn session_expiry_removes_the_silent_member_and_the_rest_rejoins() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, gen) = d.stable_group("g", 2);
    let (l, f) = (&m[0], &m[1]);
    for _ in 0..3 {
        d.advance(3_000);
        assert_eq!(d.heartbeat("g", gen, l), ErrorCode::NONE);
    }
    d.advance(999);
    assert!(d.group("g").members.contains_key(f));
    assert_eq!(d.state("g"), Some(GroupState::Stable));
    d.advance(1); // the follower's session (10 s since its SyncGroup) ends
    assert!(!d.group("g").members.contains_key(f));
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(d.heartbeat("g", gen, l), ErrorCode::REBALANCE_IN_PROGRESS);
    assert_eq!(d.heartbeat("g", gen, f), ErrorCode::UNKNOWN_MEMBER_ID);
    // The leader is the only member left: its rejoin completes the join phase at once.
    d.join_pending(join_req("g", l));
    let r = d.take_join(l);
    assert_eq!((r.generation_id, r.leader.as_str()), (gen + 1, l.as_str()));
    assert_eq!(ids(&r.members), vec![l.as_str()]);
    assert_eq!(d.state("g"), Some(GroupState::CompletingRebalance));
}

#[test]
fn rebalance_timeout_removes_members_that_never_rejoin() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, gen) = d.stable_group("g", 2);
    let (l, f) = (&m[0], &m[1]);
    let start = d.now;
    d.join_pending(join_req("g", l));
    // The follower heartbeats but never rejoins; the leader waits without heartbeats, longer
    // than its session: members awaiting a JoinGroup do not expire.
    while d.now < start + i64::from(REBALANCE_MS) - 3_000 {
        d.advance(3_000);
        assert_eq!(d.heartbeat("g", gen, f), ErrorCode::REBALANCE_IN_PROGRESS);
    }
    d.advance(start + i64::from(REBALANCE_MS) - 1 - d.now);
    d.assert_no_replies();
    assert_eq!(d.group("g").members.len(), 2);
    d.advance(1);
    let r = d.take_join(l);
    assert_eq!((r.error, r.generation_id), (ErrorCode::NONE, gen + 1));
    assert_eq!(ids(&r.members), vec![l.as_str()]);
    assert_eq!(d.heartbeat("g", gen, f), ErrorCode::UNKNOWN_MEMBER_ID);
    d.assert_no_replies();
}

#[test]
fn leave_group_rebalances_and_the_last_leave_empties_the_group() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, gen) = d.stable_group("g", 3);
    let (a, b, c) = (&m[0], &m[1], &m[2]);
    assert_eq!(
        d.leave("g", &[(b.as_str(), None), ("nobody", None)]),
        Ok(vec![ErrorCode::NONE, ErrorCode::UNKNOWN_MEMBER_ID])
    );
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        d.leave("nogroup", &[(a.as_str(), None)]),
        Ok(vec![ErrorCode::UNKNOWN_MEMBER_ID])
    );
    assert_eq!(
        d.leave("", &[(a.as_str(), None)]),
        Err(ErrorCode::INVALID_GROUP_ID)
    );
    d.join_pending(join_req("g", a));
    d.assert_no_replies();
    d.join_pending(join_req("g", c)); // every remaining member has rejoined
    for x in [a, c] {
        let r = d.take_join(x);
        assert_eq!((r.generation_id, r.leader.as_str()), (gen + 1, a.as_str()));
    }
    let gen = d.sync_all("g", &[a.clone(), c.clone()]);
    // A member leaving while its JoinGroup waits gets UNKNOWN_MEMBER_ID on it.
    d.join_pending(join_req("g", a));
    assert_eq!(
        d.leave("g", &[(a.as_str(), None)]),
        Ok(vec![ErrorCode::NONE])
    );
    assert_eq!(d.take_join(a).error, ErrorCode::UNKNOWN_MEMBER_ID);
    let records = d.log.len();
    assert_eq!(
        d.leave("g", &[(c.as_str(), None)]),
        Ok(vec![ErrorCode::NONE])
    );
    assert_eq!(d.state("g"), Some(GroupState::Empty));
    assert_eq!(d.log.len(), records + 1);
    let GroupRecord::Group { value: Some(v), .. } = d.log.last().unwrap() else {
        panic!()
    };
    assert!(v.members.is_empty());
    assert_eq!(
        (v.generation, v.leader.as_deref(), v.protocol_type.as_str()),
        (gen + 1, None, "consumer")
    );
    assert_eq!(d.group("g").generation_id, gen + 1);
    d.assert_no_replies();
}

#[test]
fn leave_by_group_instance_id() {
    let mut d = Driver::new(config(DELAY_MS));
    let s = d.join_pending(static_req("g", "", "i1"));
    let dy = d.join_new("g");
    d.complete_initial_join("g");
    d.take_join(&s);
    d.take_join(&dy);
    assert_eq!(
        d.leave("g", &[("", Some("nope"))]),
        Ok(vec![ErrorCode::UNKNOWN_MEMBER_ID])
    );
    assert_eq!(
        d.leave("g", &[("other-id", Some("i1"))]),
        Ok(vec![ErrorCode::FENCED_INSTANCE_ID])
    );
    assert!(d.group("g").members.contains_key(&s));
    assert_eq!(d.leave("g", &[("", Some("i1"))]), Ok(vec![ErrorCode::NONE]));
    assert!(!d.group("g").members.contains_key(&s));
    assert!(d.group("g").static_members.is_empty());
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(d.group("g").leader.as_deref(), Some(dy.as_str()));
}

#[test]
fn leader_that_never_syncs_is_removed_and_waiting_followers_rejoin() {
    let mut d = Driver::new(config(DELAY_MS));
    let members: Vec<String> = (0..3).map(|_| d.join_new("g")).collect();
    d.complete_initial_join("g");
    for m in &members {
        d.take_join(m);
    }
    let (l, f1, f2) = (&members[0], &members[1], &members[2]);
    let start = d.now;
    d.advance(1_000);
    assert!(matches!(d.sync("g", 1, f1, &[]), SyncOutcome::Pending));
    assert!(matches!(d.sync("g", 1, f2, &[]), SyncOutcome::Pending));
    // The leader heartbeats while it "computes" the assignment; the followers block in
    // SyncGroup, longer than their session: waiting for the assignment keeps them alive.
    while d.now + 3_000 < start + i64::from(REBALANCE_MS) {
        d.advance(3_000);
        assert_eq!(d.heartbeat("g", 1, l), ErrorCode::NONE);
        d.assert_no_replies();
    }
    assert_eq!(d.group("g").members.len(), 3);
    d.advance(start + i64::from(REBALANCE_MS) - d.now);
    assert!(!d.group("g").members.contains_key(l));
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(d.take_sync(f1).error, ErrorCode::REBALANCE_IN_PROGRESS);
    assert_eq!(d.take_sync(f2).error, ErrorCode::REBALANCE_IN_PROGRESS);
    assert_eq!(d.heartbeat("g", 1, l), ErrorCode::UNKNOWN_MEMBER_ID);
    d.join_pending(join_req("g", f1));
    d.join_pending(join_req("g", f2));
    let r1 = d.take_join(f1);
    assert_eq!(d.take_join(f2).generation_id, 2);
    assert_eq!(
        (r1.generation_id, r1.members.len()),
        (2, if r1.leader == *f1 { 2 } else { 0 })
    );
    assert!(r1.leader == *f1 || r1.leader == *f2);
    // The followers' sessions run again once they are answered.
    d.advance(i64::from(SESSION_MS));
    assert_eq!(d.state("g"), Some(GroupState::Empty), "both sessions ended");
}

#[test]
fn static_follower_restart_takes_a_new_id_without_rebalance() {
    let mut d = Driver::new(config(DELAY_MS));
    let l = d.join_pending(static_req("g", "", "i-l"));
    let f = d.join_pending(static_req("g", "", "i-f"));
    assert!(l.starts_with("i-l-") && f.starts_with("i-f-"), "{l} {f}");
    d.complete_initial_join("g");
    d.take_join(&l);
    d.take_join(&f);
    let gen = d.sync_all("g", &[l.clone(), f.clone()]);
    let records = d.log.len();

    let r = d.join_done(static_req("g", "", "i-f"));
    assert_eq!(
        (
            r.error,
            r.generation_id,
            r.leader.as_str(),
            r.skip_assignment
        ),
        (ErrorCode::NONE, gen, l.as_str(), false)
    );
    let f2 = r.member_id.clone();
    assert_ne!(f2, f);
    assert!(r.members.is_empty());
    assert_eq!(d.state("g"), Some(GroupState::Stable));
    assert_eq!(d.log.len(), records + 1, "the new member id is stored");
    let GroupRecord::Group { value: Some(v), .. } = d.log.last().unwrap() else {
        panic!()
    };
    assert!(v
        .members
        .iter()
        .any(|m| m.member_id == f2 && &m.assignment[..] == format!("a-{f}").as_bytes()));
    assert!(!v.members.iter().any(|m| m.member_id == f));
    // The new id gets the old assignment; the old id is fenced.
    let s = d.sync_done("g", gen, &f2);
    assert_eq!(
        (s.error, s.assignment),
        (ErrorCode::NONE, Bytes::from(format!("a-{f}")))
    );
    assert_eq!(
        d.heartbeat_as("g", gen, &f, Some("i-f")),
        ErrorCode::FENCED_INSTANCE_ID
    );
    assert_eq!(d.heartbeat_as("g", gen, &f2, Some("i-f")), ErrorCode::NONE);
    assert_eq!(
        d.join_done(static_req("g", &f, "i-f")).error,
        ErrorCode::FENCED_INSTANCE_ID
    );
    assert_eq!(d.group("g").static_members["i-f"], f2);
    assert_eq!(d.group("g").generation_id, gen);
    d.assert_no_replies();
}

#[test]
fn static_leader_restart_keeps_the_generation() {
    for skip in [true, false] {
        let mut d = Driver::new(config(DELAY_MS));
        let l = d.join_pending(static_req("g", "", "i-l"));
        let f = d.join_pending(static_req("g", "", "i-f"));
        d.complete_initial_join("g");
        d.take_join(&l);
        d.take_join(&f);
        let gen = d.sync_all("g", &[l.clone(), f.clone()]);
        let r = d.join_done(JoinRequest {
            supports_skip_assignment: skip,
            ..static_req("g", "", "i-l")
        });
        let l2 = r.member_id.clone();
        assert_ne!(l2, l);
        assert_eq!(
            (r.error, r.generation_id, r.skip_assignment),
            (ErrorCode::NONE, gen, skip)
        );
        assert_eq!(
            d.state("g"),
            Some(GroupState::Stable),
            "skip={skip}: no rebalance"
        );
        if skip {
            // v9+: told it leads, with the members, and that it keeps the assignment.
            assert_eq!(r.leader, l2);
            assert_eq!(r.members.len(), 2);
        } else {
            // Older clients are given the old leader id, so they act as followers (Kafka).
            assert_eq!(r.leader, l);
            assert!(r.members.is_empty());
        }
        assert_eq!(d.group("g").leader.as_deref(), Some(l2.as_str()));
        let s = d.sync_done("g", gen, &l2);
        assert_eq!(s.assignment, Bytes::from(format!("a-{l}")));
        assert_eq!(
            d.heartbeat_as("g", gen, &l, Some("i-l")),
            ErrorCode::FENCED_INSTANCE_ID
        );
    }
}

#[test]
fn static_member_that_does_not_rejoin_stays_in_the_next_generation() {
    let mut d = Driver::new(config(DELAY_MS));
    let l = d.join_pending(static_req("g", "", "i-l"));
    let f = d.join_pending(static_req("g", "", "i-f"));
    d.complete_initial_join("g");
    d.take_join(&l);
    d.take_join(&f);
    let gen = d.sync_all("g", &[l.clone(), f.clone()]);
    d.join_pending(static_req("g", &l, "i-l"));
    for _ in 0..9 {
        d.advance(3_000);
        assert_eq!(
            d.heartbeat_as("g", gen, &f, Some("i-f")),
            ErrorCode::REBALANCE_IN_PROGRESS
        );
    }
    d.assert_no_replies();
    d.advance(3_000);
    // At the rebalance timeout the static follower is kept (Kafka removes dynamic members only).
    let r = d.take_join(&l);
    assert_eq!((r.generation_id, r.leader.as_str()), (gen + 1, l.as_str()));
    assert_eq!(r.members.len(), 2);
    d.assert_no_replies();
    assert_eq!(
        d.heartbeat_as("g", gen, &f, Some("i-f")),
        ErrorCode::ILLEGAL_GENERATION
    );
    let rf = d.join_done(static_req("g", &f, "i-f"));
    assert_eq!((rf.error, rf.generation_id), (ErrorCode::NONE, gen + 1));

    // A static member that never rejoins, alone: the rebalance waits another timeout.
    d.sync_all("g", &[l.clone(), f.clone()]);
    assert_eq!(
        d.leave("g", &[("", Some("i-l"))]),
        Ok(vec![ErrorCode::NONE])
    );
    for _ in 0..15 {
        d.advance(3_000);
        assert_eq!(
            d.heartbeat_as("g", gen + 1, &f, Some("i-f")),
            ErrorCode::REBALANCE_IN_PROGRESS
        );
    }
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert!(d.group("g").members.contains_key(&f));
    d.join_pending(static_req("g", &f, "i-f"));
    let r = d.take_join(&f);
    assert_eq!((r.generation_id, r.leader.as_str()), (gen + 2, f.as_str()));
}

#[test]
fn flood_of_unknown_joins_never_makes_members() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, gen) = d.stable_group("other", 2);
    let mut handed = std::collections::HashSet::new();
    for i in 0..1000 {
        let r = d.join_done(JoinRequest {
            client_id: format!("bot{i}"),
            ..join_req("flood", "")
        });
        assert_eq!(r.error, ErrorCode::MEMBER_ID_REQUIRED);
        assert!(handed.insert(r.member_id));
    }
    assert!(d.group("flood").members.is_empty());
    assert_eq!(d.group("flood").pending_members.len(), 1000);
    assert_eq!(d.state("flood"), Some(GroupState::Empty));
    assert!(d.shard.describe("flood").unwrap().members.is_empty());
    for _ in 0..4 {
        d.advance(i64::from(SESSION_MS) / 4);
        for x in &m {
            assert_eq!(d.heartbeat("other", gen, x), ErrorCode::NONE);
        }
    }
    assert!(d.group("flood").pending_members.is_empty());
    assert_eq!(d.group("flood").next_deadline_ms(), None);
    let id = handed.iter().next().unwrap();
    assert_eq!(
        d.join_done(join_req("flood", id)).error,
        ErrorCode::UNKNOWN_MEMBER_ID
    );
    assert_eq!(d.state("other"), Some(GroupState::Stable));
    assert_eq!(d.group("other").generation_id, gen);
    assert_eq!(d.group("other").members.len(), 2);
    d.assert_no_replies();
    assert!(d.log.iter().all(|r| r.group() == "other"));
    // With no offsets and nobody waiting, the cleanup removes the group.
    let effects = d.shard.expire_offsets(d.now);
    d.apply(effects);
    assert_eq!(d.state("flood"), None);
    assert_eq!(d.state("other"), Some(GroupState::Stable));
}

mod random {
    //! Random sequences of joins, syncs, heartbeats, leaves, restarts and clock moves by five
    //! clients (three dynamic, two static) that behave as consumers do; invariants are checked
    //! after every step, and at the end the log must rebuild the group.

    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    const GROUP: &str = "g";
    const CLIENTS: usize = 5;

    #[derive(Debug, Clone)]
    enum Op {
        Join { client: usize, v9: bool, alt: bool },
        Sync { client: usize },
        Heartbeat { client: usize },
        Leave { client: usize },
        Restart { client: usize },
        Advance { ms: i64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..CLIENTS, any::<bool>(), prop::bool::weighted(0.2))
                .prop_map(|(client, v9, alt)| Op::Join { client, v9, alt }),
            3 => (0..CLIENTS).prop_map(|client| Op::Sync { client }),
            3 => (0..CLIENTS).prop_map(|client| Op::Heartbeat { client }),
            1 => (0..CLIENTS).prop_map(|client| Op::Leave { client }),
            1 => (0..CLIENTS).prop_map(|client| Op::Restart { client }),
            3 => prop::sample::select(vec![0i64, 500, 2_000, 3_000, 3_000, 6_000, 11_000, 31_000])
                .prop_map(|ms| Op::Advance { ms }),
        ]
    }

    /// A consumer: blocked while its JoinGroup or SyncGroup waits.
    #[derive(Debug, Clone, Default)]
    struct Client {
        member_id: String,
        /// -1 until a JoinGroup succeeds, and once the client must rejoin.
        generation: i32,
        /// Members to assign, when the JoinGroup said it leads.
        to_assign: Option<Vec<String>>,
        waiting_join: bool,
        waiting_sync: bool,
    }

    struct Sim {
        d: Driver,
        clients: Vec<Client>,
        /// Requests of clients that restarted meanwhile: (is JoinGroup, member id).
        orphans: HashSet<(bool, String)>,
        generation: i32,
    }

    fn instance(client: usize) -> Option<String> {
        (client >= 3).then(|| format!("inst{client}"))
    }

    impl Sim {
        fn reset(&mut self, i: usize) {
            self.clients[i] = Client {
                generation: -1,
                ..Client::default()
            };
        }

        fn on_join(&mut self, i: usize, r: JoinResponse) {
            let c = &mut self.clients[i];
            match r.error {
                ErrorCode::NONE => {
                    c.member_id = r.member_id.clone();
                    c.generation = r.generation_id;
                    c.to_assign = (r.leader == r.member_id && !r.skip_assignment)
                        .then(|| r.members.iter().map(|m| m.member_id.clone()).collect());
                }
                ErrorCode::MEMBER_ID_REQUIRED => c.member_id = r.member_id,
                ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::FENCED_INSTANCE_ID => self.reset(i),
                e => panic!("unexpected JoinGroup error {e:?}"),
            }
        }

        fn on_sync(&mut self, i: usize, r: SyncResponse) {
            match r.error {
                ErrorCode::NONE => {}
                ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::ILLEGAL_GENERATION => {
                    self.clients[i].generation = -1;
                }
                ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::FENCED_INSTANCE_ID => self.reset(i),
                e => panic!("unexpected SyncGroup error {e:?}"),
            }
        }

        fn step(&mut self, op: &Op) {
            let busy = |c: &Client| c.waiting_join || c.waiting_sync;
            match *op {
                Op::Join { client: i, v9, alt } => {
                    if busy(&self.clients[i]) {
                        return;
                    }
                    let req = JoinRequest {
                        group_instance_id: instance(i),
                        require_known_member_id: instance(i).is_none(),
                        supports_skip_assignment: v9,
                        protocols: protocols(if alt {
                            &["roundrobin", "range"]
                        } else {
                            &["range"]
                        }),
                        client_id: format!("c{i}"),
                        // Just above the session timeout: rebalances time out often.
                        rebalance_timeout_ms: 12_000,
                        ..join_req(GROUP, &self.clients[i].member_id)
                    };
                    match self.d.join(req) {
                        JoinOutcome::Done(r) => self.on_join(i, r),
                        JoinOutcome::Pending { member_id } => {
                            self.clients[i].member_id = member_id;
                            self.clients[i].waiting_join = true;
                        }
                    }
                }
                Op::Sync { client: i } => {
                    let c = &self.clients[i];
                    if busy(c) || c.member_id.is_empty() || c.generation < 0 {
                        return;
                    }
                    let mut req = self.d.sync_req(GROUP, c.generation, &c.member_id);
                    req.group_instance_id = instance(i);
                    for m in c.to_assign.iter().flatten() {
                        req.assignments
                            .push((m.clone(), Bytes::from(format!("{m}@{}", c.generation))));
                    }
                    match self.d.sync_with(req) {
                        SyncOutcome::Done(r) => self.on_sync(i, r),
                        SyncOutcome::Pending => self.clients[i].waiting_sync = true,
                    }
                }
                Op::Heartbeat { client: i } => {
                    let c = &self.clients[i];
                    if busy(c) || c.member_id.is_empty() {
                        return;
                    }
                    let (gen, id) = (c.generation, c.member_id.clone());
                    match self.d.heartbeat_as(GROUP, gen, &id, instance(i).as_deref()) {
                        ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::FENCED_INSTANCE_ID => {
                            self.reset(i)
                        }
                        ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::ILLEGAL_GENERATION => {
                            self.clients[i].generation = -1;
                        }
                        e => assert_eq!(e, ErrorCode::NONE),
                    }
                }
                Op::Leave { client: i } => {
                    let c = &self.clients[i];
                    if busy(c) || (c.member_id.is_empty() && instance(i).is_none()) {
                        return;
                    }
                    let (id, inst) = (c.member_id.clone(), instance(i));
                    let result = self.d.leave(GROUP, &[(id.as_str(), inst.as_deref())]);
                    assert!(result.is_ok(), "{result:?}");
                    self.reset(i);
                }
                Op::Restart { client: i } => {
                    let c = &self.clients[i];
                    if c.waiting_join {
                        self.orphans.insert((true, c.member_id.clone()));
                    }
                    if c.waiting_sync {
                        self.orphans.insert((false, c.member_id.clone()));
                    }
                    self.reset(i);
                }
                Op::Advance { ms } => self.d.advance(ms),
            }
            self.deliver();
            self.check();
        }

        /// Hands every reply to the client (or orphaned request) that waits for it.
        fn deliver(&mut self) {
            for (member, mut replies) in std::mem::take(&mut self.d.joins) {
                assert_eq!(
                    replies.len(),
                    1,
                    "JoinGroup replies to {member}: {replies:?}"
                );
                let r = replies.remove(0);
                match self
                    .clients
                    .iter()
                    .position(|c| c.waiting_join && c.member_id == member)
                {
                    Some(i) => {
                        self.clients[i].waiting_join = false;
                        self.on_join(i, r);
                    }
                    None => assert!(
                        self.orphans.remove(&(true, member.clone())),
                        "unrequested {r:?}"
                    ),
                }
            }
            for (member, mut replies) in std::mem::take(&mut self.d.syncs) {
                assert_eq!(
                    replies.len(),
                    1,
                    "SyncGroup replies to {member}: {replies:?}"
                );
                let r = replies.remove(0);
                match self
                    .clients
                    .iter()
                    .position(|c| c.waiting_sync && c.member_id == member)
                {
                    Some(i) => {
                        self.clients[i].waiting_sync = false;
                        self.on_sync(i, r);
                    }
                    None => assert!(
                        self.orphans.remove(&(false, member.clone())),
                        "unrequested {r:?}"
                    ),
                }
            }
        }

        fn check(&mut self) {
            let Some(g) = self.d.shard.groups.get(GROUP) else {
                return;
            };
            assert!(g.generation_id >= self.generation, "generation went back");
            self.generation = g.generation_id;
            assert_eq!(g.leader.is_some(), !g.members.is_empty(), "{g:?}");
            if let Some(l) = &g.leader {
                assert!(g.members.contains_key(l), "leader {l} is not a member");
            }
            let awaiting = |f: fn(&super::Group, &str) -> bool| -> HashSet<String> {
                g.members.keys().filter(|id| f(g, id)).cloned().collect()
            };
            let awaiting_join = awaiting(|g, id| g.members[id].awaiting_join);
            let awaiting_sync = awaiting(|g, id| g.members[id].awaiting_sync);
            match g.state {
                GroupState::Empty => assert!(g.members.is_empty() && g.join_timer.is_none()),
                GroupState::PreparingRebalance => {
                    assert!(g.join_timer.is_some() && g.sync_deadline_ms.is_none());
                    assert!(awaiting_sync.is_empty());
                }
                GroupState::CompletingRebalance => {
                    assert!(g.join_timer.is_none() && g.sync_deadline_ms.is_some());
                    assert!(awaiting_join.is_empty());
                }
                GroupState::Stable => {
                    assert!(g.join_timer.is_none() && g.sync_deadline_ms.is_none());
                    assert!(
                        awaiting_join.is_empty() && awaiting_sync.is_empty(),
                        "{g:?}"
                    );
                }
                GroupState::Dead => panic!("dead group"),
            }
            for (instance, id) in &g.static_members {
                assert_eq!(g.members[id].group_instance_id.as_ref(), Some(instance));
            }
            for (id, m) in &g.members {
                if let Some(instance) = &m.group_instance_id {
                    assert_eq!(g.static_members.get(instance), Some(id));
                }
                // Every member that does not wait on a request is on a session clock.
                let waits = m.awaiting_join || m.awaiting_sync;
                assert_eq!(
                    m.heartbeat_deadline_ms.is_none(),
                    waits,
                    "member {id}: {m:?}"
                );
            }
            // Exactly the requests that wait in the state machine are unanswered.
            let waiting = |join: bool| -> HashSet<String> {
                let clients =
                    self.clients
                        .iter()
                        .filter(|c| if join { c.waiting_join } else { c.waiting_sync });
                let orphans = self
                    .orphans
                    .iter()
                    .filter(|(j, _)| *j == join)
                    .map(|(_, id)| id.clone());
                clients
                    .map(|c| c.member_id.clone())
                    .chain(orphans)
                    .collect()
            };
            assert_eq!(waiting(true), awaiting_join, "JoinGroups waiting");
            assert_eq!(waiting(false), awaiting_sync, "SyncGroups waiting");
        }

        /// The log rebuilds the group as it was last stored.
        fn check_replay(&self) {
            let mut rebuilt = GroupShard::new(config(DELAY_MS), "r".into());
            for r in &self.d.log {
                rebuilt.replay(r, self.d.now);
            }
            let Some(live) = self.d.shard.groups.get(GROUP) else {
                return;
            };
            match (live.state, rebuilt.groups.get(GROUP)) {
                (GroupState::Stable, Some(r)) => {
                    assert_eq!(self.d.shard.describe(GROUP), rebuilt.describe(GROUP));
                    assert_eq!(
                        (live.generation_id, &live.leader),
                        (r.generation_id, &r.leader)
                    );
                    assert_eq!(live.static_members, r.static_members);
                }
                (GroupState::Empty, Some(r)) => {
                    assert_eq!(
                        (r.state, r.generation_id),
                        (GroupState::Empty, live.generation_id)
                    );
                }
                (GroupState::Empty, None) => assert_eq!(live.generation_id, 0),
                (GroupState::Stable, None) => panic!("a Stable group without a record"),
                _ => {}
            }
        }
    }

    fn run(ops: &[Op]) {
        let mut sim = Sim {
            d: Driver::new(config(DELAY_MS)),
            clients: vec![
                Client {
                    generation: -1,
                    ..Client::default()
                };
                CLIENTS
            ],
            orphans: HashSet::new(),
            generation: 0,
        };
        for op in ops {
            sim.step(op);
        }
        sim.check_replay();
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn random_operations_keep_the_invariants(ops in prop::collection::vec(op(), 1..150)) {
            run(&ops);
        }
    }

    /// A fixed sequence that goes through every kind of step, so a failure reproduces simply.
    #[test]
    fn a_scripted_sequence_keeps_the_invariants() {
        let mut ops = Vec::new();
        for round in 0..40usize {
            let client = round % CLIENTS;
            ops.push(Op::Join {
                client,
                v9: round % 2 == 0,
                alt: round % 7 == 0,
            });
            ops.push(Op::Advance {
                ms: [0, 3_000, 500, 6_000][round % 4],
            });
            ops.push(Op::Sync {
                client: (round * 3) % CLIENTS,
            });
            ops.push(Op::Heartbeat {
                client: (round + 1) % CLIENTS,
            });
            if round % 9 == 4 {
                ops.push(Op::Restart {
                    client: 3 + round % 2,
                });
            }
            if round % 11 == 5 {
                ops.push(Op::Leave {
                    client: round % CLIENTS,
                });
            }
            if round % 13 == 6 {
                ops.push(Op::Advance { ms: 31_000 });
            }
        }
        run(&ops);
    }
}
