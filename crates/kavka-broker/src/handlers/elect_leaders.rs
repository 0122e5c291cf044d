//! ElectLeaders (key 43, v0-2; `kafka-leader-election.sh`): preferred or unclean leader
//! elections for the named partitions, or all of them (`broker/elections.rs`). v0 knows only
//! preferred elections. An unknown election type is INVALID_REQUEST. Forwarded to the active
//! controller like the other controller APIs.

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kavka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};
use kavka_protocol::ErrorCode;

use super::{topic_name, RequestContext};
use crate::controller::elect_leaders::ElectionType;

/// Handles ElectLeaders.
pub fn handle(ctx: &RequestContext<'_>, request: ElectLeadersRequest) -> ElectLeadersResponse {
    let code = if ctx.version() >= 1 {
        request.election_type
    } else {
        0
    };
    let Some(kind) = ElectionType::from_code(code) else {
        return ElectLeadersResponse::default().with_error_code(ErrorCode::INVALID_REQUEST.code());
    };
    let partitions = request.topic_partitions.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.topic.0.to_string(), t.partitions))
            .collect()
    });
    let results = match ctx.broker.elect_leaders(kind, partitions) {
        Ok(r) => r,
        Err((code, _)) => return ElectLeadersResponse::default().with_error_code(code.code()),
    };
    let mut topics: Vec<ReplicaElectionResult> = Vec::new();
    for (topic, partition, code) in results {
        let result = PartitionResult::default()
            .with_partition_id(partition)
            .with_error_code(code.code())
            .with_error_message(
                (code != ErrorCode::NONE).then(|| StrBytes::from_static_str(code.name())),
            );
        match topics.iter_mut().find(|t| t.topic.0.as_str() == topic) {
            Some(t) => t.partition_result.push(result),
            None => topics.push(
                ReplicaElectionResult::default()
                    .with_topic(topic_name(&topic))
                    .with_partition_result(vec![result]),
            ),
        }
    }
    ElectLeadersResponse::default().with_replica_election_results(topics)
}
