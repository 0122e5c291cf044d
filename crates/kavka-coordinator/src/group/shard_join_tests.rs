//! JoinGroup and SyncGroup: member ids, the initial rebalance delay, the leader's assignment and
//! protocol selection.

use bytes::Bytes;
use kavka_protocol::ErrorCode;

use super::super::api::{JoinMember, JoinRequest};
use super::super::records::GroupRecord;
use super::super::{GroupState, SyncOutcome};
use super::{config, ids, join_req, protocols, subscription, Driver, DELAY_MS};

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
