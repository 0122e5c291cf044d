//! TxnOffsetCommit (v0-5): a transactional producer commits its consumer's offsets inside its
//! transaction (`send_offsets_to_transaction`). The group's `__consumer_offsets` partition must
//! be in the transaction (AddOffsetsToTxn came first; v5, transactions version 2, adds it
//! itself); the offsets are appended as a
//! transactional batch of the producer and become visible with the transaction's COMMIT marker.
//! v3+ carry the member's generation, checked as OffsetCommit checks it.

use kavka_coordinator::group::api::{CommitPartition, CommitRequest};
use kavka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kavka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::controller::CONSUMER_OFFSETS_TOPIC;

/// First version of transactions version 2 (KIP-890 part 2): the offsets partition is added
/// to the transaction by this request.
const IMPLICIT_ADD_VERSION: i16 = 5;

/// First version carrying the generation, member and instance ids.
const GENERATION_VERSION: i16 = 3;

/// Whether the group's offsets partition is in the producer's transaction.
fn offsets_partition_in_txn(
    ctx: &RequestContext<'_>,
    r: &TxnOffsetCommitRequest,
) -> Result<(), ErrorCode> {
    let index = ctx.broker.groups().partition_of(r.group_id.0.as_str())?;
    let txn_id = r.transactional_id.0.as_str();
    let target = [(CONSUMER_OFFSETS_TOPIC.to_string(), index)];
    if ctx.version() >= IMPLICIT_ADD_VERSION {
        // Transactions version 2: no AddOffsetsToTxn; the partition joins now.
        return ctx.broker.txns().add_implicitly(
            txn_id,
            (r.producer_id.0, r.producer_epoch),
            &target,
        );
    }
    let verified = ctx.broker.txns().run(txn_id, |state| {
        let v = state
            .machine
            .verify_partitions(txn_id, r.producer_id.0, r.producer_epoch, &target);
        (v, Default::default())
    })??;
    if verified.first() == Some(&true) {
        Ok(())
    } else {
        Err(ErrorCode::INVALID_TXN_STATE)
    }
}

/// Handles TxnOffsetCommit.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let image = ctx.broker.image();
    let mut refused: Vec<Option<ErrorCode>> = Vec::new();
    let mut partitions = Vec::new();
    for t in &request.topics {
        let topic = image.topic_by_name(t.name.0.as_str());
        for p in &t.partitions {
            match topic {
                Some(ti) if ti.partitions.contains_key(&p.partition_index) => {
                    refused.push(None);
                    partitions.push(CommitPartition {
                        topic: ti.name.clone(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                    });
                }
                _ => refused.push(Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)),
            }
        }
    }
    let with_generation = ctx.version() >= GENERATION_VERSION;
    let errors = if partitions.is_empty() {
        Vec::new()
    } else {
        let count = partitions.len();
        match offsets_partition_in_txn(ctx, &request) {
            Err(code) => {
                vec![crate::txn_coordinator::fenced_for_version(code, ctx.version(), 3); count]
            }
            Ok(()) => ctx.broker.groups().txn_commit_offsets(
                &CommitRequest {
                    group_id: request.group_id.0.to_string(),
                    generation_id: if with_generation {
                        request.generation_id
                    } else {
                        -1
                    },
                    member_id: if with_generation {
                        request.member_id.to_string()
                    } else {
                        String::new()
                    },
                    group_instance_id: if with_generation {
                        request.group_instance_id.as_ref().map(|s| s.to_string())
                    } else {
                        None
                    },
                    retention_time_ms: -1,
                    partitions,
                },
                request.producer_id.0,
                request.producer_epoch,
            ),
        }
    };
    let mut errors = errors.into_iter();
    let mut refused = refused.into_iter();
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let code = refused.next().flatten().unwrap_or_else(|| {
                        errors.next().unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR)
                    });
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
