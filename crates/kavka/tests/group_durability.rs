//! Committed offsets and group assignments survive kill -9, and a torn `__consumer_offsets`
//! tail loses only the commit that was never acknowledged.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use kavka_client::Connection;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kavka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kavka_protocol::messages::*;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

const OVERRIDES: &[&str] = &[
    "offsets.topic.num.partitions=3",
    "group.initial.rebalance.delay.ms=0",
];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn find_coordinator(c: &mut Connection, group: &str) -> i16 {
    let req = FindCoordinatorRequest::default().with_key(s(group));
    let Response::FindCoordinator(r) = c.send(3, Request::FindCoordinator(req)).await.unwrap()
    else {
        panic!("FindCoordinator answer")
    };
    r.error_code
}

/// Commits `offset` for partitions 0..3 of topic "t" outside group management (generation -1).
async fn commit(c: &mut Connection, group: &str, offset: i64) -> Vec<i16> {
    let partitions = (0..3)
        .map(|p| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(p)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s(&format!("m{offset}"))))
        })
        .collect();
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name("t"))
            .with_partitions(partitions)]);
    let Response::OffsetCommit(r) = c.send(8, Request::OffsetCommit(req)).await.unwrap() else {
        panic!("OffsetCommit answer")
    };
    r.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect()
}

/// Committed offsets of partitions 0..3 of "t" (v7: one group).
async fn committed(c: &mut Connection, group: &str) -> Vec<(i64, String)> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name("t"))
            .with_partition_indexes(vec![0, 1, 2])]));
    let Response::OffsetFetch(r) = c.send(7, Request::OffsetFetch(req)).await.unwrap() else {
        panic!("OffsetFetch answer")
    };
    assert_eq!(r.error_code, 0);
    r.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.committed_offset,
                p.metadata
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// Retries while the coordinator replays its partitions after a restart.
async fn committed_when_loaded(b: &TestBroker, group: &str) -> Vec<(i64, String)> {
    for _ in 0..100 {
        let mut c = b.connect().await;
        let req = OffsetFetchRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(None);
        if let Ok(Response::OffsetFetch(r)) = c.send(7, Request::OffsetFetch(req)).await {
            if r.error_code == 0 {
                return committed(&mut c, group).await;
            }
            assert_eq!(
                r.error_code, 14,
                "COORDINATOR_LOAD_IN_PROGRESS while loading"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the coordinator never loaded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_commits_loses_no_acknowledged_commit() {
    let mut b = TestBroker::start(OVERRIDES);
    let mut c = b.connect().await;
    assert_eq!(find_coordinator(&mut c, "g").await, 0);
    assert_eq!(create_topic(&mut c, "t", 3).await, 0);
    let acked = Arc::new(std::sync::atomic::AtomicI64::new(-1));
    let stop = Arc::new(AtomicBool::new(false));
    let task = {
        let (acked, stop) = (acked.clone(), stop.clone());
        tokio::spawn(async move {
            let mut offset = 0i64;
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_secs(2), commit(&mut c, "g", offset))
                    .await
                {
                    Ok(errors) if errors.iter().all(|&e| e == 0) => {
                        acked.store(offset, Ordering::SeqCst);
                        offset += 1;
                    }
                    _ => break,
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(800)).await;
    b.kill();
    stop.store(true, Ordering::Relaxed);
    let _ = task.await;
    let last = acked.load(Ordering::SeqCst);
    assert!(
        last > 10,
        "commits were acknowledged before the kill ({last})"
    );
    b.restart();
    let after = committed_when_loaded(&b, "g").await;
    for (offset, metadata) in after {
        // The commit in flight at the kill may or may not have landed; none acknowledged is lost.
        assert!(
            offset == last || offset == last + 1,
            "{offset} vs acknowledged {last}"
        );
        assert_eq!(metadata, format!("m{offset}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_offsets_tail_keeps_earlier_commits() {
    let mut b = TestBroker::start(OVERRIDES);
    let mut c = b.connect().await;
    assert_eq!(find_coordinator(&mut c, "torn").await, 0);
    assert_eq!(create_topic(&mut c, "t", 3).await, 0);
    for offset in [5, 6, 7] {
        assert_eq!(commit(&mut c, "torn", offset).await, vec![0, 0, 0]);
    }
    drop(c);
    b.kill();
    // The group's shard: Java's hash of "torn" modulo 3.
    let shard = kavka_coordinator::group::partition_for("torn", 3);
    let dir = b.log_dir().join(format!("__consumer_offsets-{shard}"));
    let segment = segment_files(&dir).pop().unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    b.restart();
    let after = committed_when_loaded(&b, "torn").await;
    assert_eq!(
        after,
        vec![(6, "m6".to_string()); 3],
        "the torn last commit is gone, the one before it is back"
    );
    let mut c = b.connect().await;
    assert_eq!(commit(&mut c, "torn", 8).await, vec![0, 0, 0]);
    assert_eq!(
        committed(&mut c, "torn").await,
        vec![(8, "m8".to_string()); 3]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_waiting_on_consumer_offsets_wakes_on_a_commit() {
    let b = TestBroker::start(OVERRIDES);
    let mut c = b.connect().await;
    assert_eq!(find_coordinator(&mut c, "woken").await, 0);
    assert_eq!(create_topic(&mut c, "t", 3).await, 0);
    let shard = kavka_coordinator::group::partition_for("woken", 3);
    let (code, end, _) = fetch(&mut c, "__consumer_offsets", shard, 0, 1 << 20).await;
    assert_eq!(code, 0);
    let mut reader = b.connect().await;
    let waiting = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let request = fetch_request("__consumer_offsets", shard, end, 10_000, 1, 1 << 20);
        let Response::Fetch(r) = reader.send(12, request).await.unwrap() else {
            panic!("Fetch answer")
        };
        let records = r.responses[0].partitions[0]
            .records
            .clone()
            .unwrap_or_default();
        (started.elapsed(), records.len())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(commit(&mut c, "woken", 1).await, vec![0, 0, 0]);
    let (elapsed, bytes) = waiting.await.unwrap();
    assert!(bytes > 0, "the commit's batch is returned");
    assert!(
        elapsed < Duration::from_secs(5),
        "woken by the append, not by max_wait_ms: {elapsed:?}"
    );
}
