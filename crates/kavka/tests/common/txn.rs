//! Transaction requests over the wire, shared by the transaction tests.

use bytes::Bytes;
use kavka_client::Connection;
use kavka_protocol::batch::Compression;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kavka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kavka_protocol::messages::*;
use kavka_protocol::records::BatchBuilder;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

use super::{produce_request, topic_name};

pub fn txn_id(id: &str) -> TransactionalId {
    TransactionalId(StrBytes::from_string(id.to_string()))
}

pub async fn find_txn_coordinator(c: &mut Connection, id: &str) {
    let req = FindCoordinatorRequest::default()
        .with_key_type(1)
        .with_coordinator_keys(vec![StrBytes::from_string(id.to_string())]);
    let Response::FindCoordinator(r) = c.send(4, Request::FindCoordinator(req)).await.unwrap()
    else {
        panic!("not a FindCoordinator response")
    };
    assert_eq!(r.coordinators[0].error_code, 0);
}

pub async fn init(c: &mut Connection, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
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

pub async fn add(c: &mut Connection, id: &str, pid: i64, epoch: i16, topic: &str, p: i32) -> i16 {
    add_at(c, 3, id, pid, epoch, topic, p).await
}

pub async fn add_at(
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

pub async fn end(c: &mut Connection, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
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

pub fn txn_batch(pid: i64, epoch: i16, seq: i32, value: &str) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None)
        .with_producer(pid, epoch, seq)
        .transactional();
    b.append(0, None, Some(value.as_bytes()), &[]);
    b.build().unwrap()
}

pub async fn produce_txn(c: &mut Connection, id: &str, topic: &str, records: Bytes) -> i16 {
    produce_txn_at(c, 9, id, topic, records).await
}

/// A transactional Produce at `version` (v12+: transactions version 2, partitions added by the
/// broker).
pub async fn produce_txn_at(
    c: &mut Connection,
    version: i16,
    id: &str,
    topic: &str,
    records: Bytes,
) -> i16 {
    let Request::Produce(req) = produce_request(topic, 0, -1, records) else {
        unreachable!()
    };
    let req = req.with_transactional_id(Some(txn_id(id)));
    match c.send(version, Request::Produce(req)).await.unwrap() {
        Response::Produce(r) => r.responses[0].partition_responses[0].error_code,
        other => panic!("unexpected {other:?}"),
    }
}

/// EndTxn v5 (transactions version 2): (error code, next producer id, next epoch).
pub async fn end_v5(
    c: &mut Connection,
    id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> (i16, i64, i16) {
    let req = EndTxnRequest::default()
        .with_transactional_id(txn_id(id))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    match c.send(5, Request::EndTxn(req)).await.unwrap() {
        Response::EndTxn(r) => (r.error_code, r.producer_id.0, r.producer_epoch),
        other => panic!("unexpected {other:?}"),
    }
}

/// (high watermark, last stable offset, aborted producer ids, record count) at read_committed.
pub async fn fetch_committed(c: &mut Connection, topic: &str) -> (i64, i64, Vec<i64>, usize) {
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
