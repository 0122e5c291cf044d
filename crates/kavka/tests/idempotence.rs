//! Idempotent produce over the wire: InitProducerId at every served version, the error code of
//! each refused batch, retries answered with the original offsets, and the producer state and
//! producer ids across clean and kill -9 restarts. (Transactions: `transactions.rs`.)

mod common;

use bytes::Bytes;
use common::*;
use kavka_client::Connection;
use kavka_protocol::batch::Compression;
use kavka_protocol::messages::describe_producers_request::TopicRequest;
use kavka_protocol::messages::{
    DescribeProducersRequest, InitProducerIdRequest, ProducerId, TransactionalId,
};
use kavka_protocol::records::BatchBuilder;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_REQUEST: i16 = 42;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;

/// (error, producer id, epoch) of an InitProducerId.
async fn init_producer_id(
    conn: &mut Connection,
    version: i16,
    request: InitProducerIdRequest,
) -> (i16, i64, i16) {
    match conn
        .send(version, Request::InitProducerId(request))
        .await
        .unwrap()
    {
        Response::InitProducerId(r) => (r.error_code, r.producer_id.0, r.producer_epoch),
        other => panic!("unexpected {other:?}"),
    }
}

fn plain_init() -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// A batch of `count` records of producer `pid` at `epoch`, from sequence `seq`.
fn idempotent_batch(pid: i64, epoch: i16, seq: i32, count: usize) -> Bytes {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut b = BatchBuilder::new(Compression::None).with_producer(pid, epoch, seq);
    for i in 0..count {
        b.append(
            now_ms,
            None,
            Some(format!("s{}", seq as usize + i).as_bytes()),
            &[],
        );
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_producer_id_gives_fresh_ids_at_every_version() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    let mut ids = Vec::new();
    for version in 0..=5 {
        let (error, id, epoch) = init_producer_id(&mut c, version, plain_init()).await;
        assert_eq!((error, epoch), (0, 0), "v{version}");
        ids.push(id);
    }
    let mut unique = ids.clone();
    unique.dedup();
    assert_eq!(unique, ids, "ids are distinct");
    // v3+: an id without an epoch (or the reverse) is malformed.
    let half = plain_init().with_producer_id(ProducerId(7));
    assert_eq!(init_producer_id(&mut c, 4, half).await.0, INVALID_REQUEST);
    // A transactional id before any FindCoordinator created __transaction_state: the
    // coordinator is not there yet (clients ask FindCoordinator first and retry).
    let txn = plain_init().with_transactional_id(Some(TransactionalId(
        kavka_protocol::codec::StrBytes::from_static_str("txn-1"),
    )));
    assert_eq!(
        init_producer_id(&mut c, 4, txn.clone()).await.0,
        COORDINATOR_NOT_AVAILABLE
    );
    // An empty transactional id is malformed.
    let empty = plain_init().with_transactional_id(Some(TransactionalId(
        kavka_protocol::codec::StrBytes::from_static_str(""),
    )));
    assert_eq!(
        init_producer_id(&mut c, 4, empty).await.0,
        COORDINATOR_NOT_AVAILABLE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_refused_batch_gets_kafkas_error_code() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "idem", 1).await, 0);
    let (error, pid, _) = init_producer_id(&mut c, 4, plain_init()).await;
    assert_eq!(error, 0);

    assert_eq!(
        produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 0, 0, 3)).await,
        (0, 0)
    );
    assert_eq!(
        produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 0, 3, 2)).await,
        (0, 3)
    );
    // A retry of either batch: its original base offset, nothing appended.
    assert_eq!(
        produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 0, 0, 3)).await,
        (0, 0)
    );
    assert_eq!(
        produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 0, 3, 2)).await,
        (0, 3)
    );
    // A gap.
    assert_eq!(
        produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 0, 9, 1))
            .await
            .0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    // A new epoch must start at 0; then the old epoch is fenced.
    assert_eq!(
        produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 1, 5, 1))
            .await
            .0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 1, 0, 1)).await,
        (0, 5)
    );
    assert_eq!(
        produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 0, 5, 1))
            .await
            .0,
        INVALID_PRODUCER_EPOCH
    );
    // A transactional batch: no transaction exists.
    let mut txn = idempotent_batch(pid, 1, 1, 1).to_vec();
    txn[22] |= 0x10;
    let crc = crc32c::crc32c(&txn[21..]);
    txn[17..21].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        produce(&mut c, "idem", 0, -1, Bytes::from(txn)).await.0,
        INVALID_TXN_STATE
    );
    let all = read_all(&mut c, "idem", 0).await;
    let values: Vec<&str> = all.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, ["s0", "s1", "s2", "s3", "s4", "s0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn producer_state_and_ids_survive_clean_and_kill_9_restarts() {
    let mut b = TestBroker::start(&["log.flush.interval.messages=1"]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "idem", 1).await, 0);
    let (error, pid, _) = init_producer_id(&mut c, 4, plain_init()).await;
    assert_eq!(error, 0);
    let mut seq = 0;
    let mut next_offset = 0;
    let mut seen_ids = vec![pid];
    for round in 0..4 {
        for _ in 0..5 {
            let r = produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 0, seq, 2)).await;
            assert_eq!(r, (0, next_offset));
            seq += 2;
            next_offset += 2;
        }
        drop(c);
        if round % 2 == 0 {
            b.kill();
        } else {
            b.stop();
        }
        b.restart();
        c = b.connect().await;
        // The last five batches are still recognised as retries...
        for back in 1..=5 {
            let s = seq - 2 * back;
            let r = produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 0, s, 2)).await;
            assert_eq!(r, (0, i64::from(s)), "round {round}: retry of seq {s}");
        }
        // ...and a gap is still a gap.
        let r = produce(&mut c, "idem", 0, -1, idempotent_batch(pid, 0, seq + 1, 1)).await;
        assert_eq!(r.0, OUT_OF_ORDER_SEQUENCE_NUMBER, "round {round}");
        // Ids given after a restart were never given before.
        let (_, id, _) = init_producer_id(&mut c, 4, plain_init()).await;
        assert!(!seen_ids.contains(&id), "producer id {id} reused");
        seen_ids.push(id);
    }
    assert_eq!(
        read_all(&mut c, "idem", 0).await.len(),
        next_offset as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_producers_lists_each_partitions_producers() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "desc", 2).await, 0);
    let (_, p1, _) = init_producer_id(&mut c, 4, plain_init()).await;
    let (_, p2, _) = init_producer_id(&mut c, 4, plain_init()).await;
    produce(&mut c, "desc", 0, -1, idempotent_batch(p1, 0, 0, 3)).await;
    produce(&mut c, "desc", 0, -1, idempotent_batch(p2, 0, 0, 1)).await;
    produce(&mut c, "desc", 0, -1, idempotent_batch(p1, 0, 3, 2)).await;
    produce(&mut c, "desc", 1, 1, batch("plain", 0, 2)).await;
    let request = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(topic_name("desc"))
            .with_partition_indexes(vec![0, 1, 7]),
        TopicRequest::default()
            .with_name(topic_name("missing"))
            .with_partition_indexes(vec![0]),
    ]);
    let Response::DescribeProducers(r) = c
        .send(0, Request::DescribeProducers(request))
        .await
        .unwrap()
    else {
        panic!("not a DescribeProducers response");
    };
    let parts = &r.topics[0].partitions;
    let seen: Vec<(i64, i32, i32)> = parts[0]
        .active_producers
        .iter()
        .map(|p| (p.producer_id.0, p.producer_epoch, p.last_sequence))
        .collect();
    assert_eq!(
        seen,
        [
            (p1.min(p2), 0, if p1 < p2 { 4 } else { 0 }),
            (p1.max(p2), 0, if p1 < p2 { 0 } else { 4 })
        ]
    );
    assert!(parts[0]
        .active_producers
        .iter()
        .all(|p| p.last_timestamp > 0 && p.current_txn_start_offset == -1));
    assert!(parts[1].active_producers.is_empty() && parts[1].error_code == 0);
    assert_eq!(parts[2].error_code, 3, "UNKNOWN_TOPIC_OR_PARTITION");
    assert_eq!(r.topics[1].partitions[0].error_code, 3);
}
