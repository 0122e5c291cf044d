//! OffsetCommit (key 8), v2-10: stores a group's consumed offsets in `__consumer_offsets`.
//! v2-4 carry a retention time (-1 afterwards), v6+ the leader epoch of each offset, v7+ the
//! static member id; v10 names topics by id (an unknown id gets UNKNOWN_TOPIC_ID and is not
//! committed). A topic or partition the cluster does not have gets UNKNOWN_TOPIC_OR_PARTITION
//! and is not committed, as in Kafka.

use kavka_coordinator::group::api::{CommitPartition, CommitRequest};
use kavka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kavka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;

/// First version naming topics by id.
const TOPIC_IDS_VERSION: i16 = 10;
/// Last version carrying `retention_time_ms`.
const RETENTION_VERSION_MAX: i16 = 4;
/// First version carrying `committed_leader_epoch`.
const LEADER_EPOCH_VERSION: i16 = 6;
/// First version carrying `group_instance_id`.
const INSTANCE_ID_VERSION: i16 = 7;

/// Handles OffsetCommit.
pub fn handle(ctx: &RequestContext<'_>, request: OffsetCommitRequest) -> OffsetCommitResponse {
    let version = ctx.version();
    let by_id = version >= TOPIC_IDS_VERSION;
    let image = ctx.broker.image();
    // Each partition is either refused here (a topic or partition this cluster does not have,
    // as Kafka's KafkaApis checks before the coordinator) or passed to the coordinator.
    let missing = if by_id {
        ErrorCode::UNKNOWN_TOPIC_ID
    } else {
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    };
    let mut refused: Vec<Option<ErrorCode>> = Vec::new();
    let mut partitions: Vec<CommitPartition> = Vec::new();
    for t in &request.topics {
        let topic = if by_id {
            image.topic_by_id(&t.topic_id)
        } else {
            image.topic_by_name(t.name.0.as_str())
        };
        for p in &t.partitions {
            match topic {
                None => refused.push(Some(missing)),
                Some(ti) if !ti.partitions.contains_key(&p.partition_index) => {
                    refused.push(Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION))
                }
                Some(ti) => {
                    refused.push(None);
                    partitions.push(CommitPartition {
                        topic: ti.name.clone(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: if version >= LEADER_EPOCH_VERSION {
                            p.committed_leader_epoch
                        } else {
                            -1
                        },
                        metadata: p
                            .committed_metadata
                            .as_ref()
                            .map(|m| m.as_str().to_string()),
                    });
                }
            }
        }
    }
    // Nothing to commit: the coordinator is not asked, as in Kafka.
    let errors = if partitions.is_empty() {
        Vec::new()
    } else {
        ctx.broker.groups().commit_offsets(&CommitRequest {
            group_id: request.group_id.0.as_str().to_string(),
            generation_id: request.generation_id_or_member_epoch,
            member_id: request.member_id.as_str().to_string(),
            group_instance_id: if version >= INSTANCE_ID_VERSION {
                request
                    .group_instance_id
                    .as_ref()
                    .map(|s| s.as_str().to_string())
            } else {
                None
            },
            retention_time_ms: if version <= RETENTION_VERSION_MAX {
                request.retention_time_ms
            } else {
                -1
            },
            partitions,
        })
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
                    let code = match refused.next().flatten() {
                        Some(code) => code,
                        None => errors.next().unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR),
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            let topic = OffsetCommitResponseTopic::default().with_partitions(partitions);
            if by_id {
                topic.with_topic_id(t.topic_id)
            } else {
                topic.with_name(t.name)
            }
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
