//! Transactions over the wire: the coordinator's answer to each out-of-order or malformed
//! request (Kafka's error codes), read_committed fetches (LSO, aborted transactions), and the
//! describe/list APIs. Real clients run the happy paths in `tests/clients`.

mod common;

use common::txn::*;
use common::*;
use kavka_protocol::batch::Compression;
use kavka_protocol::codec::StrBytes;
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
