//! DescribeQuorum (key 55): the metadata quorum as its leader knows it: leader, epoch, high
//! watermark, every voter's log end, and every observer (broker-only node) that fetched from
//! this leader with its log end and last fetch time. A node that does not lead passes the
//! request on to the leader (`forward`); with no leader known it answers
//! NOT_LEADER_OR_FOLLOWER, as Kafka's Raft client does. Only `__cluster_metadata` partition 0
//! has a quorum; another partition gets UNKNOWN_TOPIC_OR_PARTITION. The nodes' entries (v2)
//! list each voter's controller channel from `controller.quorum.voters` (none for a single
//! node, whose controller is in-process).

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kavka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::RequestContext;
use crate::controller::CLUSTER_METADATA_TOPIC;

/// Handles DescribeQuorum.
pub fn handle(ctx: &RequestContext<'_>, request: DescribeQuorumRequest) -> DescribeQuorumResponse {
    let broker = ctx.broker;
    let view = broker.quorum_view();
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
                    let Some(view) = &view else {
                        return result
                            .with_error_code(ErrorCode::NOT_LEADER_OR_FOLLOWER.code())
                            .with_leader_id(BrokerId(-1))
                            .with_leader_epoch(-1)
                            .with_high_watermark(-1);
                    };
                    let voters = view
                        .voters
                        .iter()
                        .map(|&(id, log_end)| {
                            let directory = if ctx.version() >= 2 && id == view.leader {
                                broker.metadata_directory_id().unwrap_or(Uuid::nil())
                            } else {
                                Uuid::nil()
                            };
                            ReplicaState::default()
                                .with_replica_id(BrokerId(id))
                                .with_replica_directory_id(directory)
                                .with_log_end_offset(log_end)
                                // Kafka reports -1 for the leader itself; this leader does not
                                // keep the others' fetch times.
                                .with_last_fetch_timestamp(-1)
                                .with_last_caught_up_timestamp(-1)
                        })
                        .collect();
                    let observers = view
                        .observers
                        .iter()
                        .map(|&(id, log_end, fetched_at)| {
                            ReplicaState::default()
                                .with_replica_id(BrokerId(id))
                                .with_replica_directory_id(Uuid::nil())
                                .with_log_end_offset(log_end)
                                .with_last_fetch_timestamp(fetched_at)
                                .with_last_caught_up_timestamp(if log_end >= view.high_watermark {
                                    fetched_at
                                } else {
                                    -1
                                })
                        })
                        .collect();
                    result
                        .with_leader_id(BrokerId(view.leader))
                        .with_leader_epoch(view.epoch)
                        .with_high_watermark(view.high_watermark)
                        .with_current_voters(voters)
                        .with_observers(observers)
                })
                .collect();
            TopicData::default()
                .with_topic_name(t.topic_name)
                .with_partitions(partitions)
        })
        .collect();
    let nodes = match &view {
        Some(view) if ctx.version() >= 2 => view
            .voters
            .iter()
            .map(|&(id, _)| {
                let listeners = broker
                    .config()
                    .voters
                    .iter()
                    .filter(|v| v.id == id)
                    .map(|v| {
                        Listener::default()
                            .with_name(StrBytes::from_static_str("CONTROLLER"))
                            .with_host(StrBytes::from_string(v.host.clone()))
                            .with_port(v.port)
                    })
                    .collect();
                Node::default()
                    .with_node_id(BrokerId(id))
                    .with_listeners(listeners)
            })
            .collect(),
        _ => vec![],
    };
    DescribeQuorumResponse::default()
        .with_topics(topics)
        .with_nodes(nodes)
        .with_error_message(None::<StrBytes>)
}
