//! Members that go: heartbeat errors, ended sessions, rebalance and sync timeouts, LeaveGroup,
//! and member ids that are never used.

use kavka_protocol::ErrorCode;

use super::super::api::JoinRequest;
use super::super::records::GroupRecord;
use super::super::{GroupState, SyncOutcome};
use super::{config, ids, join_req, static_req, Driver, DELAY_MS, REBALANCE_MS, SESSION_MS};

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
