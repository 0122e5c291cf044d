//! DeleteRecords (key 21): moves a partition's log start offset (the low watermark); reads below
//! it get OFFSET_OUT_OF_RANGE and ListOffsets earliest answers it. Offset -1 means the high
//! watermark.

use kavka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kavka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::replica_manager::Partition;

/// `offset` value meaning "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

fn delete(partition: &Partition, offset: i64) -> Result<i64, ErrorCode> {
    let offsets = partition.offsets().map_err(|e| e.code())?;
    let target = if offset == HIGH_WATERMARK {
        offsets.high_watermark
    } else {
        offset
    };
    if target < 0 || target > offsets.high_watermark {
        return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
    }
    if target <= offsets.log_start_offset {
        return Ok(offsets.log_start_offset);
    }
    partition.delete_records(target).map_err(|e| e.code())
}

/// Handles DeleteRecords.
pub fn handle(ctx: &RequestContext<'_>, request: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let image = ctx.broker.image();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let resolved = image.topic_by_name(topic.name.0.as_str());
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index)
                        .with_low_watermark(-1);
                    let Some(partition) =
                        resolved.and_then(|t| ctx.broker.led_partition(t, p.partition_index))
                    else {
                        let missing = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
                        let code = super::unhosted(resolved, p.partition_index, missing);
                        return result.with_error_code(code.code());
                    };
                    match delete(&partition, p.offset) {
                        Ok(low) => result.with_low_watermark(low),
                        Err(code) => result.with_error_code(code.code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
