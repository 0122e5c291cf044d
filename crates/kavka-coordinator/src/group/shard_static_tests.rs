//! Static members (`group.instance.id`): restarts that take a new member id, and static members
//! that miss a rebalance.

use bytes::Bytes;
use kavka_protocol::ErrorCode;

use super::super::api::JoinRequest;
use super::super::records::GroupRecord;
use super::super::GroupState;
use super::{config, static_req, Driver, DELAY_MS};

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
