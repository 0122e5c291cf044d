//! `group.max.size`, as Kafka's GroupMetadataManager.acceptJoiningMember: member ids handed out
//! by MEMBER_ID_REQUIRED do not count; while a rebalance is prepared the members that have
//! rejoined count, and a member rejoining once the group is full is dropped; otherwise the
//! members count and a member is always taken back. Driven by the [`Driver`] of `shard_tests`.

use kavka_protocol::ErrorCode;

use super::super::{GroupConfig, GroupState};
use super::{config, join_req, static_req, Driver, DELAY_MS, REBALANCE_MS};

fn driver(size_max: usize) -> Driver {
    Driver::new(GroupConfig {
        group_size_max: size_max,
        ..config(DELAY_MS)
    })
}

/// A JoinGroup that `group.max.size` turns away: no member id comes back.
fn assert_full(d: &mut Driver, group: &str, member: &str) {
    let r = d.join_done(join_req(group, member));
    assert_eq!(
        (r.error, r.member_id.as_str()),
        (ErrorCode::GROUP_MAX_SIZE_REACHED, "")
    );
}

#[test]
fn member_ids_handed_out_do_not_count_against_the_max_size() {
    let mut d = driver(2);
    // An empty group takes any number of joins: each gets a member id.
    let ids: Vec<String> = (0..5)
        .map(|_| {
            let r = d.join_done(join_req("g", ""));
            assert_eq!(r.error, ErrorCode::MEMBER_ID_REQUIRED);
            r.member_id
        })
        .collect();
    assert_eq!(d.group("g").pending_members.len(), 5);
    d.join_pending(join_req("g", &ids[0]));
    d.join_pending(join_req("g", &ids[1]));
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    // Two members have joined: the third id is turned away and forgotten, as is a new member.
    assert_full(&mut d, "g", &ids[2]);
    assert!(!d.group("g").pending_members.contains_key(&ids[2]));
    assert_full(&mut d, "g", &ids[2]);
    assert_full(&mut d, "g", "");
    d.complete_initial_join("g");
    let gen = d.take_join(&ids[0]).generation_id;
    d.take_join(&ids[1]);
    assert_eq!(d.state("g"), Some(GroupState::CompletingRebalance));
    assert_full(&mut d, "g", &ids[3]);
    // A member is always taken back: its JoinGroup is answered with the generation.
    let r = d.join_done(join_req("g", &ids[1]));
    assert_eq!((r.error, r.generation_id), (ErrorCode::NONE, gen));
    d.sync_all("g", &ids[..2]);
    assert_full(&mut d, "g", "");
    assert_eq!(d.group("g").members.len(), 2);
}

#[test]
fn members_rejoining_once_the_group_is_full_are_dropped() {
    let mut d = driver(3);
    let (m, gen) = d.stable_group("g", 2);
    // A Stable group of two hands out ids to anyone (the old rule counted them).
    let p: Vec<String> = (0..3)
        .map(|_| {
            let r = d.join_done(join_req("g", ""));
            assert_eq!(r.error, ErrorCode::MEMBER_ID_REQUIRED);
            r.member_id
        })
        .collect();
    d.join_pending(join_req("g", &p[0]));
    let started = d.now;
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        d.heartbeat("g", gen, &m[0]),
        ErrorCode::REBALANCE_IN_PROGRESS
    );
    d.join_pending(join_req("g", &p[1]));
    d.join_pending(join_req("g", &m[0]));
    // Three have rejoined: the rest is turned away, an old member leaving the group.
    assert_full(&mut d, "g", &p[2]);
    assert_full(&mut d, "g", &m[1]);
    let g = d.group("g");
    assert_eq!(g.members.len(), 3);
    assert!(!g.members.contains_key(&m[1]) && g.pending_members.is_empty());
    // As in Kafka, the join phase still ends at the rebalance timeout.
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert_eq!(
        d.group("g").next_deadline_ms(),
        Some(started + i64::from(REBALANCE_MS))
    );
    d.advance(i64::from(REBALANCE_MS));
    for x in [&p[0], &p[1], &m[0]] {
        assert_eq!(d.take_join(x).generation_id, gen + 1);
    }
    assert_eq!(d.heartbeat("g", gen, &m[1]), ErrorCode::UNKNOWN_MEMBER_ID);
    d.assert_no_replies();
}

#[test]
fn max_size_applies_to_a_static_member_rejoining_without_its_id() {
    let mut d = driver(2);
    let a = d.join_new("g");
    let s = d.join_pending(static_req("g", "", "i1"));
    d.complete_initial_join("g");
    d.take_join(&a);
    d.take_join(&s);
    let gen = d.sync_all("g", &[a.clone(), s.clone()]);
    // Kafka checks the member id of the request: an empty one is a new member, also for a
    // known instance id; the member it would replace stays.
    let r = d.join_done(static_req("g", "", "i1"));
    assert_eq!(
        (r.error, r.member_id.as_str()),
        (ErrorCode::GROUP_MAX_SIZE_REACHED, "")
    );
    assert_eq!(d.group("g").static_members["i1"], s);
    assert_eq!(d.heartbeat_as("g", gen, &s, Some("i1")), ErrorCode::NONE);
    // Below the group's size now: its members are still taken back.
    d.shard.set_config(GroupConfig {
        group_size_max: 1,
        ..config(DELAY_MS)
    });
    let r = d.join_done(static_req("g", &s, "i1"));
    assert_eq!((r.error, r.generation_id), (ErrorCode::NONE, gen));
    assert_eq!(d.state("g"), Some(GroupState::Stable));
    d.assert_no_replies();
}
