//! Transactions version 2 (KIP-890 part 2) over the wire: the `transaction.version` feature in
//! ApiVersions, partitions and offsets added by Produce v12 and TxnOffsetCommit v5 without
//! AddPartitionsToTxn / AddOffsetsToTxn, the epoch bumped by every EndTxn v5 (retries
//! recognised, late writes of a finished transaction fenced), and version-1 producers served
//! beside version-2 ones. No client available here speaks version 2 yet (the Java client
//! does), so these raw requests stand for it.

mod common;

use common::txn::*;
use common::*;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kavka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kavka_protocol::messages::*;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

const INVALID_TXN_STATE: i16 = 48;
const PRODUCER_FENCED: i16 = 90;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feature_is_advertised_and_the_v2_versions_served() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("kavka-test"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    let Response::ApiVersions(r) = c.send(3, Request::ApiVersions(req)).await.unwrap() else {
        panic!("not an ApiVersions response")
    };
    let supported: Vec<_> = r
        .supported_features
        .iter()
        .map(|f| (f.name.as_str(), f.min_version, f.max_version))
        .collect();
    assert!(
        supported.contains(&("transaction.version", 0, 2)),
        "{supported:?}"
    );
    let finalized: Vec<_> = r
        .finalized_features
        .iter()
        .map(|f| (f.name.as_str(), f.min_version_level, f.max_version_level))
        .collect();
    assert!(
        finalized.contains(&("transaction.version", 2, 2)),
        "{finalized:?}"
    );
    assert!(r.finalized_features_epoch >= 0);
    let max = |key: i16| {
        r.api_keys
            .iter()
            .find(|k| k.api_key == key)
            .map(|k| k.max_version)
    };
    // Produce 12+, TxnOffsetCommit 5, EndTxn 5, AddPartitionsToTxn 5.
    assert!(max(0).unwrap() >= 12);
    assert_eq!((max(28), max(26), max(24)), (Some(5), Some(5), Some(5)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_join_implicitly_and_every_end_txn_bumps_the_epoch() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "t", 1).await, 0);
    find_txn_coordinator(&mut c, "tx").await;
    let (e, pid, epoch) = init(&mut c, "tx", 30_000).await;
    assert_eq!((e, epoch), (0, 0));
    // Produce v12 adds the partition itself (v9 would be refused: see transactions.rs).
    assert_eq!(
        produce_txn_at(&mut c, 12, "tx", "t", txn_batch(pid, 0, 0, "a")).await,
        0
    );
    assert_eq!(fetch_committed(&mut c, "t").await, (1, 0, vec![], 0));
    // Commit: the answer names the next epoch; a retry (old epoch) gets the same answer.
    assert_eq!(end_v5(&mut c, "tx", pid, 0, true).await, (0, pid, 1));
    assert_eq!(end_v5(&mut c, "tx", pid, 0, true).await, (0, pid, 1));
    assert_eq!(settled(&mut c, 2).await, (2, 2, vec![], 1));
    // A late write of the finished transaction, at its old epoch, is fenced.
    assert_eq!(
        produce_txn_at(&mut c, 12, "tx", "t", txn_batch(pid, 0, 1, "late")).await,
        PRODUCER_FENCED
    );
    // The next transaction runs at the new epoch, from sequence 0, and aborts.
    assert_eq!(
        produce_txn_at(&mut c, 12, "tx", "t", txn_batch(pid, 1, 0, "b")).await,
        0
    );
    assert_eq!(end_v5(&mut c, "tx", pid, 1, false).await, (0, pid, 2));
    assert_eq!(settled(&mut c, 4).await, (4, 4, vec![pid], 2));
    // Committing nothing is refused; aborting nothing still bumps.
    assert_eq!(
        end_v5(&mut c, "tx", pid, 2, true).await.0,
        INVALID_TXN_STATE
    );
    assert_eq!(end_v5(&mut c, "tx", pid, 2, false).await, (0, pid, 3));
    assert_eq!(
        end_v5(&mut c, "tx", pid, 9, false).await.0,
        PRODUCER_FENCED,
        "an epoch the coordinator never gave"
    );
}

/// What a read_committed fetch of "t" sees once the markers are written (the log end reaches
/// `end`): EndTxn answers before they are.
async fn settled(c: &mut kavka_client::Connection, end: i64) -> (i64, i64, Vec<i64>, usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen = fetch_committed(c, "t").await;
        if seen.1 >= end || std::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_join_implicitly_with_txn_offset_commit_v5() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "t", 1).await, 0);
    find_txn_coordinator(&mut c, "tx").await;
    let (_, pid, epoch) = init(&mut c, "tx", 30_000).await;
    // As a client does: the group's coordinator first (this creates __consumer_offsets).
    let req = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![StrBytes::from_static_str("g")]);
    let Response::FindCoordinator(r) = c.send(4, Request::FindCoordinator(req)).await.unwrap()
    else {
        panic!("not a FindCoordinator response")
    };
    assert_eq!(r.coordinators[0].error_code, 0);
    let commit = |epoch: i16, offset: i64| {
        TxnOffsetCommitRequest::default()
            .with_transactional_id(txn_id("tx"))
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_member_id(StrBytes::from_static_str(""))
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])])
    };
    let Response::TxnOffsetCommit(r) = c
        .send(5, Request::TxnOffsetCommit(commit(epoch, 42)))
        .await
        .unwrap()
    else {
        panic!("not a TxnOffsetCommit response")
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    assert_eq!(
        committed_offset(&mut c).await,
        -1,
        "pending until the marker"
    );
    assert_eq!(
        end_v5(&mut c, "tx", pid, epoch, true).await,
        (0, pid, epoch + 1)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while committed_offset(&mut c).await != 42 {
        assert!(
            std::time::Instant::now() < deadline,
            "offset never committed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // TxnOffsetCommit at the old epoch: fenced.
    let Response::TxnOffsetCommit(r) = c
        .send(5, Request::TxnOffsetCommit(commit(epoch, 50)))
        .await
        .unwrap()
    else {
        panic!("not a TxnOffsetCommit response")
    };
    assert_eq!(r.topics[0].partitions[0].error_code, PRODUCER_FENCED);
}

/// The committed offset of "t"-0 in group "g" (OffsetFetch v7, require_stable off).
async fn committed_offset(c: &mut kavka_client::Connection) -> i64 {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("g")))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name("t"))
            .with_partition_indexes(vec![0])]));
    let Response::OffsetFetch(r) = c.send(7, Request::OffsetFetch(req)).await.unwrap() else {
        panic!("not an OffsetFetch response")
    };
    r.topics[0].partitions[0].committed_offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_1_producers_are_served_beside_version_2() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "t", 1).await, 0);
    find_txn_coordinator(&mut c, "v1").await;
    let (_, pid, epoch) = init(&mut c, "v1", 30_000).await;
    assert_eq!(add(&mut c, "v1", pid, epoch, "t", 0).await, 0);
    assert_eq!(
        produce_txn(&mut c, "v1", "t", txn_batch(pid, epoch, 0, "a")).await,
        0
    );
    assert_eq!(end(&mut c, "v1", pid, epoch, true).await, 0);
    // Version 1 keeps the epoch: the next transaction uses it again.
    assert_eq!(add(&mut c, "v1", pid, epoch, "t", 0).await, 0);
    assert_eq!(
        produce_txn(&mut c, "v1", "t", txn_batch(pid, epoch, 1, "b")).await,
        0
    );
    assert_eq!(end(&mut c, "v1", pid, epoch, true).await, 0);
    assert_eq!(settled(&mut c, 4).await, (4, 4, vec![], 2));
}
