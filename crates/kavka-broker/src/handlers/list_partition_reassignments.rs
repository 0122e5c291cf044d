//! ListPartitionReassignments (key 46, v0; `kafka-reassign-partitions.sh --verify`,
//! `--list`): the reassignments in progress, of the named partitions or all, each with its
//! replicas and the ones it adds and removes. Partitions with none in progress, and unknown
//! topics, are left out, as in Kafka. Forwarded to the active controller.

use kavka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kavka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::{topic_name, RequestContext};

fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().copied().map(BrokerId).collect()
}

/// Handles ListPartitionReassignments.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    let wanted = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let topics = ctx
        .broker
        .list_partition_reassignments(wanted)
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|(index, p)| {
                    OngoingPartitionReassignment::default()
                        .with_partition_index(index)
                        .with_replicas(ids(&p.replicas))
                        .with_adding_replicas(ids(&p.adding_replicas))
                        .with_removing_replicas(ids(&p.removing_replicas))
                })
                .collect();
            OngoingTopicReassignment::default()
                .with_name(topic_name(&name))
                .with_partitions(partitions)
        })
        .collect();
    ListPartitionReassignmentsResponse::default().with_topics(topics)
}
