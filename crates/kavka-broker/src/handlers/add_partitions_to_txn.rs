//! AddPartitionsToTxn (v0-5): partitions join a transaction. v0-3 carry one transaction from
//! its producer; v4 carries several (KIP-890 part 1), each optionally `verify_only` (is the
//! partition already in the transaction?); v5 only allows the TRANSACTION_ABORTABLE code,
//! which this coordinator never needs (a version-2 producer does not send this request). A partition the cluster does not have gets
//! UNKNOWN_TOPIC_OR_PARTITION and the others of its transaction OPERATION_NOT_ATTEMPTED, as in
//! Kafka.

use kavka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kavka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kavka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::broker::now_ms;
use crate::txn_coordinator::fenced_for_version;

/// First version with batched transactions.
const BATCHED_VERSION: i16 = 4;

/// Per-partition results of one transaction's request.
fn results(
    ctx: &RequestContext<'_>,
    transactional_id: &str,
    producer_id: i64,
    epoch: i16,
    verify_only: bool,
    topics: &[AddPartitionsToTxnTopic],
) -> Vec<AddPartitionsToTxnTopicResult> {
    let image = ctx.broker.image();
    let partitions: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|&p| (t.name.0.to_string(), p)))
        .collect();
    let known = |(topic, p): &(String, i32)| {
        image
            .topic_by_name(topic)
            .is_some_and(|t| t.partitions.contains_key(p))
    };
    let codes: Vec<ErrorCode> = if !partitions.iter().all(known) {
        partitions
            .iter()
            .map(|tp| {
                if known(tp) {
                    ErrorCode::OPERATION_NOT_ATTEMPTED
                } else {
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                }
            })
            .collect()
    } else if verify_only {
        let verified = ctx.broker.txns().run(transactional_id, |state| {
            let r =
                state
                    .machine
                    .verify_partitions(transactional_id, producer_id, epoch, &partitions);
            (r, Default::default())
        });
        match verified {
            Ok(Ok(in_txn)) => in_txn
                .into_iter()
                .map(|yes| {
                    if yes {
                        ErrorCode::NONE
                    } else {
                        ErrorCode::INVALID_TXN_STATE
                    }
                })
                .collect(),
            Ok(Err(code)) | Err(code) => {
                vec![fenced_for_version(code, ctx.version(), 2); partitions.len()]
            }
        }
    } else {
        let added = ctx
            .broker
            .txns()
            .run_after_markers(transactional_id, |state| {
                state.machine.add_partitions(
                    now_ms(),
                    transactional_id,
                    producer_id,
                    epoch,
                    &partitions,
                )
            });
        let code = fenced_for_version(added.err().unwrap_or(ErrorCode::NONE), ctx.version(), 2);
        vec![code; partitions.len()]
    };
    let mut codes = codes.into_iter();
    topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|&p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(
                                    codes.next().unwrap_or(ErrorCode::NONE).code(),
                                )
                        })
                        .collect(),
                )
        })
        .collect()
}

/// Handles AddPartitionsToTxn.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    if ctx.version() < BATCHED_VERSION {
        let topics = results(
            ctx,
            &request.v3_and_below_transactional_id.0,
            request.v3_and_below_producer_id.0,
            request.v3_and_below_producer_epoch,
            false,
            &request.v3_and_below_topics,
        );
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics);
    }
    let results = request
        .transactions
        .iter()
        .map(|t| {
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_topic_results(results(
                    ctx,
                    &t.transactional_id.0,
                    t.producer_id.0,
                    t.producer_epoch,
                    t.verify_only,
                    &t.topics,
                ))
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}
