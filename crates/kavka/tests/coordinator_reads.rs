//! A group coordinator answers from committed state only. Its followers paused, a
//! coordinator appends an offset commit its ISR cannot hold yet: the commit is not
//! acknowledged, and an OffsetFetch must not show that offset, nor ListGroups a group that
//! commit created (Kafka reads a coordinator's state at the high watermark). The coordinator then
//! dies before replicating it; a follower takes over and the commit is gone, so a client that
//! had been shown the offset would have read a value the group never kept.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::cluster::{find_group_coordinator, wait_for_controller, TestCluster};
use common::replicas::wait_for_state;
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

/// One offsets partition. Paused followers stay in the ISR (a long lag time and session), so
/// the commit stays above the high watermark; their fetches wait 100 ms at most, so none is
/// left waiting on the leader to carry the commit to them once they are paused.
const SETTINGS: &[&str] = &[
    "offsets.topic.num.partitions=1",
    "broker.session.timeout.ms=6000",
    "replica.lag.time.max.ms=60000",
    "replica.fetch.wait.max.ms=100",
    "replica.fetch.backoff.ms=100",
];

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Commits `offset` for partition 0 of "t" in group "g" outside group management: the
/// partition's error code, or None when the connection failed.
async fn commit(c: &mut Connection, offset: i64) -> Option<i16> {
    commit_in(c, "g", offset).await
}

/// [`commit`] in group `group`.
async fn commit_in(c: &mut Connection, group: &str, offset: i64) -> Option<i16> {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name("t"))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])]);
    match c.send(8, Request::OffsetCommit(req)).await {
        Ok(Response::OffsetCommit(r)) => Some(r.topics[0].partitions[0].error_code),
        _ => None,
    }
}

/// The group's committed offset of partition 0 of "t", or the error code.
async fn committed(c: &mut Connection) -> Result<i64, i16> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name("t"))
            .with_partition_indexes(vec![0])]));
    let Response::OffsetFetch(r) = c.send(7, Request::OffsetFetch(req)).await.unwrap() else {
        panic!("OffsetFetch answer")
    };
    match r.error_code {
        0 => Ok(r.topics[0].partitions[0].committed_offset),
        code => Err(code),
    }
}

/// The groups ListGroups (v4) names, or the error code.
async fn list_groups(c: &mut Connection) -> Result<Vec<String>, i16> {
    let Response::ListGroups(r) = c
        .send(4, Request::ListGroups(ListGroupsRequest::default()))
        .await
        .unwrap()
    else {
        panic!("ListGroups answer")
    };
    match r.error_code {
        0 => Ok(r.groups.iter().map(|g| g.group_id.0.to_string()).collect()),
        code => Err(code),
    }
}

/// Retries `commit` until it is acknowledged (the coordinator may still be loading).
async fn commit_acknowledged(addr: SocketAddr, offset: i64) {
    for _ in 0..200 {
        let mut c = Connection::connect(addr, "kavka-tests").await.unwrap();
        if commit(&mut c, offset).await == Some(0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the commit of {offset} was never acknowledged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offset_fetch_never_shows_a_commit_the_isr_does_not_hold() {
    let mut cluster = TestCluster::start(3, SETTINGS);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let mut admin = cluster.node(1).connect().await;
    assert_eq!(create_topic(&mut admin, "t", 1).await, 0);
    find_group_coordinator(addrs[0], "g").await;
    let (coordinator, _, _) = wait_for_state(
        addrs[0],
        "__consumer_offsets",
        "replicated and in sync",
        |s| s.2.len() == 3,
    )
    .await;
    let at = addrs[(coordinator - 1) as usize];
    commit_acknowledged(at, 5).await;
    let followers: Vec<i32> = (1..=3).filter(|&n| n != coordinator).collect();

    // The followers stop: the next commit is appended but cannot be replicated.
    for &n in &followers {
        cluster.node(n).signal("-STOP");
    }
    // Their last fetches are answered (empty) into their sockets.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut pending = tokio::spawn(async move {
        let mut c = Connection::connect(at, "kavka-tests").await.unwrap();
        commit(&mut c, 9).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut reader = Connection::connect(at, "kavka-tests").await.unwrap();
    let seen = tokio::time::timeout(Duration::from_millis(1500), committed(&mut reader)).await;
    eprintln!("OffsetFetch while the commit of 9 waits for the ISR: {seen:?}");
    assert!(
        !matches!(seen, Ok(Ok(9))),
        "OffsetFetch showed a commit its ISR does not hold"
    );
    // A group the unreplicated commit creates is not listed either.
    let first_commit = tokio::spawn(async move {
        let mut c = Connection::connect(at, "kavka-tests").await.unwrap();
        commit_in(&mut c, "fresh", 1).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A new connection: `reader` still waits for its OffsetFetch.
    let mut lister = Connection::connect(at, "kavka-tests").await.unwrap();
    let listed = tokio::time::timeout(Duration::from_millis(1500), list_groups(&mut lister)).await;
    eprintln!("ListGroups while the group's first commit waits for the ISR: {listed:?}");
    assert!(
        !matches!(&listed, Ok(Ok(groups)) if groups.iter().any(|g| g == "fresh")),
        "ListGroups showed a group its ISR does not hold"
    );
    if pending.is_finished() {
        let early = (&mut pending).await.unwrap();
        assert_ne!(
            early,
            Some(0),
            "the commit was acknowledged without its ISR"
        );
    }

    // The coordinator dies before replicating the commit: a follower takes over without it.
    cluster.node(coordinator).kill();
    for &n in &followers {
        cluster.node(n).signal("-CONT");
    }
    let survivor = addrs[(followers[0] - 1) as usize];
    let (next, _, _) = wait_for_state(survivor, "__consumer_offsets", "led by a follower", |s| {
        followers.contains(&s.0)
    })
    .await;
    let at = addrs[(next - 1) as usize];
    let mut offset = Err(-1);
    for _ in 0..200 {
        let mut c = Connection::connect(at, "kavka-tests").await.unwrap();
        offset = committed(&mut c).await;
        if offset.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        offset,
        Ok(5),
        "the unreplicated commit is gone with its coordinator"
    );
    if !pending.is_finished() {
        assert_ne!(pending.await.unwrap(), Some(0), "9 was never acknowledged");
    }
    if !first_commit.is_finished() {
        assert_ne!(
            first_commit.await.unwrap(),
            Some(0),
            "the first commit of \"fresh\" was never acknowledged"
        );
    }
}
