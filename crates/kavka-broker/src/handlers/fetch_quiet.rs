//! Skipping quiet partitions in a fetch. A partition whose last answer had nothing to send
//! at the fetcher's position (kept by its fetch session between requests, and by the fetch's
//! own wait loop between passes) is not planned again while its change count
//! (`Partition::changes`, counted on every wake and on changes no waiter waits for) stays the
//! same: planning it would find the same. A follower's fetch of it is still recorded, since
//! that keeps the follower in the ISR; the partition's lookup, epoch checks and read plan are
//! saved.

use kavka_protocol::ErrorCode;

use super::fetch_plan::{partition_data, with_offsets, Pass, Planned, Reader};
use crate::fetch_session::{FetchParams, Quiet};
use crate::purgatory::WaitFor;
use crate::replica_manager::{Isolation, PartitionOffsets};

/// What a fetch by `reader` waits for: a follower for appends, a consumer for the high
/// watermark.
pub(super) fn wait_for(reader: &Reader) -> WaitFor {
    if reader.isolation == Isolation::Log {
        WaitFor::LogEnd
    } else {
        WaitFor::HighWatermark
    }
}

/// Where what `isolation` may read ends.
pub(super) fn readable_end(offsets: &PartitionOffsets, isolation: Isolation) -> i64 {
    match isolation {
        Isolation::Log => offsets.log_end_offset,
        Isolation::Uncommitted => offsets.high_watermark,
        Isolation::Committed => offsets.last_stable_offset,
    }
}

/// Partitions found quiet before, by their index in a fetch's items.
#[derive(Debug, Default)]
pub struct Hints {
    pub quiet: Vec<Option<Quiet>>,
    /// Found quiet by this fetch's previous pass: its registration with each of them holds
    /// while the partition is unchanged (a change counts before it wakes and forgets).
    pub watched: bool,
}

/// The answer of a partition that was quiet at this position, when it still is: the
/// follower's fetch is recorded (it keeps the follower in the ISR) and the fetch registered as
/// a full plan would, and the partition's change count is unchanged. `None`: plan it again.
pub(super) fn still_quiet(
    quiet: &Quiet,
    (index, params): (i32, &FetchParams),
    reader: &Reader,
    pass: &Pass<'_>,
) -> Option<Planned> {
    let partition = &quiet.partition;
    reader
        .record_fetch(partition, params.fetch_offset, pass.now)
        .ok()?;
    if !pass.hints.watched {
        partition.watch(pass.delayed, wait_for(reader));
    }
    if partition.changes() != quiet.changes {
        return None;
    }
    let aborted = (reader.isolation == Isolation::Committed).then(Vec::new);
    Some(Planned {
        data: with_offsets(partition_data(index, ErrorCode::NONE), quiet.offsets)
            .with_aborted_transactions(aborted),
        read: None,
        quiet: Some(quiet.clone()),
    })
}
