//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3), earliest local (-4),
//! latest tiered (-5), and by timestamp through the time index.

use kavka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kavka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::replica_manager::{Partition, PartitionError};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// `isolation_level` of read_committed consumers: their latest offset is the LSO.
const READ_COMMITTED: i8 = 1;

fn lookup(
    partition: &Partition,
    timestamp: i64,
    isolation_level: i8,
) -> Result<(i64, i64), PartitionError> {
    let offsets = partition.offsets()?;
    Ok(match timestamp {
        LATEST if isolation_level == READ_COMMITTED => (-1, offsets.last_stable_offset),
        LATEST => (-1, offsets.high_watermark),
        EARLIEST | EARLIEST_LOCAL => (-1, offsets.log_start_offset),
        // No tiered storage: nothing is tiered, so there is no such offset.
        LATEST_TIERED => (-1, -1),
        MAX_TIMESTAMP => partition.max_timestamp_and_offset()?.unwrap_or((-1, -1)),
        t if t >= 0 => partition
            .offset_for_timestamp(t)?
            .map_or((-1, -1), |(o, ts)| (ts, o)),
        _ => return Err(PartitionError::Gone),
    })
}

/// Handles ListOffsets.
pub fn handle(ctx: &RequestContext<'_>, request: ListOffsetsRequest) -> ListOffsetsResponse {
    let image = ctx.broker.image();
    let version = ctx.version();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let resolved = image.topic_by_name(topic.name.0.as_str());
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index)
                        .with_timestamp(-1)
                        .with_offset(-1)
                        .with_leader_epoch(-1);
                    let Some(partition) =
                        resolved.and_then(|t| ctx.broker.led_partition(t, p.partition_index))
                    else {
                        let missing = ErrorCode::UNKNOWN_TOPIC_OR_PARTITION;
                        let code = super::unhosted(resolved, p.partition_index, missing);
                        return base.with_error_code(code.code());
                    };
                    if let Err(code) = super::check_leader_epoch(p.current_leader_epoch, &partition)
                    {
                        return base.with_error_code(code.code());
                    }
                    if p.timestamp < LATEST_TIERED {
                        return base.with_error_code(ErrorCode::INVALID_REQUEST.code());
                    }
                    match lookup(&partition, p.timestamp, request.isolation_level) {
                        Ok((timestamp, offset)) => base
                            .with_timestamp(timestamp)
                            .with_offset(offset)
                            // The field exists from v4.
                            .with_leader_epoch(if offset >= 0 && version >= 4 {
                                partition.leader_epoch()
                            } else {
                                -1
                            }),
                        Err(e) => base.with_error_code(e.code().code()),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
