//! DescribeQuorum (key 55): the metadata quorum, whose only voter is this node: it leads, its
//! log end is the high watermark, and it has no observers. Only `__cluster_metadata`
//! partition 0 has a quorum; another partition gets UNKNOWN_TOPIC_OR_PARTITION, as from
//! Kafka's Raft client. The voter's node entry (v2) lists no listener: the controller has no
//! listener of its own yet (it is in-process).

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::describe_quorum_response::{
    Node, PartitionData, ReplicaState, TopicData,
};
use kavka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::RequestContext;
use crate::controller::CLUSTER_METADATA_TOPIC;

/// Handles DescribeQuorum.
pub fn handle(ctx: &RequestContext<'_>, request: DescribeQuorumRequest) -> DescribeQuorumResponse {
    let broker = ctx.broker;
    let node = broker.config().node_id;
    let (epoch, committed) = broker.quorum_position();
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let is_metadata = t.topic_name.0.as_str() == CLUSTER_METADATA_TOPIC;
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let result = PartitionData::default().with_partition_index(p.partition_index);
                    if !is_metadata || p.partition_index != 0 {
                        return result
                            .with_error_code(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.code())
                            .with_leader_id(BrokerId(-1))
                            .with_leader_epoch(-1)
                            .with_high_watermark(-1);
                    }
                    let voter = ReplicaState::default()
                        .with_replica_id(BrokerId(node))
                        .with_replica_directory_id(if ctx.version() >= 2 {
                            broker.metadata_directory_id().unwrap_or(Uuid::nil())
                        } else {
                            Uuid::nil()
                        })
                        // Kafka's log end offset: the offset after the last entry.
                        .with_log_end_offset(committed as i64 + 1)
                        // Kafka reports -1 for the leader itself.
                        .with_last_fetch_timestamp(-1)
                        .with_last_caught_up_timestamp(-1);
                    result
                        .with_leader_id(BrokerId(node))
                        .with_leader_epoch(epoch as i32)
                        .with_high_watermark(committed as i64 + 1)
                        .with_current_voters(vec![voter])
                })
                .collect();
            TopicData::default()
                .with_topic_name(t.topic_name)
                .with_partitions(partitions)
        })
        .collect();
    let nodes = if ctx.version() >= 2 {
        vec![Node::default().with_node_id(BrokerId(node))]
    } else {
        vec![]
    };
    DescribeQuorumResponse::default()
        .with_topics(topics)
        .with_nodes(nodes)
        .with_error_message(None::<StrBytes>)
}
