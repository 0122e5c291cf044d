//! Offsets (OffsetCommit, OffsetFetch, OffsetDelete, expiration) and DeleteGroups, driven by the
//! [`Driver`] of `shard_tests`.

use bytes::Bytes;
use kavka_protocol::ErrorCode;

use super::super::api::{CommitPartition, CommitRequest, CommittedOffset, JoinRequest};
use super::super::records::GroupRecord;
use super::super::{GroupConfig, GroupState};
use super::{config, join_req, Driver, DELAY_MS};

/// A commit of `(topic, partition, offset)` with leader epoch 5 and metadata "m".
pub(super) fn commit_req(
    group: &str,
    gen: i32,
    member: &str,
    parts: &[(&str, i32, i64)],
) -> CommitRequest {
    CommitRequest {
        group_id: group.into(),
        generation_id: gen,
        member_id: member.into(),
        group_instance_id: None,
        retention_time_ms: -1,
        partitions: parts
            .iter()
            .map(|&(t, p, o)| CommitPartition {
                topic: t.into(),
                partition: p,
                offset: o,
                leader_epoch: 5,
                metadata: Some("m".into()),
            })
            .collect(),
    }
}

impl Driver {
    pub(super) fn commit_with(&mut self, req: &CommitRequest) -> Vec<ErrorCode> {
        let (errors, effects) = self.shard.commit_offsets(self.now, req);
        self.apply(effects);
        errors
    }

    pub(super) fn commit(
        &mut self,
        group: &str,
        gen: i32,
        member: &str,
        parts: &[(&str, i32, i64)],
    ) -> Vec<ErrorCode> {
        self.commit_with(&commit_req(group, gen, member, parts))
    }

    pub(super) fn fetch(&self, group: &str, parts: &[(&str, i32)]) -> Vec<(i64, i32, String)> {
        let parts: Vec<(String, i32)> = parts.iter().map(|&(t, p)| (t.to_string(), p)).collect();
        let fetched = self.shard.fetch_offsets(group, Some(&parts)).unwrap();
        fetched
            .into_iter()
            .map(|c| (c.offset, c.leader_epoch, c.metadata))
            .collect()
    }

    pub(super) fn delete_offsets(
        &mut self,
        group: &str,
        parts: &[(&str, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        let parts: Vec<(String, i32)> = parts.iter().map(|&(t, p)| (t.to_string(), p)).collect();
        let (result, effects) = self.shard.delete_offsets(group, &parts);
        self.apply(effects);
        result
    }

    /// Every member of every Stable group heartbeats.
    pub(super) fn heartbeat_all(&mut self) {
        let stable: Vec<(String, i32, Vec<String>)> = self
            .shard
            .groups
            .iter()
            .filter(|(_, g)| g.state == GroupState::Stable)
            .map(|(id, g)| {
                (
                    id.clone(),
                    g.generation_id,
                    g.members.keys().cloned().collect(),
                )
            })
            .collect();
        for (group, gen, members) in stable {
            for m in members {
                assert_eq!(self.heartbeat(&group, gen, &m), ErrorCode::NONE);
            }
        }
    }

    pub(super) fn expire_offsets(&mut self) -> Vec<GroupRecord> {
        let effects = self.shard.expire_offsets(self.now);
        let records = effects.records.clone();
        self.apply(effects);
        records
    }
}

pub(super) const NONE: ErrorCode = ErrorCode::NONE;
pub(super) const NOTHING: (i64, i32, String) = (-1, -1, String::new());

pub(super) fn committed(offset: i64) -> (i64, i32, String) {
    (offset, 5, "m".into())
}

#[test]
fn simple_commit_creates_an_empty_group() {
    let mut d = Driver::new(config(DELAY_MS));
    assert_eq!(
        d.commit("s", -1, "", &[("t", 0, 10), ("t", 1, 20)]),
        vec![NONE, NONE]
    );
    assert_eq!(d.log.len(), 2);
    assert_eq!(d.state("s"), Some(GroupState::Empty));
    let listed = d.shard.list();
    assert_eq!(
        (
            listed[0].group_id.as_str(),
            listed[0].protocol_type.as_str(),
            listed[0].state
        ),
        ("s", "", "Empty")
    );
    assert_eq!(
        d.fetch("s", &[("t", 0), ("t", 1), ("t", 2), ("u", 0)]),
        vec![committed(10), committed(20), NOTHING, NOTHING]
    );
    let all = d.shard.fetch_offsets("s", None).unwrap();
    assert_eq!(
        all.iter()
            .map(|c| (c.topic.as_str(), c.partition, c.offset))
            .collect::<Vec<_>>(),
        vec![("t", 0, 10), ("t", 1, 20)]
    );
    // Unknown group: -1 for what is asked, nothing for "all".
    assert_eq!(d.fetch("unknown", &[("t", 0)]), vec![NOTHING]);
    assert_eq!(
        d.shard.fetch_offsets("unknown", None),
        Ok(Vec::<CommittedOffset>::new())
    );
    assert_eq!(
        d.shard.fetch_offsets("", None),
        Err(ErrorCode::INVALID_GROUP_ID)
    );
    // A generation for a group that does not exist; no group id.
    assert_eq!(
        d.commit("unknown", 1, "m", &[("t", 0, 1)]),
        vec![ErrorCode::ILLEGAL_GENERATION]
    );
    assert_eq!(
        d.commit("", -1, "", &[("t", 0, 1)]),
        vec![ErrorCode::INVALID_GROUP_ID]
    );
    assert_eq!(d.state("unknown"), None);
    // A later commit replaces the offset.
    assert_eq!(d.commit("s", -1, "", &[("t", 0, 11)]), vec![NONE]);
    assert_eq!(d.fetch("s", &[("t", 0)]), vec![committed(11)]);
}

#[test]
fn member_commits_are_checked_against_the_group() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, gen) = d.stable_group("g", 2);
    let (l, f) = (m[0].as_str(), m[1].as_str());
    assert_eq!(d.commit("g", gen, l, &[("t", 0, 5)]), vec![NONE]);
    assert_eq!(
        d.commit("g", gen + 1, l, &[("t", 0, 6)]),
        vec![ErrorCode::ILLEGAL_GENERATION]
    );
    assert_eq!(
        d.commit("g", gen, "nobody", &[("t", 0, 6), ("t", 1, 6)]),
        vec![ErrorCode::UNKNOWN_MEMBER_ID; 2]
    );
    assert_eq!(
        d.commit("g", -1, "", &[("t", 0, 6)]),
        vec![ErrorCode::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(d.fetch("g", &[("t", 0)]), vec![committed(5)]);
    // Metadata over offset.metadata.max.bytes fails for that partition only.
    let mut req = commit_req("g", gen, f, &[("t", 1, 7), ("t", 2, 8), ("t", 3, 9)]);
    req.partitions[0].metadata = Some("x".repeat(4097));
    req.partitions[1].metadata = Some("y".repeat(4096));
    let records = d.log.len();
    assert_eq!(
        d.commit_with(&req),
        vec![ErrorCode::OFFSET_METADATA_TOO_LARGE, NONE, NONE]
    );
    assert_eq!(d.log.len(), records + 2);
    assert_eq!(
        d.fetch("g", &[("t", 1), ("t", 2)]),
        vec![NOTHING, (8, 5, "y".repeat(4096))]
    );
    // During PreparingRebalance commits of the current generation are accepted...
    d.join_pending(join_req("g", l));
    assert_eq!(d.commit("g", gen, f, &[("t", 0, 10)]), vec![NONE]);
    d.join_pending(join_req("g", f));
    d.take_join(l);
    d.take_join(f);
    // ...but not between the JoinGroup and the SyncGroup.
    assert_eq!(d.state("g"), Some(GroupState::CompletingRebalance));
    assert_eq!(
        d.commit("g", gen + 1, f, &[("t", 0, 11)]),
        vec![ErrorCode::REBALANCE_IN_PROGRESS]
    );
    assert_eq!(
        d.commit("g", gen, f, &[("t", 0, 11)]),
        vec![ErrorCode::ILLEGAL_GENERATION]
    );
    assert_eq!(d.fetch("g", &[("t", 0)]), vec![committed(10)]);
}

#[test]
fn delete_group_only_when_empty() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, gen) = d.stable_group("g", 1);
    assert_eq!(
        d.commit("g", gen, &m[0], &[("t", 0, 1), ("u", 3, 2)]),
        vec![NONE, NONE]
    );
    let (e, effects) = d.shard.delete_group("g");
    assert_eq!(e, ErrorCode::NON_EMPTY_GROUP);
    assert!(effects.is_empty());
    assert_eq!(
        d.shard.delete_group("nope").0,
        ErrorCode::GROUP_ID_NOT_FOUND
    );
    assert_eq!(d.shard.delete_group("").0, ErrorCode::INVALID_GROUP_ID);
    assert_eq!(d.leave("g", &[(m[0].as_str(), None)]), Ok(vec![NONE]));
    assert_eq!(d.state("g"), Some(GroupState::Empty));
    let (e, effects) = d.shard.delete_group("g");
    assert_eq!(e, NONE);
    let expected: Vec<(&str, bool)> =
        vec![("offset t-0", true), ("offset u-3", true), ("group", true)];
    let got: Vec<(String, bool)> = effects
        .records
        .iter()
        .map(|r| match r {
            GroupRecord::Offset { key, value } => (
                format!("offset {}-{}", key.topic, key.partition),
                value.is_none(),
            ),
            GroupRecord::Group { value, .. } => ("group".to_string(), value.is_none()),
        })
        .collect();
    assert_eq!(
        got.iter()
            .map(|(s, t)| (s.as_str(), *t))
            .collect::<Vec<_>>(),
        expected
    );
    d.apply(effects);
    assert_eq!(d.state("g"), None);
    assert!(d.shard.describe("g").is_none());
    assert!(d.shard.list().is_empty());
    assert_eq!(d.fetch("g", &[("t", 0), ("u", 3)]), vec![NOTHING, NOTHING]);
}

#[test]
fn delete_offsets_spares_subscribed_topics() {
    let mut d = Driver::new(config(DELAY_MS));
    let (m, gen) = d.stable_group("g", 2); // both subscribe to "t1"
    assert_eq!(
        d.commit("g", gen, &m[0], &[("t1", 0, 1), ("t2", 0, 2), ("t2", 1, 3)]),
        vec![NONE; 3]
    );
    let records = d.log.len();
    assert_eq!(
        d.delete_offsets("g", &[("t1", 0), ("t2", 0), ("t3", 0)]),
        Ok(vec![ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC, NONE, NONE])
    );
    assert_eq!(d.log.len(), records + 1, "a tombstone for t2-0 only");
    assert!(
        matches!(&d.log[records], GroupRecord::Offset { key, value: None } if key.topic == "t2" && key.partition == 0)
    );
    assert_eq!(
        d.fetch("g", &[("t1", 0), ("t2", 0), ("t2", 1)]),
        vec![committed(1), NOTHING, committed(3)]
    );
    assert_eq!(
        d.delete_offsets("nope", &[("t1", 0)]),
        Err(ErrorCode::GROUP_ID_NOT_FOUND)
    );
    assert_eq!(
        d.delete_offsets("", &[("t1", 0)]),
        Err(ErrorCode::INVALID_GROUP_ID)
    );
    // Once empty, every offset may go.
    assert_eq!(
        d.leave("g", &[(m[0].as_str(), None), (m[1].as_str(), None)]),
        Ok(vec![NONE, NONE])
    );
    assert_eq!(
        d.delete_offsets("g", &[("t1", 0), ("t2", 1)]),
        Ok(vec![NONE, NONE])
    );
    assert_eq!(
        d.fetch("g", &[("t1", 0), ("t2", 1)]),
        vec![NOTHING, NOTHING]
    );

    // A subscription that cannot be read counts as subscribed to everything.
    let mut d = Driver::new(config(0));
    let bad = JoinRequest {
        protocols: vec![("range".into(), Bytes::from_static(&[0, 0, 0]))],
        ..join_req("b", "")
    };
    let a = d.join_new_with(bad);
    d.take_join(&a);
    let gen = d.sync_all("b", std::slice::from_ref(&a));
    assert_eq!(d.commit("b", gen, &a, &[("x", 0, 1)]), vec![NONE]);
    assert_eq!(
        d.delete_offsets("b", &[("x", 0)]),
        Ok(vec![ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC])
    );
    // A non-empty group of another protocol type: its subscriptions are opaque.
    let mut d = Driver::new(config(0));
    let a = d.join_new_with(JoinRequest {
        protocol_type: "connect".into(),
        ..join_req("c", "")
    });
    d.take_join(&a);
    assert_eq!(
        d.delete_offsets("c", &[("x", 0)]),
        Err(ErrorCode::NON_EMPTY_GROUP)
    );
}

#[test]
fn offsets_expire_after_retention() {
    const RETENTION: i64 = 100_000;
    let mut d = Driver::new(GroupConfig {
        offsets_retention_ms: RETENTION,
        ..config(DELAY_MS)
    });
    // A consumer group: its offsets count from when it became empty, not from the commit.
    let (m, gen) = d.stable_group("g", 1);
    assert_eq!(
        d.commit("g", gen, &m[0], &[("t", 0, 1), ("t", 1, 2)]),
        vec![NONE, NONE]
    );
    // A simple group: from each commit.
    assert_eq!(d.commit("s", -1, "", &[("t", 0, 1)]), vec![NONE]);
    let s_first = d.now;
    d.now += RETENTION / 2;
    assert_eq!(d.commit("s", -1, "", &[("t", 1, 1)]), vec![NONE]);
    // An explicit retention (OffsetCommit v2-4).
    let mut req = commit_req("x", -1, "", &[("t", 0, 1)]);
    req.retention_time_ms = 10;
    assert_eq!(d.commit_with(&req), vec![NONE]);
    let x_expiry = d.now + 10;
    d.now = x_expiry - 1;
    assert!(d.expire_offsets().is_empty());
    d.now = x_expiry;
    let r = d.expire_offsets();
    assert_eq!(r.len(), 2, "the offset and the group: {r:?}");
    assert_eq!(d.state("x"), None);

    // The consumer group's member leaves after a while: its offsets count from then.
    d.now = s_first + 60_000;
    assert_eq!(d.leave("g", &[(m[0].as_str(), None)]), Ok(vec![NONE]));
    let g_empty = d.now;
    d.now = s_first + RETENTION - 1;
    assert!(d.expire_offsets().is_empty());
    // The simple group's first offset goes (the consumer group's, committed as early, stays).
    d.now = s_first + RETENTION;
    let r = d.expire_offsets();
    assert!(
        matches!(&r[..], [GroupRecord::Offset { key, value: None }] if key.group == "s" && key.partition == 0),
        "{r:?}"
    );
    assert_eq!(
        d.fetch("s", &[("t", 0), ("t", 1)]),
        vec![NOTHING, committed(1)]
    );
    assert_eq!(d.fetch("g", &[("t", 0)]), vec![committed(1)]);
    d.now = s_first + RETENTION + RETENTION / 2;
    assert_eq!(d.expire_offsets().len(), 2);
    assert_eq!(d.state("s"), None);

    d.now = g_empty + RETENTION - 1;
    assert!(d.expire_offsets().is_empty());
    assert_eq!(d.state("g"), Some(GroupState::Empty));
    d.now = g_empty + RETENTION;
    let r = d.expire_offsets();
    assert_eq!(r.len(), 3, "two offsets and the group: {r:?}");
    assert!(matches!(
        r.last(),
        Some(GroupRecord::Group { value: None, .. })
    ));
    assert_eq!(d.state("g"), None);
    assert_eq!(d.fetch("g", &[("t", 0)]), vec![NOTHING]);
    assert!(d.shard.list().is_empty());
}

#[test]
fn empty_group_without_offsets_is_removed_unless_a_member_id_is_pending() {
    let mut d = Driver::new(config(0));
    let a = d.join_new("g");
    d.take_join(&a);
    assert_eq!(d.leave("g", &[(a.as_str(), None)]), Ok(vec![NONE]));
    let r = d.join_done(join_req("p", ""));
    assert_eq!(r.error, ErrorCode::MEMBER_ID_REQUIRED);
    let records = d.expire_offsets();
    assert!(
        matches!(&records[..], [GroupRecord::Group { group, value: None }] if group == "g"),
        "{records:?}"
    );
    assert_eq!(d.state("g"), None);
    assert_eq!(
        d.state("p"),
        Some(GroupState::Empty),
        "its member id is still to be used"
    );
    d.join_pending(join_req("p", &r.member_id));
}

#[test]
fn deleting_a_topic_deletes_its_offsets_in_every_group() {
    let mut d = Driver::new(config(DELAY_MS));
    d.commit(
        "a",
        -1,
        "",
        &[("gone", 0, 10), ("gone", 1, 11), ("kept", 0, 5)],
    );
    d.commit("b", -1, "", &[("gone", 2, 7)]);
    let effects = d.shard.delete_topic_offsets("gone");
    assert_eq!(effects.records.len(), 3);
    assert!(effects.records.iter().all(|r| r.encode_value().is_none()));
    d.apply(effects);
    assert_eq!(
        d.fetch("a", &[("gone", 0), ("gone", 1), ("kept", 0)]),
        [NOTHING, NOTHING, committed(5)]
    );
    assert_eq!(d.fetch("b", &[("gone", 2)]), [NOTHING]);
    assert!(d.shard.delete_topic_offsets("gone").records.is_empty());
    // The log rebuilds the same state: the tombstones replay.
    let mut rebuilt = super::super::GroupShard::new(config(DELAY_MS), "p".into());
    for r in &d.log {
        rebuilt.replay(r, d.now);
    }
    let parts = vec![("gone".to_string(), 0), ("kept".to_string(), 0)];
    let offsets: Vec<i64> = rebuilt
        .fetch_offsets("a", Some(&parts))
        .unwrap()
        .into_iter()
        .map(|c| c.offset)
        .collect();
    assert_eq!(offsets, [-1, 5]);
}

#[test]
fn transactional_offsets_wait_for_their_marker() {
    let mut d = Driver::new(config(DELAY_MS));
    d.commit("g", -1, "", &[("t", 0, 5)]);
    let req = commit_req("g", -1, "", &[("t", 0, 9), ("t", 1, 3)]);
    let (errors, effects) = d.shard.txn_commit_offsets(d.now, &req, 77, 2);
    assert!(errors.iter().all(|e| e.code() == 0));
    assert_eq!(effects.transactional, Some((77, 2)));
    for r in &effects.records {
        d.shard.replay_pending(r, 77);
    }
    assert_eq!(d.fetch("g", &[("t", 0), ("t", 1)]), [committed(5), NOTHING]);
    assert!(d.shard.has_pending_offset("g", "t", 0));
    d.shard.complete_txn(77, true, d.now);
    assert_eq!(
        d.fetch("g", &[("t", 0), ("t", 1)]),
        [committed(9), committed(3)]
    );
    assert!(!d.shard.has_pending_offset("g", "t", 0));
    // An aborted transaction's offsets never show.
    let req = commit_req("g", -1, "", &[("t", 0, 100)]);
    let (_, effects) = d.shard.txn_commit_offsets(d.now, &req, 78, 0);
    for r in &effects.records {
        d.shard.replay_pending(r, 78);
    }
    d.shard.complete_txn(78, false, d.now);
    assert_eq!(d.fetch("g", &[("t", 0)]), [committed(9)]);
}
