//! Fetch (key 1): serves stored batches as they are on disk. A fetch that finds fewer than
//! `min_bytes` waits (woken by appends) until it has them or `max_wait_ms` passes.
//!
//! Fetch sessions (KIP-227) are declined the way the protocol allows: every response carries
//! session id 0, so clients send full fetch requests; an incremental request naming a session
//! gets FETCH_SESSION_ID_NOT_FOUND and the client starts over with a full fetch.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kavka_metadata::MetadataImage;
use kavka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kavka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::replica_manager::PartitionOffsets;

/// `isolation_level` value of read_committed consumers.
const READ_COMMITTED: i8 = 1;
/// Upper bound on `max_wait_ms`, so that a hostile value cannot park a connection for days.
const MAX_WAIT_MS_MAX: i32 = 5 * 60 * 1000;

fn partition_data(index: i32, code: ErrorCode) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_preferred_read_replica(BrokerId(-1))
}

fn with_offsets(data: PartitionData, offsets: PartitionOffsets) -> PartitionData {
    data.with_high_watermark(offsets.log_end_offset)
        .with_last_stable_offset(offsets.log_end_offset)
        .with_log_start_offset(offsets.log_start_offset)
}

/// One pass over the requested partitions: the response, the bytes gathered, and whether any
/// partition failed (errors answer at once).
fn read_once(
    ctx: &RequestContext<'_>,
    request: &FetchRequest,
    image: &MetadataImage,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let by_id = ctx.version() >= 13;
    let mut remaining = usize::try_from(request.max_bytes).unwrap_or(0);
    let mut gathered = 0usize;
    let mut failed = false;
    let mut first_data = true;
    let read_committed = request.isolation_level == READ_COMMITTED;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let resolved = if by_id {
            image.topic_by_id(&topic.topic_id)
        } else {
            image.topic_by_name(topic.topic.0.as_str())
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let Some(partition) =
                resolved.and_then(|t| ctx.broker.replicas.get(&t.name, p.partition))
            else {
                failed = true;
                partitions.push(partition_data(
                    p.partition,
                    if by_id {
                        ErrorCode::UNKNOWN_TOPIC_ID
                    } else {
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                    },
                ));
                continue;
            };
            if p.current_leader_epoch >= 0 && p.current_leader_epoch != partition.leader_epoch {
                failed = true;
                partitions.push(partition_data(
                    p.partition,
                    if p.current_leader_epoch < partition.leader_epoch {
                        ErrorCode::FENCED_LEADER_EPOCH
                    } else {
                        ErrorCode::UNKNOWN_LEADER_EPOCH
                    },
                ));
                continue;
            }
            let limit = usize::try_from(p.partition_max_bytes)
                .unwrap_or(0)
                .min(remaining);
            let data = match partition.read(p.fetch_offset, limit, first_data) {
                Ok(read) => {
                    let n = read.records.len();
                    if n > 0 {
                        first_data = false;
                        gathered += n;
                        remaining = remaining.saturating_sub(n);
                    }
                    with_offsets(partition_data(p.partition, ErrorCode::NONE), read.offsets)
                        .with_aborted_transactions(read_committed.then(Vec::new))
                        .with_records(Some(read.records))
                }
                Err(e) => {
                    failed = true;
                    tracing::debug!(topic = %partition.topic, partition = p.partition, offset = p.fetch_offset, error = %e, "fetch refused");
                    let data = partition_data(p.partition, e.code());
                    match partition.offsets() {
                        Ok(offsets) => with_offsets(data, offsets),
                        Err(_) => data,
                    }
                    .with_records(Some(Bytes::new()))
                }
            };
            partitions.push(data);
        }
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    (topics, gathered, failed)
}

/// Handles Fetch.
pub async fn handle(ctx: &RequestContext<'_>, request: FetchRequest) -> FetchResponse {
    let response = FetchResponse::default().with_session_id(0);
    if ctx.version() >= 7 {
        if request.session_id != 0 {
            return response.with_error_code(ErrorCode::FETCH_SESSION_ID_NOT_FOUND.code());
        }
        if request.session_epoch > 0 {
            return response.with_error_code(ErrorCode::INVALID_FETCH_SESSION_EPOCH.code());
        }
    }
    let max_wait = Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS_MAX) as u64);
    let deadline = Instant::now() + max_wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    loop {
        let mut waiter = ctx.broker.replicas.purgatory.waiter();
        let image = ctx.broker.image();
        let (topics, gathered, failed) = read_once(ctx, &request, &image);
        let now = Instant::now();
        if gathered >= min_bytes || failed || now >= deadline || request.topics.is_empty() {
            return response.with_responses(topics);
        }
        waiter.wait(deadline - now).await;
    }
}
