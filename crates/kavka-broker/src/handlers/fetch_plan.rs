//! Fetch (key 1): serves stored batches as they are on disk. Consumers read below the high
//! watermark; read_committed fetches stop at the last stable offset and carry the aborted
//! transactions their data overlaps. A follower (a replica id: v15+ in its replica state)
//! reads the whole log, and its fetch offset tells the leader its log end, which moves the
//! high watermark (`replica_manager/replicated.rs`). A fetch that finds fewer than
//! `min_bytes` waits (woken by a change of a partition it reads: `purgatory`) until it has them
//! or `max_wait_ms` passes.
//!
//! A fetch (v12+) naming the leader epoch of the last batch it fetched is checked against the
//! log's epochs first (KIP-320; the follower truncation of KIP-595 later): when that epoch ends
//! on this log before the fetch offset, or this log has an older epoch there, the answer is the
//! diverging epoch (`epoch`, `end_offset`) and no records, for the fetcher to go back to; an
//! epoch the log cannot place is OFFSET_OUT_OF_RANGE.
//!
//! Fetch sessions (KIP-227) are declined the way the protocol allows: every response carries
//! session id 0, so clients send full fetch requests; an incremental request naming a session
//! gets FETCH_SESSION_ID_NOT_FOUND and the client starts over with a full fetch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kavka_metadata::MetadataImage;
use kavka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kavka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::purgatory::DelayedFetch;
use crate::replica_manager::{Isolation, Partition, PartitionOffsets, ReadPlan};

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
    data.with_high_watermark(offsets.high_watermark)
        .with_last_stable_offset(offsets.last_stable_offset)
        .with_log_start_offset(offsets.log_start_offset)
}

/// Where the fetcher's last fetched epoch ends on this log, when that is before `fetch_offset`
/// or the log holds an older epoch there (the fetcher's log diverged): `(epoch, end_offset)`.
fn divergence(
    partition: &Partition,
    fetch_offset: i64,
    last_fetched_epoch: i32,
) -> Result<Option<(i32, i64)>, ErrorCode> {
    if last_fetched_epoch < 0 {
        return Ok(None);
    }
    let (epoch, end_offset, log_start) = partition
        .end_offset_for_epoch(last_fetched_epoch)
        .map_err(|e| e.code())?;
    if epoch < 0 || end_offset < 0 || fetch_offset < log_start {
        return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
    }
    Ok((epoch < last_fetched_epoch || end_offset < fetch_offset).then_some((epoch, end_offset)))
}

/// A partition's part of a fetch: its response so far and, when data is there, where it is.
struct Planned {
    data: PartitionData,
    read: Option<(Arc<Partition>, ReadPlan)>,
}

/// One pass over the requested partitions, locating data without reading it: the plans, the
/// bytes they cover, and whether any partition failed (errors answer at once).
fn plan(
    ctx: &RequestContext<'_>,
    request: &FetchRequest,
    image: &MetadataImage,
    max_bytes: usize,
    delayed: &DelayedFetch,
) -> (Vec<Vec<Planned>>, usize, bool) {
    let by_id = ctx.version() >= 13;
    let mut remaining = max_bytes;
    let mut gathered = 0usize;
    let mut failed = false;
    let mut first_data = true;
    let read_committed = request.isolation_level == READ_COMMITTED;
    // A follower names itself (v15+: in its replica state) and reads the whole log.
    let (replica_id, replica_epoch) = if ctx.version() >= 15 {
        let state = &request.replica_state;
        (state.replica_id.0, state.replica_epoch)
    } else {
        (request.replica_id.0, -1)
    };
    let isolation = if replica_id >= 0 {
        Isolation::Log
    } else if read_committed {
        Isolation::Committed
    } else {
        Isolation::Uncommitted
    };
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let resolved = if by_id {
            image.topic_by_id(&topic.topic_id)
        } else {
            image.topic_by_name(topic.topic.0.as_str())
        };
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let fail = |code: ErrorCode| Planned {
                data: partition_data(p.partition, code),
                read: None,
            };
            let Some(partition) = resolved.and_then(|t| ctx.broker.led_partition(t, p.partition))
            else {
                failed = true;
                let missing = if by_id {
                    ErrorCode::UNKNOWN_TOPIC_ID
                } else {
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                };
                partitions.push(fail(super::unhosted(resolved, p.partition, missing)));
                continue;
            };
            if let Err(code) = super::check_leader_epoch(p.current_leader_epoch, &partition) {
                failed = true;
                partitions.push(fail(code));
                continue;
            }
            match divergence(&partition, p.fetch_offset, p.last_fetched_epoch) {
                Ok(None) => {}
                Ok(Some((epoch, end_offset))) => {
                    // Answered at once, like an error.
                    failed = true;
                    let data = partition_data(p.partition, ErrorCode::NONE).with_diverging_epoch(
                        EpochEndOffset::default()
                            .with_epoch(epoch)
                            .with_end_offset(end_offset),
                    );
                    let data = match partition.offsets() {
                        Ok(offsets) => with_offsets(data, offsets),
                        Err(_) => data,
                    };
                    partitions.push(Planned { data, read: None });
                    continue;
                }
                Err(code) => {
                    failed = true;
                    partitions.push(fail(code));
                    continue;
                }
            }
            if replica_id >= 0 {
                // Its fetch offset is its log end: the high watermark may move.
                if let Err(e) =
                    partition.record_follower_fetch(replica_id, replica_epoch, p.fetch_offset)
                {
                    failed = true;
                    partitions.push(fail(e.code()));
                    continue;
                }
            }
            // Before its state is read: a change from now on wakes this fetch if it waits.
            partition.watch(delayed);
            let limit = usize::try_from(p.partition_max_bytes)
                .unwrap_or(0)
                .min(remaining);
            match partition.plan_read(p.fetch_offset, limit, first_data, isolation) {
                Ok(read) => {
                    let n = read.len();
                    if n > 0 {
                        first_data = false;
                        gathered += n;
                        remaining = remaining.saturating_sub(n);
                    }
                    let aborted = read_committed.then(|| {
                        read.aborted
                            .iter()
                            .map(|t| {
                                AbortedTransaction::default()
                                    .with_producer_id(ProducerId(t.producer_id))
                                    .with_first_offset(t.first_offset)
                            })
                            .collect()
                    });
                    let data =
                        with_offsets(partition_data(p.partition, ErrorCode::NONE), read.offsets)
                            .with_aborted_transactions(aborted);
                    partitions.push(Planned {
                        data,
                        read: Some((partition, read)),
                    });
                }
                Err(e) => {
                    failed = true;
                    tracing::debug!(topic = %partition.topic, partition = p.partition, offset = p.fetch_offset, error = %e, "fetch refused");
                    let data = partition_data(p.partition, e.code());
                    let data = match partition.offsets() {
                        Ok(offsets) => with_offsets(data, offsets),
                        Err(_) => data,
                    };
                    partitions.push(Planned { data, read: None });
                }
            }
        }
        topics.push(partitions);
    }
    (topics, gathered, failed)
}

/// The data of a completed fetch, per topic and partition, still in the segment files: the
/// connection sends it with `sendfile` (or reads it, when it cannot).
pub type FetchReads = Vec<Vec<Option<(Arc<Partition>, ReadPlan)>>>;

/// Builds the response topics (records left out where a read is planned) and the reads.
fn complete(
    request: &FetchRequest,
    planned: Vec<Vec<Planned>>,
) -> (Vec<FetchableTopicResponse>, FetchReads) {
    let mut reads = Vec::with_capacity(planned.len());
    let topics = request
        .topics
        .iter()
        .zip(planned)
        .map(|(topic, partitions)| {
            let mut topic_reads = Vec::with_capacity(partitions.len());
            let partitions = partitions
                .into_iter()
                .map(|p| match p.read {
                    Some((partition, read)) if !read.is_empty() => {
                        topic_reads.push(Some((partition, read)));
                        p.data
                    }
                    _ => {
                        topic_reads.push(None);
                        p.data.with_records(Some(Bytes::new()))
                    }
                })
                .collect();
            reads.push(topic_reads);
            FetchableTopicResponse::default()
                .with_topic(topic.topic.clone())
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions)
        })
        .collect();
    (topics, reads)
}

/// Reads planned data into the response itself (for paths that cannot send from files).
pub fn read_into(response: &mut FetchResponse, reads: FetchReads) {
    for (topic, topic_reads) in response.responses.iter_mut().zip(reads) {
        for (part, read) in topic.partitions.iter_mut().zip(topic_reads) {
            if let Some((partition, plan)) = read {
                match plan.read(&partition) {
                    Ok(bytes) => part.records = Some(bytes),
                    Err(e) => {
                        part.error_code = e.code().code();
                        part.records = Some(Bytes::new());
                    }
                }
            }
        }
    }
}

/// Handles Fetch: the response, and the data still to be sent from the segment files.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: FetchRequest,
) -> (FetchResponse, FetchReads) {
    let response = FetchResponse::default().with_session_id(0);
    if ctx.version() >= 7 {
        if request.session_id != 0 {
            return (
                response.with_error_code(ErrorCode::FETCH_SESSION_ID_NOT_FOUND.code()),
                Vec::new(),
            );
        }
        if request.session_epoch > 0 {
            return (
                response.with_error_code(ErrorCode::INVALID_FETCH_SESSION_EPOCH.code()),
                Vec::new(),
            );
        }
    }
    let max_wait = Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS_MAX) as u64);
    let deadline = Instant::now() + max_wait;
    // As Kafka: the response is bounded by fetch.max.bytes whatever the client asks, and
    // min_bytes never asks for more than max_bytes.
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(ctx.broker.config().fetch_max_bytes);
    let min_bytes = usize::try_from(request.min_bytes)
        .unwrap_or(0)
        .min(max_bytes);
    let delayed = DelayedFetch::new();
    loop {
        let image = ctx.broker.image();
        let (planned, gathered, failed) = plan(ctx, &request, &image, max_bytes, &delayed);
        let now = Instant::now();
        if gathered >= min_bytes || failed || now >= deadline || request.topics.is_empty() {
            let (topics, reads) = complete(&request, planned);
            return (response.with_responses(topics), reads);
        }
        drop(planned);
        delayed.wait(deadline - now).await;
    }
}
