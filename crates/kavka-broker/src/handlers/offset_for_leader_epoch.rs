//! OffsetForLeaderEpoch (key 23, v2-4; KIP-101/KIP-279/KIP-320): where a leader epoch ends on
//! this partition's log, from its leader epoch cache (`kavka_storage::epoch_cache`): the
//! largest epoch at or below the one asked and the offset where the next one starts (the log
//! end for the current epoch); `-1, -1` for an epoch newer than any. A consumer asks it after a
//! leader change to check its position was not truncated away; a follower to find where its
//! log diverged. Served by the partition's leader only (NOT_LEADER_OR_FOLLOWER elsewhere), with
//! the KIP-320 fencing of `current_leader_epoch`.

use kavka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kavka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;

/// Handles OffsetForLeaderEpoch.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let image = ctx.broker.image();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let resolved = image.topic_by_name(topic.topic.0.as_str());
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = EpochEndOffset::default()
                        .with_partition(p.partition)
                        .with_leader_epoch(-1)
                        .with_end_offset(-1);
                    let Some(partition) =
                        resolved.and_then(|t| ctx.broker.led_partition(t, p.partition))
                    else {
                        let missing = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
                        let code = super::unhosted(resolved, p.partition, missing);
                        return base.with_error_code(code.code());
                    };
                    if let Err(code) = super::check_leader_epoch(p.current_leader_epoch, &partition)
                    {
                        return base.with_error_code(code.code());
                    }
                    match partition.end_offset_for_epoch(p.leader_epoch) {
                        Ok((epoch, end_offset, _)) => {
                            base.with_leader_epoch(epoch).with_end_offset(end_offset)
                        }
                        Err(e) => base.with_error_code(e.code().code()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
