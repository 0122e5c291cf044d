//! Offset expiration of groups that have members, and of groups loaded without a state
//! timestamp, as Kafka's OffsetMetadataManager.cleanupExpiredOffsets with
//! ClassicGroup.offsetExpirationCondition; driven by the [`Driver`] of `shard_tests`.

use bytes::Bytes;
use kavka_protocol::ErrorCode;

use super::super::api::JoinRequest;
use super::super::records::{GroupMetadataValue, GroupRecord, OffsetCommitValue, OffsetKey};
use super::super::{GroupConfig, GroupState, SyncOutcome};
use super::offsets::{commit_req, committed, NONE, NOTHING};
use super::{config, join_req, subscription, Driver, DELAY_MS};

const RETENTION: i64 = 100_000;

fn driver() -> Driver {
    Driver::new(GroupConfig {
        offsets_retention_ms: RETENTION,
        ..config(DELAY_MS)
    })
}

/// A Stable consumer group whose members subscribe to `subscriptions` (one list each).
fn consumer_group(d: &mut Driver, group: &str, subscriptions: &[&[&str]]) -> (Vec<String>, i32) {
    let members: Vec<String> = subscriptions
        .iter()
        .map(|topics| {
            d.join_new_with(JoinRequest {
                protocols: vec![("range".into(), subscription(topics))],
                ..join_req(group, "")
            })
        })
        .collect();
    d.complete_initial_join(group);
    for m in &members {
        assert_eq!(d.take_join(m).error, ErrorCode::NONE);
    }
    let gen = d.sync_all(group, &members);
    (members, gen)
}

/// The (topic, partition) of each offset tombstone among `records`; panics on other records.
fn tombstones(records: &[GroupRecord]) -> Vec<(String, i32)> {
    records
        .iter()
        .map(|r| match r {
            GroupRecord::Offset { key, value: None } => (key.topic.clone(), key.partition),
            other => panic!("not an offset tombstone: {other:?}"),
        })
        .collect()
}

#[test]
fn stable_consumer_group_expires_offsets_of_topics_nobody_subscribes_to() {
    let mut d = driver();
    let (m, gen) = consumer_group(&mut d, "g", &[&["t1"], &["t2"]]);
    let t0 = d.now;
    let parts = [("t1", 0, 1), ("t2", 0, 2), ("t3", 0, 3), ("t3", 1, 4)];
    assert_eq!(d.commit("g", gen, &m[0], &parts), vec![NONE; 4]);
    // An explicit expiry (OffsetCommit v2-4) applies to a topic nobody subscribes to only.
    let mut req = commit_req("g", gen, &m[1], &[("t4", 0, 5), ("t1", 1, 6)]);
    req.retention_time_ms = 10;
    assert_eq!(d.commit_with(&req), vec![NONE, NONE]);
    d.now = t0 + 9;
    assert!(d.expire_offsets().is_empty());
    d.now = t0 + 10;
    assert_eq!(tombstones(&d.expire_offsets()), vec![("t4".into(), 0)]);

    // t3-1 is committed again later: each offset counts from its own commit, not from when
    // the group changed state.
    d.now = t0 + 30_000;
    assert_eq!(d.commit("g", gen, &m[1], &[("t3", 1, 7)]), vec![NONE]);
    d.now = t0 + RETENTION - 1;
    assert!(d.expire_offsets().is_empty());
    d.now = t0 + RETENTION;
    assert_eq!(tombstones(&d.expire_offsets()), vec![("t3".into(), 0)]);
    d.now = t0 + 30_000 + RETENTION;
    assert_eq!(tombstones(&d.expire_offsets()), vec![("t3".into(), 1)]);

    // Subscribed topics never expire while the group has members; the group stays.
    d.now = t0 + 50 * RETENTION;
    assert!(d.expire_offsets().is_empty());
    assert_eq!(d.state("g"), Some(GroupState::Stable));
    assert_eq!(
        d.fetch(
            "g",
            &[("t1", 0), ("t1", 1), ("t2", 0), ("t3", 0), ("t4", 0)]
        ),
        vec![committed(1), committed(6), committed(2), NOTHING, NOTHING]
    );
}

#[test]
fn offsets_do_not_expire_while_the_group_rebalances() {
    let mut d = driver();
    let (m, gen) = consumer_group(&mut d, "g", &[&["t1"], &["t1"]]);
    assert_eq!(d.commit("g", gen, &m[0], &[("t2", 0, 1)]), vec![NONE]);
    d.now += RETENTION;
    // The leader rejoins: PreparingRebalance, then CompletingRebalance; Kafka expires offsets
    // of a group with members only while it is Stable.
    d.join_pending(join_req("g", &m[0]));
    assert_eq!(d.state("g"), Some(GroupState::PreparingRebalance));
    assert!(d.expire_offsets().is_empty());
    d.join_pending(join_req("g", &m[1]));
    assert_eq!(d.state("g"), Some(GroupState::CompletingRebalance));
    assert!(d.expire_offsets().is_empty());
    for x in &m {
        d.take_join(x);
    }
    d.sync_all("g", &m);
    assert_eq!(tombstones(&d.expire_offsets()), vec![("t2".into(), 0)]);
}

#[test]
fn nothing_expires_in_a_stable_group_whose_subscriptions_cannot_be_read() {
    let mut d = driver();
    // A subscription cut short: the v0 prefix lacks its user data.
    let truncated = subscription(&["t1"]).slice(..12);
    let mut garbled = String::new();
    for (group, metadata) in [
        ("garbled", Bytes::from_static(&[0, 0, 0])),
        ("truncated", truncated),
    ] {
        let a = d.join_new_with(JoinRequest {
            protocols: vec![("range".into(), metadata)],
            ..join_req(group, "")
        });
        d.complete_initial_join(group);
        d.take_join(&a);
        let gen = d.sync_all(group, std::slice::from_ref(&a));
        assert_eq!(d.commit(group, gen, &a, &[("x", 0, 1)]), vec![NONE]);
        if group == "garbled" {
            garbled = a;
        }
    }
    // Another protocol type: its metadata is opaque, its offsets stay while it has members.
    let c = d.join_new_with(JoinRequest {
        protocol_type: "connect".into(),
        ..join_req("connect", "")
    });
    d.complete_initial_join("connect");
    let gen = d.take_join(&c).generation_id;
    let mut sync = d.sync_req("connect", gen, &c);
    sync.protocol_type = None;
    sync.assignments = vec![(c.clone(), Bytes::from_static(b"a"))];
    assert!(matches!(d.sync_with(sync), SyncOutcome::Pending));
    assert_eq!(d.take_sync(&c).error, ErrorCode::NONE);
    assert_eq!(d.state("connect"), Some(GroupState::Stable));
    assert_eq!(d.commit("connect", gen, &c, &[("x", 0, 1)]), vec![NONE]);

    d.now += 50 * RETENTION;
    assert!(d.expire_offsets().is_empty());
    // Once empty, they count from then.
    assert_eq!(
        d.leave("garbled", &[(garbled.as_str(), None)]),
        Ok(vec![NONE])
    );
    d.now += RETENTION;
    let r = d.expire_offsets();
    assert_eq!(r.len(), 2, "the offset and the group: {r:?}");
    assert_eq!(d.state("garbled"), None);
    assert_eq!(d.state("truncated"), Some(GroupState::Stable));
}

#[test]
fn empty_group_loaded_without_state_timestamp_expires_from_commits() {
    let mut d = driver();
    let t0 = d.now;
    let offset = |partition: i32, commit_timestamp_ms: i64| GroupRecord::Offset {
        key: OffsetKey {
            group: "old".into(),
            topic: "t".into(),
            partition,
        },
        value: Some(OffsetCommitValue {
            offset: 1,
            leader_epoch: 5,
            metadata: "m".into(),
            commit_timestamp_ms,
            expire_timestamp_ms: None,
        }),
    };
    let log = [
        offset(0, t0 - RETENTION + 5),
        offset(1, t0),
        // A GroupMetadata v0/v1 record: no currentStateTimestamp.
        GroupRecord::Group {
            group: "old".into(),
            value: Some(GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation: 3,
                protocol: None,
                leader: None,
                current_state_timestamp_ms: -1,
                members: Vec::new(),
            }),
        },
    ];
    for r in &log {
        d.shard.replay(r, t0);
    }
    assert_eq!(d.state("old"), Some(GroupState::Empty));
    assert_eq!(d.group("old").state_timestamp_ms, None);
    d.now = t0 + 4;
    assert!(d.expire_offsets().is_empty());
    d.now = t0 + 5;
    assert_eq!(tombstones(&d.expire_offsets()), vec![("t".into(), 0)]);
    d.now = t0 + RETENTION;
    let r = d.expire_offsets();
    assert!(
        matches!(
            &r[..],
            [
                GroupRecord::Offset { value: None, .. },
                GroupRecord::Group { value: None, .. }
            ]
        ),
        "{r:?}"
    );
    assert_eq!(d.state("old"), None);
}
