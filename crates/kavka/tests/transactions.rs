//! Transactions over the wire: the coordinator's answer to each out-of-order or malformed
//! request (Kafka's error codes), read_committed fetches (LSO, aborted transactions), and the
//! describe/list APIs. Real clients run the happy paths in `tests/clients`.

mod common;

use bytes::Bytes;
use common::*;
use kavka_client::Connection;
use kavka_protocol::batch::Compression;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kavka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kavka_protocol::messages::*;
use kavka_protocol::records::BatchBuilder;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTIONAL_ID_NOT_FOUND: i16 = 105;

fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

async fn find_txn_coordinator(c: &mut Connection, id: &str) {
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![StrBytes::from_string(id.to_string())]);
    let Response::FindCoordinator(r) = c.send(4, Request::FindCoordinator(req)).await.unwrap()
    else {
        panic!("not a FindCoordinator response")
    };
    assert_eq!(r.coordinators[0].error_code, 0);
}

async fn init(c: &mut Connection, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(txn_id(id)))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    match c.send(4, Request::InitProducerId(req)).await.unwrap() {
        Response::InitProducerId(r) => (r.error_code, r.producer_id.0, r.producer_epoch),
        other => panic!("unexpected {other:?}"),
    }
}

async fn add(c: &mut Connection, id: &str, pid: i64, epoch: i16, topic: &str, p: i32) -> i16 {
    add_at(c, 3, id, pid, epoch, topic, p).await
}

async fn add_at(
    c: &mut Connection,
    version: i16,
    id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    p: i32,
) -> i16 {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(txn_id(id))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![p])]);
    match c
        .send(version, Request::AddPartitionsToTxn(req))
        .await
        .unwrap()
    {
        Response::AddPartitionsToTxn(r) => {
            r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
        }
        other => panic!("unexpected {other:?}"),
    }
}

async fn end(c: &mut Connection, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    match c.send(3, Request::EndTxn(req)).await.unwrap() {
        Response::EndTxn(r) => r.error_code,
        other => panic!("unexpected {other:?}"),
    }
}

fn txn_batch(pid: i64, epoch: i16, seq: i32, value: &str) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None)
        .with_producer(pid, epoch, seq)
        .transactional();
    b.append(0, None, Some(value.as_bytes()), &[]);
    b.build().unwrap()
}

async fn produce_txn(c: &mut Connection, id: &str, topic: &str, records: Bytes) -> i16 {
    let Request::Produce(req) = produce_request(topic, 0, -1, records) else {
        unreachable!()
    };
    let req = req.with_transactional_id(Some(txn_id(id)));
    match c.send(9, Request::Produce(req)).await.unwrap() {
        Response::Produce(r) => r.responses[0].partition_responses[0].error_code,
        other => panic!("unexpected {other:?}"),
    }
}

/// (high watermark, last stable offset, aborted producer ids, record count) at read_committed.
async fn fetch_committed(c: &mut Connection, topic: &str) -> (i64, i64, Vec<i64>, usize) {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let Response::Fetch(r) = c.send(11, Request::Fetch(req)).await.unwrap() else {
        panic!("not a Fetch response")
    };
    let p = &r.responses[0].partitions[0];
    let aborted = p
        .aborted_transactions
        .as_ref()
        .map(|a| a.iter().map(|t| t.producer_id.0).collect())
        .unwrap_or_default();
    let records = p.records.as_ref().map_or(0, |b| {
        kavka_protocol::batch::BatchIter::new(b)
            .filter_map(Result::ok)
            .filter(|b| !b.is_control())
            .map(|b| b.record_count() as usize)
            .sum()
    });
    (p.high_watermark, p.last_stable_offset, aborted, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_requests_get_kafkas_errors() {
    let b = TestBroker::start(&["transaction.max.timeout.ms=60000"]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "t", 1).await, 0);
    find_txn_coordinator(&mut c, "tx").await;
    assert_eq!(
        init(&mut c, "tx", 60_001).await.0,
        INVALID_TRANSACTION_TIMEOUT
    );
    let (e, pid, epoch) = init(&mut c, "tx", 10_000).await;
    assert_eq!((e, epoch), (0, 0));
    // Nothing open yet.
    assert_eq!(end(&mut c, "tx", pid, epoch, true).await, INVALID_TXN_STATE);
    // A transactional batch for a partition not in the transaction.
    assert_eq!(
        produce_txn(&mut c, "tx", "t", txn_batch(pid, epoch, 0, "x")).await,
        INVALID_TXN_STATE
    );
    assert_eq!(
        add(&mut c, "tx", pid + 1, epoch, "t", 0).await,
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        add(&mut c, "unknown", pid, epoch, "t", 0).await,
        INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(
        add(&mut c, "tx", pid, epoch, "t", 9).await,
        3,
        "UNKNOWN_TOPIC_OR_PARTITION"
    );
    assert_eq!(add(&mut c, "tx", pid, epoch, "t", 0).await, 0);
    assert_eq!(
        produce_txn(&mut c, "tx", "t", txn_batch(pid, epoch, 0, "a")).await,
        0
    );
    // A plain idempotent batch of the same producer inside its transaction.
    let mut plain = BatchBuilder::new(Compression::None).with_producer(pid, epoch, 1);
    plain.append(0, None, Some(b"p"), &[]);
    assert_eq!(
        produce(&mut c, "t", 0, -1, plain.build().unwrap()).await.0,
        INVALID_TXN_STATE
    );
    // The LSO is held at the open transaction.
    let (hw, lso, _, records) = fetch_committed(&mut c, "t").await;
    assert_eq!((hw, lso, records), (1, 0, 0));
    // A second producer fences the first: its transaction is aborted before it gets an epoch
    // (the broker waits for the abort's markers rather than answering CONCURRENT_TRANSACTIONS).
    let fenced = init(&mut c, "tx", 10_000).await;
    assert_eq!((fenced.0, fenced.1), (0, pid));
    assert!(
        fenced.2 > epoch + 1,
        "the abort took an epoch, the new producer the next"
    );
    assert_eq!(end(&mut c, "tx", pid, epoch, true).await, PRODUCER_FENCED);
    assert_eq!(add(&mut c, "tx", pid, epoch, "t", 0).await, PRODUCER_FENCED);
    // KIP-588: versions older than PRODUCER_FENCED are told INVALID_PRODUCER_EPOCH.
    assert_eq!(
        add_at(&mut c, 1, "tx", pid, epoch, "t", 0).await,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        produce_txn(&mut c, "tx", "t", txn_batch(pid, epoch, 1, "z")).await,
        PRODUCER_FENCED
    );
    // The aborted transaction is reported to read_committed fetches.
    let (hw, lso, aborted, records) = fetch_committed(&mut c, "t").await;
    assert_eq!((hw, lso), (2, 2), "data and the ABORT marker");
    assert_eq!((aborted, records), (vec![pid], 1));
    // A marker with an old epoch (a zombie coordinator) is refused.
    let req = WriteTxnMarkersRequest::default().with_markers(vec![
        kavka_protocol::messages::write_txn_markers_request::WritableTxnMarker::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(0)
            .with_transaction_result(true)
            .with_topics(vec![kavka_protocol::messages::write_txn_markers_request::WritableTxnMarkerTopic::default()
                .with_name(topic_name("t"))
                .with_partition_indexes(vec![0])]),
    ]);
    let Response::WriteTxnMarkers(r) = c.send(1, Request::WriteTxnMarkers(req)).await.unwrap()
    else {
        panic!("not a WriteTxnMarkers response")
    };
    assert_eq!(
        r.markers[0].topics[0].partitions[0].error_code,
        INVALID_PRODUCER_EPOCH
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_list_transactions() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "t", 2).await, 0);
    find_txn_coordinator(&mut c, "a").await;
    let (_, pa, ea) = init(&mut c, "a", 30_000).await;
    let (_, pb, _) = init(&mut c, "b", 30_000).await;
    assert_eq!(add(&mut c, "a", pa, ea, "t", 1).await, 0);
    let req = DescribeTransactionsRequest::default().with_transactional_ids(vec![
        txn_id("a"),
        txn_id("b"),
        txn_id("nope"),
    ]);
    let Response::DescribeTransactions(r) =
        c.send(0, Request::DescribeTransactions(req)).await.unwrap()
    else {
        panic!("not a DescribeTransactions response")
    };
    let s = &r.transaction_states;
    assert_eq!(
        (s[0].error_code, s[0].transaction_state.as_str()),
        (0, "Ongoing")
    );
    assert_eq!(
        (s[0].producer_id.0, s[0].transaction_timeout_ms),
        (pa, 30_000)
    );
    assert_eq!(s[0].topics[0].partitions, vec![1]);
    assert!(s[0].transaction_start_time_ms > 0);
    assert_eq!(
        (s[1].transaction_state.as_str(), s[1].producer_id.0),
        ("Empty", pb)
    );
    assert_eq!(s[2].error_code, TRANSACTIONAL_ID_NOT_FOUND);
    let req = ListTransactionsRequest::default().with_state_filters(vec![
        StrBytes::from_static_str("Ongoing"),
        StrBytes::from_static_str("Bogus"),
    ]);
    let Response::ListTransactions(r) = c.send(1, Request::ListTransactions(req)).await.unwrap()
    else {
        panic!("not a ListTransactions response")
    };
    let ids: Vec<&str> = r
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.0.as_str())
        .collect();
    assert_eq!(ids, ["a"]);
    assert_eq!(
        r.unknown_state_filters,
        vec![StrBytes::from_static_str("Bogus")]
    );
}
