//! OffsetDelete (key 47), v0: removes a group's committed offsets of some partitions. A group
//! error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP for a non-consumer group with members, ...) is the
//! top-level error code with no topics; otherwise each partition gets its error:
//! GROUP_SUBSCRIBED_TO_TOPIC while a member consumes its topic, and, as in Kafka,
//! UNKNOWN_TOPIC_OR_PARTITION (without asking the coordinator) for a partition that does not
//! exist.

use kavka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kavka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;

/// Handles OffsetDelete.
pub fn handle(ctx: &RequestContext<'_>, request: OffsetDeleteRequest) -> OffsetDeleteResponse {
    let image = ctx.broker.image();
    // Whether each requested partition exists, in request order.
    let exists: Vec<Vec<bool>> = request
        .topics
        .iter()
        .map(|t| {
            let topic = image.topic_by_name(t.name.0.as_str());
            t.partitions
                .iter()
                .map(|p| topic.is_some_and(|ti| ti.partitions.contains_key(&p.partition_index)))
                .collect()
        })
        .collect();
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .zip(&exists)
        .flat_map(|(t, exists)| {
            t.partitions
                .iter()
                .zip(exists)
                .filter(|(_, &e)| e)
                .map(|(p, _)| (t.name.0.as_str().to_string(), p.partition_index))
        })
        .collect();
    let errors = match ctx
        .broker
        .groups()
        .delete_offsets(request.group_id.0.as_str(), &partitions)
    {
        Ok(errors) => errors,
        Err(code) => return OffsetDeleteResponse::default().with_error_code(code.code()),
    };
    let mut errors = errors.into_iter();
    let topics = request
        .topics
        .into_iter()
        .zip(exists)
        .map(|(t, exists)| {
            let partitions = t
                .partitions
                .iter()
                .zip(exists)
                .map(|(p, exists)| {
                    let code = if exists {
                        errors.next().unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR)
                    } else {
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                    };
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code.code())
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
