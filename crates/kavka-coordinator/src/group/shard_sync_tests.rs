//! Members that do not send SyncGroup: Kafka's pending-sync timeout (GroupMetadataManager
//! schedulePendingSync / expirePendingSync) removes, the rebalance timeout after the join phase
//! completed, every member that has not synced in the generation, also once the leader's
//! assignment made the group Stable; driven by the [`Driver`] of `shard_tests`.

use bytes::Bytes;
use kavka_protocol::ErrorCode;

use super::super::{GroupState, SyncOutcome};
use super::{config, join_req, static_req, Driver, DELAY_MS, REBALANCE_MS};

/// A group of `n` dynamic members whose join phase just completed (the first leads); returns
/// them and when the SyncGroups are due.
fn joined_group(d: &mut Driver, group: &str, n: usize) -> (Vec<String>, i64) {
    let members: Vec<String> = (0..n).map(|_| d.join_new(group)).collect();
    d.complete_initial_join(group);
    for m in &members {
        assert_eq!(d.take_join(m).generation_id, 1);
    }
    assert_eq!(d.group(group).leader.as_deref(), Some(members[0].as_str()));
    (members, d.now + i64::from(REBALANCE_MS))
}

/// The leader sends its assignment (`a-<member>` for each): the group is Stable.
fn leader_syncs(d: &mut Driver, group: &str, members: &[String]) {
    let assignments: Vec<(String, String)> = members
        .iter()
        .map(|m| (m.clone(), format!("a-{m}")))
        .collect();
    let refs: Vec<(&str, &str)> = assignments
        .iter()
        .map(|(m, a)| (m.as_str(), a.as_str()))
        .collect();
    let outcome = d.sync(group, 1, &members[0], &refs);
    assert!(matches!(outcome, SyncOutcome::Pending));
    assert_eq!(d.take_sync(&members[0]).error, ErrorCode::NONE);
    assert_eq!(d.state(group), Some(GroupState::Stable));
}

/// Advances to `until` in steps of 3 s, every one of `members` heartbeating meanwhile.
fn heartbeat_until(d: &mut Driver, group: &str, members: &[&String], until: i64) {
    while d.now + 3_000 < until {
        d.advance(3_000);
        for m in members {
            assert_eq!(d.heartbeat(group, 1, m), ErrorCode::NONE, "{m}");
        }
    }
}

#[test]
fn follower_that_never_syncs_is_removed_after_the_group_became_stable() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, due) = joined_group(&mut d, "g", 3);
    let (l, f1, f2) = (&m[0], &m[1], &m[2]);
    leader_syncs(&mut d, "g", &m);
    let r = d.sync_done("g", 1, f1);
    assert_eq!(r.assignment, Bytes::from(format!("a-{f1}")));
    assert_eq!(d.group("g").pending_sync.iter().collect::<Vec<_>>(), [f2]);
    assert_eq!(d.group("g").sync_deadline_ms, Some(due));
    // f2 heartbeats (its session is fine) but never asks for its assignment.
    heartbeat_until(&mut d, "g", &[l, f1, f2], due);
    assert_eq!(d.group("g").members.len(), 3);
    assert_eq!(d.state("g"), Some(GroupState::Stable));
    d.advance(due - 1 - d.now);
    assert_eq!(d.group("g").members.len(), 3);
    d.advance(1);
    assert!(!d.group("g").members.contains_key(f2));
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    d.assert_no_replies();
    assert_eq!(d.heartbeat("g", 1, f2), ErrorCode::UNKNOWN_MEMBER_ID);
    assert_eq!(d.heartbeat("g", 1, l), ErrorCode::REBALANCE_IN_PROGRESS);
    d.join_pending(join_req("g", l));
    d.join_pending(join_req("g", f1));
    let r = d.take_join(l);
    assert_eq!((r.generation_id, r.members.len()), (2, 2));
    assert_eq!(d.take_join(f1).generation_id, 2);
}

#[test]
fn members_that_sync_in_time_stay_and_the_deadline_goes() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, due) = joined_group(&mut d, "g", 3);
    let (l, f1, f2) = (&m[0], &m[1], &m[2]);
    // f1 syncs before the leader (it waits), f2 after the group is Stable.
    assert!(matches!(d.sync("g", 1, f1, &[]), SyncOutcome::Pending));
    leader_syncs(&mut d, "g", &m);
    assert_eq!(d.take_sync(f1).error, ErrorCode::NONE);
    // A SyncGroup that fails does not count.
    assert_eq!(d.sync_done("g", 0, f2).error, ErrorCode::ILLEGAL_GENERATION);
    assert!(d.group("g").pending_sync.contains(f2));
    heartbeat_until(&mut d, "g", &[l, f1, f2], due - 1);
    d.advance(due - 1 - d.now);
    assert_eq!(d.sync_done("g", 1, f2).error, ErrorCode::NONE);
    assert!(d.group("g").pending_sync.is_empty());
    assert_eq!(d.group("g").sync_deadline_ms, None);
    heartbeat_until(&mut d, "g", &[l, f1, f2], due + 3 * i64::from(REBALANCE_MS));
    assert_eq!(d.state("g"), Some(GroupState::Stable));
    assert_eq!(
        (d.group("g").generation_id, d.group("g").members.len()),
        (1, 3)
    );
    d.assert_no_replies();
}

#[test]
fn static_member_restarting_before_its_sync_must_sync_under_its_new_id() {
    for syncs in [true, false] {
        let mut d = Driver::new(config(DELAY_MS));
        let a = d.join_new("g");
        let s = d.join_pending(static_req("g", "", "i1"));
        d.complete_initial_join("g");
        d.take_join(&a);
        d.take_join(&s);
        let due = d.now + i64::from(REBALANCE_MS);
        let members = [a.clone(), s.clone()];
        leader_syncs(&mut d, "g", &members);
        // The static member restarts before its SyncGroup: same protocol, no rebalance.
        let r = d.join_done(static_req("g", "", "i1"));
        let s2 = r.member_id;
        assert_eq!((r.error, r.generation_id), (ErrorCode::NONE, 1));
        assert_eq!(d.state("g"), Some(GroupState::Stable));
        assert_eq!(d.group("g").pending_sync.iter().collect::<Vec<_>>(), [&s2]);
        assert_eq!(d.group("g").sync_deadline_ms, Some(due));
        if syncs {
            assert_eq!(
                d.sync_done("g", 1, &s2).assignment,
                Bytes::from(format!("a-{s}"))
            );
        }
        heartbeat_until(&mut d, "g", &[&a, &s2], due);
        d.advance(due + 1 - d.now);
        if syncs {
            assert_eq!(d.state("g"), Some(GroupState::Stable));
            assert_eq!(d.group("g").members.len(), 2);
        } else {
            assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
            assert!(!d.group("g").members.contains_key(&s2));
            assert!(d.group("g").static_members.is_empty());
        }
        d.assert_no_replies();
    }
}
