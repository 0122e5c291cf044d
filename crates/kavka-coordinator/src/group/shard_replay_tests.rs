//! Rebuilding a shard from its log, as a restarted broker does, driven by the [`Driver`] of
//! `shard_tests` and the offset operations of `shard_offsets_tests`.

use bytes::Bytes;
use kavka_protocol::ErrorCode;

use super::super::records::GroupRecord;
use super::super::{GroupShard, GroupState};
use super::offsets::NONE;
use super::{config, join_req, static_req, Driver, DELAY_MS, SESSION_MS};

/// Every group of `live`, as DescribeGroups / ListGroups / OffsetFetch and the stored metadata show it,
/// equals the same group of `rebuilt`.
fn assert_same_groups(live: &GroupShard, rebuilt: &GroupShard) {
    assert_eq!(live.list(), rebuilt.list());
    for listing in live.list() {
        let id = listing.group_id.as_str();
        assert_eq!(live.describe(id), rebuilt.describe(id), "group {id}");
        assert_eq!(
            live.fetch_offsets(id, None),
            rebuilt.fetch_offsets(id, None),
            "group {id}"
        );
        let (a, b) = (&live.groups[id], &rebuilt.groups[id]);
        assert_eq!(
            (a.generation_id, &a.leader, &a.protocol_name),
            (b.generation_id, &b.leader, &b.protocol_name),
            "group {id}"
        );
        assert_eq!(a.static_members, b.static_members, "group {id}");
        let assignments = |g: &super::super::classic::Group| -> Vec<(String, Bytes)> {
            g.members
                .iter()
                .map(|(id, m)| (id.clone(), m.assignment.clone()))
                .collect()
        };
        assert_eq!(assignments(a), assignments(b), "group {id}");
    }
}

#[test]
fn replaying_the_log_rebuilds_the_groups() {
    let mut d = Driver::new(config(DELAY_MS));
    // "a": Stable, with a static member that restarted (its new id is only in a record).
    let a1 = d.join_new("a");
    let a2 = d.join_pending(static_req("a", "", "inst"));
    d.complete_initial_join("a");
    d.take_join(&a1);
    d.take_join(&a2);
    let gen_a = d.sync_all("a", &[a1.clone(), a2.clone()]);
    let a3 = d.join_done(static_req("a", "", "inst")).member_id;
    assert_eq!(
        d.commit("a", gen_a, &a1, &[("t", 0, 10), ("t", 1, 11)]),
        vec![NONE, NONE]
    );
    // "b": three members, one leaves, the others rebalance to generation 2.
    let (b, _) = d.stable_group("b", 3);
    d.heartbeat_all();
    assert_eq!(d.leave("b", &[(b[1].as_str(), None)]), Ok(vec![NONE]));
    d.join_pending(join_req("b", &b[0]));
    d.join_pending(join_req("b", &b[2]));
    d.take_join(&b[0]);
    d.take_join(&b[2]);
    let gen_b = d.sync_all("b", &[b[0].clone(), b[2].clone()]);
    assert_eq!(gen_b, 2);
    assert_eq!(d.commit("b", gen_b, &b[2], &[("u", 0, 5)]), vec![NONE]);
    // "c": everyone left; offsets remain.
    let (c, gen_c) = d.stable_group("c", 2);
    d.heartbeat_all();
    assert_eq!(d.commit("c", gen_c, &c[0], &[("t", 0, 3)]), vec![NONE]);
    assert_eq!(
        d.leave("c", &[(c[0].as_str(), None), (c[1].as_str(), None)]),
        Ok(vec![NONE, NONE])
    );
    // "d": a simple group; "e": deleted; "f": an offset deleted.
    assert_eq!(
        d.commit("d", -1, "", &[("t", 0, 1), ("t", 1, 2)]),
        vec![NONE, NONE]
    );
    assert_eq!(d.commit("e", -1, "", &[("t", 0, 1)]), vec![NONE]);
    let (e, effects) = d.shard.delete_group("e");
    assert_eq!(e, NONE);
    d.apply(effects);
    assert_eq!(
        d.commit("f", -1, "", &[("t", 0, 1), ("t", 1, 2)]),
        vec![NONE, NONE]
    );
    assert_eq!(d.delete_offsets("f", &[("t", 0)]), Ok(vec![NONE]));

    let states: Vec<(String, &str)> = d
        .shard
        .list()
        .into_iter()
        .map(|l| (l.group_id, l.state))
        .collect();
    assert_eq!(
        states
            .iter()
            .map(|(g, s)| (g.as_str(), *s))
            .collect::<Vec<_>>(),
        vec![
            ("a", "Stable"),
            ("b", "Stable"),
            ("c", "Empty"),
            ("d", "Empty"),
            ("f", "Empty")
        ]
    );
    assert_eq!(d.shard.groups["a"].static_members["inst"], a3);

    // A restarted broker reads the records back from the partition.
    let mut rebuilt = GroupShard::new(config(DELAY_MS), "q".into());
    for r in &d.log {
        let decoded = GroupRecord::decode(&r.encode_key(), r.encode_value().as_deref())
            .unwrap()
            .unwrap();
        assert_eq!(&decoded, r);
        rebuilt.replay(&decoded, d.now + 60_000);
    }
    assert_same_groups(&d.shard, &rebuilt);
    assert_eq!(rebuilt.groups["b"].generation_id, 2);
    assert_eq!(rebuilt.groups["c"].generation_id, gen_c + 1);
    // The rebuilt members are live: they heartbeat, and expire if they stop.
    let mut r = Driver {
        shard: rebuilt,
        ..Driver::new(config(DELAY_MS))
    };
    r.now = d.now + 60_000;
    assert_eq!(r.heartbeat("b", 2, &b[0]), NONE);
    assert_eq!(
        r.heartbeat_as("a", gen_a, &a2, Some("inst")),
        ErrorCode::FENCED_INSTANCE_ID
    );
    assert_eq!(
        r.sync_done("a", gen_a, &a3).assignment,
        Bytes::from(format!("a-{a2}"))
    );
    r.advance(5_000);
    assert_eq!(r.heartbeat("b", 2, &b[0]), NONE);
    r.advance(i64::from(SESSION_MS) - 5_000 - 1);
    assert_eq!(r.state("b"), Some(GroupState::Stable));
    r.advance(1); // b[2] never heartbeat since the load
    assert_eq!(r.state("b"), Some(GroupState::PreparingRebalance));
    assert_eq!(r.group("b").members.keys().collect::<Vec<_>>(), vec![&b[0]]);
}
