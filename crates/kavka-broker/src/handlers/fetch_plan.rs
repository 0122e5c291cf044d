//! One pass of a Fetch over its partitions (those of the request, or of its session): each is
//! resolved, checked (leader epoch, diverging epoch), told of a follower's position, registered
//! with the delayed fetch, and located in its log without reading any data.

use std::sync::Arc;

use kavka_metadata::MetadataImage;
use kavka_protocol::messages::fetch_response::{AbortedTransaction, EpochEndOffset, PartitionData};
use kavka_protocol::messages::{BrokerId, FetchRequest, ProducerId};
use kavka_protocol::ErrorCode;

use super::fetch_quiet::{readable_end, still_quiet, wait_for, Hints};
use super::RequestContext;
use crate::fetch_session::{FetchParams, PartitionKey, Quiet, TopicKey};
use crate::purgatory::DelayedFetch;
use crate::replica_manager::{Isolation, Partition, PartitionOffsets, ReadPlan};

/// `isolation_level` value of read_committed consumers.
const READ_COMMITTED: i8 = 1;

/// A partition to fetch and what is asked of it.
pub type Item = (PartitionKey, FetchParams);

/// First Fetch version carrying the consumer's rack (KIP-392): from it consumers may read
/// from followers.
const RACK_VERSION: i16 = 11;

/// Who reads, and what they may see.
#[derive(Debug, Clone)]
pub struct Reader {
    /// A follower's id (v15+: from its replica state), -1 for a consumer.
    pub replica_id: i32,
    /// The follower's broker epoch (-1: not told).
    pub replica_epoch: i64,
    /// What the read may see.
    pub isolation: Isolation,
    /// A consumer of v11+: it may read from a follower (KIP-392).
    pub follower_reads: bool,
    /// Its rack (`client.rack`), empty when not told.
    pub rack: String,
}

impl Reader {
    /// The reader of `request` at `version`.
    pub fn of(version: i16, request: &FetchRequest) -> Reader {
        // A follower names itself (v15+: in its replica state) and reads the whole log.
        let (replica_id, replica_epoch) = if version >= 15 {
            let state = &request.replica_state;
            (state.replica_id.0, state.replica_epoch)
        } else {
            (request.replica_id.0, -1)
        };
        let isolation = if replica_id >= 0 {
            Isolation::Log
        } else if request.isolation_level == READ_COMMITTED {
            Isolation::Committed
        } else {
            Isolation::Uncommitted
        };
        let follower_reads = replica_id < 0 && version >= RACK_VERSION;
        Reader {
            replica_id,
            replica_epoch,
            isolation,
            follower_reads,
            rack: if follower_reads {
                request.rack_id.to_string()
            } else {
                String::new()
            },
        }
    }

    /// A follower's fetch offset is its log end: recorded on the leader, where it may move the
    /// high watermark and keeps the follower in the ISR. Nothing for a consumer.
    pub(super) fn record_fetch(
        &self,
        partition: &Partition,
        fetch_offset: i64,
        now: std::time::Instant,
    ) -> Result<(), crate::replica_manager::PartitionError> {
        if self.replica_id < 0 {
            return Ok(());
        }
        partition.record_follower_fetch(self.replica_id, self.replica_epoch, fetch_offset, now)
    }
}

/// A partition's part of a fetch: its response so far and, when data is there, where it is.
#[derive(Debug)]
pub struct Planned {
    /// The partition's response, records left out.
    pub data: PartitionData,
    /// The data to send, located.
    pub read: Option<(Arc<Partition>, ReadPlan)>,
    /// Nothing to send at this position: what the next plan needs to skip it.
    pub quiet: Option<Quiet>,
}

impl Planned {
    /// An answer with nothing to skip next time (an error, a redirect).
    fn answered(data: PartitionData) -> Planned {
        Planned {
            data,
            read: None,
            quiet: None,
        }
    }
}

/// A partition's response with an error code and no offsets.
pub fn partition_data(index: i32, code: ErrorCode) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code.code())
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_preferred_read_replica(BrokerId(-1))
}

pub(super) fn with_offsets(data: PartitionData, offsets: PartitionOffsets) -> PartitionData {
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

/// The partition an item names, when this node leads it; else the error to answer.
fn resolve(
    ctx: &RequestContext<'_>,
    image: &MetadataImage,
    key: &PartitionKey,
    follower_reads: bool,
) -> Result<Arc<Partition>, ErrorCode> {
    let (topic, missing) = match &key.topic {
        TopicKey::Id(id) => (image.topic_by_id(id), ErrorCode::UNKNOWN_TOPIC_ID),
        TopicKey::Name(name) => (
            image.topic_by_name(name),
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        ),
    };
    topic
        .and_then(|t| {
            if follower_reads {
                ctx.broker.readable_partition(t, key.partition)
            } else {
                ctx.broker.led_partition(t, key.partition)
            }
        })
        .ok_or_else(|| super::unhosted(topic, key.partition, missing))
}

/// KIP-392: with the rack-aware selector, a leader sends a consumer that told its rack to an
/// up-to-date replica of that rack: the partition answers with no records and that replica
/// as its preferred read replica (the offsets as usual).
fn redirect(
    ctx: &RequestContext<'_>,
    image: &MetadataImage,
    reader: &Reader,
    partition: &Partition,
    params: &FetchParams,
) -> Option<PartitionData> {
    if !ctx.broker.config().rack_aware_reads || reader.rack.is_empty() {
        return None;
    }
    if super::check_leader_epoch(params.current_leader_epoch, partition).is_err() {
        return None;
    }
    let rack_of = |id: i32| image.broker(id).and_then(|b| b.rack.clone());
    let preferred = partition.preferred_read_replica(params.fetch_offset, &reader.rack, rack_of)?;
    let offsets = partition.offsets().ok()?;
    Some(
        with_offsets(partition_data(partition.index, ErrorCode::NONE), offsets)
            .with_preferred_read_replica(BrokerId(preferred))
            .with_records(Some(bytes::Bytes::new())),
    )
}

/// Whether a follower's fetch of `partition` is under the leader's replication throttle: a
/// rate is set, the topic's `leader.replication.throttled.replicas` lists the follower, and
/// the follower is out of the ISR.
fn throttled(
    ctx: &RequestContext<'_>,
    image: &MetadataImage,
    reader: &Reader,
    partition: &Partition,
) -> bool {
    if reader.replica_id < 0 || ctx.broker.replication_quotas().0.rate().is_none() {
        return false;
    }
    let listed = image
        .topic_configs(&partition.topic)
        .and_then(|c| c.get("leader.replication.throttled.replicas"))
        .is_some_and(|list| {
            crate::replica_manager::quota::lists(list, partition.index, reader.replica_id)
        });
    listed && !partition.isr_state().0.contains(&reader.replica_id)
}

/// The plan of one partition; `Err` with its response when it answers at once (an error or a
/// diverging epoch).
fn plan_one(
    partition: &Arc<Partition>,
    params: &FetchParams,
    reader: &Reader,
    limit: usize,
    first_data: bool,
    pass: &Pass<'_>,
) -> Result<ReadPlan, Box<PartitionData>> {
    let index = partition.index;
    let fail = |code: ErrorCode| {
        let data = partition_data(index, code);
        Box::new(match partition.offsets() {
            Ok(offsets) => with_offsets(data, offsets),
            Err(_) => data,
        })
    };
    let bare = |code: ErrorCode| Box::new(partition_data(index, code));
    super::check_leader_epoch(params.current_leader_epoch, partition).map_err(bare)?;
    match divergence(partition, params.fetch_offset, params.last_fetched_epoch) {
        Ok(None) => {}
        Ok(Some((epoch, end_offset))) => {
            let diverging = EpochEndOffset::default()
                .with_epoch(epoch)
                .with_end_offset(end_offset);
            return Err(Box::new(
                fail(ErrorCode::NONE).with_diverging_epoch(diverging),
            ));
        }
        // With the log start offset: a follower below it starts over there.
        Err(code) => return Err(fail(code)),
    }
    reader
        .record_fetch(partition, params.fetch_offset, pass.now)
        .map_err(|e| bare(e.code()))?;
    // Before its state is read: a change from now on wakes this fetch if it waits. A follower
    // waits for appends, a consumer for the high watermark.
    partition.watch(pass.delayed, wait_for(reader));
    partition
        .plan_read(params.fetch_offset, limit, first_data, reader.isolation)
        .map_err(|e| {
            tracing::debug!(topic = %partition.topic, partition = index, offset = params.fetch_offset, error = %e, "fetch refused");
            let code = e.code();
            // A consumer reading from a follower that lags its leader: retriable, the follower
            // will have the offset (KIP-392); OFFSET_OUT_OF_RANGE would reset the consumer.
            let behind = reader.follower_reads
                && code == ErrorCode::OFFSET_OUT_OF_RANGE
                && matches!(partition.role(), crate::replica_manager::Role::Follower { .. })
                && partition.offsets().is_ok_and(|o| params.fetch_offset > o.log_end_offset);
            fail(if behind { ErrorCode::OFFSET_NOT_AVAILABLE } else { code })
        })
}

/// What one pass of a fetch shares across its partitions.
pub(super) struct Pass<'a> {
    pub delayed: &'a DelayedFetch,
    pub hints: &'a Hints,
    pub now: std::time::Instant,
}

/// One pass over `items`, locating data without reading it: the plans (one per item, in
/// order), the bytes they cover, and whether any partition failed (errors answer at once).
/// A partition `hints` names quiet (same index as in `items`) is skipped while it still is.
pub fn plan(
    ctx: &RequestContext<'_>,
    items: &[Item],
    reader: &Reader,
    image: &MetadataImage,
    max_bytes: usize,
    delayed: &DelayedFetch,
    hints: &Hints,
) -> (Vec<Planned>, usize, bool) {
    let pass = Pass {
        delayed,
        hints,
        now: std::time::Instant::now(),
    };
    let mut remaining = max_bytes;
    let mut gathered = 0usize;
    let mut failed = false;
    let mut first_data = true;
    let mut planned = Vec::with_capacity(items.len());
    let now_ms = u64::try_from(crate::broker::now_ms()).unwrap_or(0);
    for (i, (key, params)) in items.iter().enumerate() {
        if let Some(quiet) = hints.quiet.get(i).and_then(Option::as_ref) {
            if let Some(p) = still_quiet(quiet, (key.partition, params), reader, &pass) {
                planned.push(p);
                continue;
            }
        }
        let partition = match resolve(ctx, image, key, reader.follower_reads) {
            Ok(p) => p,
            Err(code) => {
                failed = true;
                planned.push(Planned::answered(partition_data(key.partition, code)));
                continue;
            }
        };
        // Before any of its state is read (see `Quiet`).
        let changes = partition.changes();
        if let Some(data) = redirect(ctx, image, reader, &partition, params) {
            // Answered at once, like an error (Kafka: a preferred read replica responds now).
            failed = true;
            planned.push(Planned::answered(data));
            continue;
        }
        let mut limit = usize::try_from(params.max_bytes)
            .unwrap_or(0)
            .min(remaining);
        let throttled = throttled(ctx, image, reader, &partition);
        if throttled && ctx.broker.replication_quotas().0.is_exceeded(now_ms) {
            // Answered empty while the throttle's rate is exceeded (Kafka's leader throttle).
            limit = 0;
        }
        match plan_one(
            &partition,
            params,
            reader,
            limit,
            first_data && limit > 0,
            &pass,
        ) {
            Ok(read) => {
                let n = read.len();
                if throttled {
                    ctx.broker.replication_quotas().0.record(n as u64, now_ms);
                }
                if n > 0 {
                    first_data = false;
                    gathered += n;
                    remaining = remaining.saturating_sub(n);
                }
                let aborted = (reader.isolation == Isolation::Committed).then(|| {
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
                    with_offsets(partition_data(key.partition, ErrorCode::NONE), read.offsets)
                        .with_aborted_transactions(aborted);
                // Quiet only when nothing is there to read (not when the budget or the
                // throttle held it back).
                let quiet = (n == 0
                    && params.fetch_offset >= readable_end(&read.offsets, reader.isolation))
                .then(|| Quiet {
                    partition: partition.clone(),
                    changes,
                    offsets: read.offsets,
                });
                planned.push(Planned {
                    data,
                    read: Some((partition, read)),
                    quiet,
                });
            }
            Err(data) => {
                failed = true;
                planned.push(Planned::answered(*data));
            }
        }
    }
    (planned, gathered, failed)
}
