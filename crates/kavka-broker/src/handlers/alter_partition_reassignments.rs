//! AlterPartitionReassignments (key 45, v0-1; `kafka-reassign-partitions.sh --execute`,
//! `--cancel`): starts, changes or cancels the reassignment of each named partition
//! (`broker/reassign.rs`, decided by `controller/reassignment.rs`); each partition answers
//! its own error (UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT,
//! NO_REASSIGNMENT_IN_PROGRESS, INVALID_REPLICATION_FACTOR with v1's
//! `allow_replication_factor_change` false). Forwarded to the active controller.

use kavka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kavka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};

use super::{message, topic_name, RequestContext};

/// Handles AlterPartitionReassignments.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    // v0 has no such field: the replication factor may change, as before KIP-860.
    let allow_rf_change = ctx.version() < 1 || request.allow_replication_factor_change;
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let target = p.replicas.map(|r| r.into_iter().map(|b| b.0).collect());
                    (p.partition_index, target)
                })
                .collect();
            (t.name.0.to_string(), partitions)
        })
        .collect();
    let response = AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(allow_rf_change);
    let results = match ctx
        .broker
        .alter_partition_reassignments(topics, allow_rf_change)
    {
        Ok(r) => r,
        Err((code, why)) => {
            return response
                .with_error_code(code.code())
                .with_error_message(message(why))
        }
    };
    let responses = results
        .into_iter()
        .map(|(topic, outcomes)| {
            let partitions = outcomes
                .into_iter()
                .map(|(index, code, why)| {
                    ReassignablePartitionResponse::default()
                        .with_partition_index(index)
                        .with_error_code(code.code())
                        .with_error_message(message(why))
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(topic_name(&topic))
                .with_partitions(partitions)
        })
        .collect();
    response.with_responses(responses)
}
