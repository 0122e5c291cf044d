//! The log cleaner: compaction of `cleanup.policy=compact` logs, as Kafka's `LogCleaner` does it.
//!
//! A clean has three steps so that the heavy work holds no lock:
//! [`crate::PartitionLog::clean_task`] (under the partition lock, cheap) picks the section to
//! clean and captures the closed segments' files; [`CleanTask::run`] (no lock) builds the offset
//! map over the dirty section and writes cleaned segments beside the log;
//! [`crate::PartitionLog::install_cleaned`] (under the lock, quick) swaps them in.
//!
//! Run:
//! 1. Offset map: key -> last offset, over the dirty section `[first dirty offset, first
//!    uncleanable offset)`, in `dedupe_buffer_bytes` (24 bytes a key). If it fills, the clean
//!    stops at the first record it could not map: that part is cleaned, the rest stays dirty.
//! 2. Every closed segment from the log start up to the end of the mapped part is rewritten,
//!    consecutive segments grouped into one while their total size stays within
//!    `segment.bytes` (Kafka's grouping), so compacted logs keep few segments. A record
//!    survives unless a later record of its key is mapped, or it is a tombstone whose batch's
//!    delete horizon has passed. Offsets are preserved (gaps appear); control batches are kept
//!    as they are; a batch that loses records is rebuilt with its producer fields, base and last
//!    offset, attributes and codec (`kavka_protocol::records::rebuild_batch`).
//! 3. Tombstones: a batch that keeps tombstones and has no delete horizon gets one, `now +
//!    delete.retention.ms`, stored as KIP-534 does (attribute bit 6, base timestamp). A later
//!    clean at or after the horizon drops them; the latest horizon set is remembered so that a
//!    quiet log is cleaned again once it passes.
//!
//! Records with a null key are kept (Kafka refuses them on compacted topics at produce time).
//! The dirty section ends at the last stable offset at the latest, so every transaction in the
//! cleaned range has ended: aborted data is removed, committed data is compacted like any
//! other, and markers go once their transaction has no data left (see `txn`).

mod filter;
mod offset_map;
mod reader;
mod run;
pub(crate) mod swap;
mod txn;
pub(crate) use txn::ActiveProducer;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::LogConfig;
use crate::segment::{Segment, CLEANED_SUFFIX};

/// Kafka's default `log.cleaner.dedupe.buffer.size`: 128 MiB.
pub const DEFAULT_DEDUPE_BUFFER_BYTES: usize = 128 << 20;
/// Kafka's default `log.cleaner.io.buffer.size`: 512 KiB.
pub const DEFAULT_IO_BUFFER_BYTES: usize = 512 << 10;

/// Resources of one cleaner thread (Kafka's `log.cleaner.*` broker configs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanerConfig {
    /// `log.cleaner.dedupe.buffer.size` (per thread): memory of the offset map, 24 bytes a key.
    pub dedupe_buffer_bytes: usize,
    /// `log.cleaner.io.buffer.size`: read and write buffer size.
    pub io_buffer_bytes: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            dedupe_buffer_bytes: DEFAULT_DEDUPE_BUFFER_BYTES,
            io_buffer_bytes: DEFAULT_IO_BUFFER_BYTES,
        }
    }
}

/// What a clean did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Bytes of the segments rewritten (the "log cleaned").
    pub bytes_read: u64,
    /// Bytes of the cleaned segments written.
    pub bytes_written: u64,
    /// Records in the segments rewritten.
    pub records_read: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Tombstones removed (superseded, or past their delete horizon).
    pub tombstones_dropped: u64,
    /// Records of aborted transactions removed.
    pub aborted_records_dropped: u64,
    /// Transaction markers removed (their transaction had no data left, horizon passed).
    pub markers_dropped: u64,
    /// Duration of [`CleanTask::run`].
    pub elapsed_ms: u64,
    /// Nothing was installed: the log changed under the task (its segments were deleted by
    /// retention or DeleteRecords, or the log was reopened or recreated).
    pub discarded: bool,
    /// Bytes of the dirty section read to build the offset map.
    pub map_bytes_read: u64,
    /// Keys in the offset map.
    pub map_keys: u64,
    /// Old segments replaced by [`crate::PartitionLog::install_cleaned`].
    pub segments_replaced: usize,
    /// Cleaned segments installed in their place.
    pub segments_installed: usize,
}

/// A closed segment as a clean task sees it.
#[derive(Debug, Clone)]
pub(crate) struct SourceSegment {
    /// Its base offset.
    pub(crate) base_offset: i64,
    /// The segment object's identity, checked at install.
    pub(crate) id: u64,
    /// The open log file (valid even if the segment is deleted meanwhile).
    pub(crate) file: Arc<File>,
    /// Its path, for errors.
    pub(crate) path: PathBuf,
    /// Its size; closed segments do not grow.
    pub(crate) size_bytes: u64,
    /// The next segment's base offset: the end of this one's range.
    pub(crate) end_offset: i64,
}

/// A clean to run: what [`crate::PartitionLog::clean_task`] captured under the lock.
#[derive(Debug)]
pub struct CleanTask {
    /// The partition directory (cleaned files go there).
    pub(crate) dir: PathBuf,
    /// Identity of the `PartitionLog` that made the task.
    pub(crate) log_instance: u64,
    /// The log's configuration when the task was made.
    pub(crate) config: LogConfig,
    /// Closed segments from the first up to the first uncleanable offset.
    pub(crate) sources: Vec<SourceSegment>,
    /// Start of the dirty section (the cleaner checkpoint, at least the log start offset).
    pub(crate) first_dirty_offset: i64,
    /// End of the dirty section: the active segment's base, the first segment holding
    /// records newer than `min.compaction.lag.ms`, or the last stable offset.
    pub(crate) first_uncleanable_offset: i64,
    /// The log's aborted transactions ending below the first uncleanable offset.
    pub(crate) aborted: Vec<crate::log::AbortedTxn>,
    /// The log's active producers.
    pub(crate) active_producers: Vec<(i64, txn::ActiveProducer)>,
    /// Held while the task or its result lives: one clean at a time per log.
    pub(crate) token: Arc<()>,
}

/// The cleaned segments a run wrote, waiting for [`crate::PartitionLog::install_cleaned`].
/// Dropping it without installing removes its files.
#[derive(Debug)]
pub struct CleanedLog {
    /// Identity of the `PartitionLog` that made the task.
    pub(crate) log_instance: u64,
    /// One entry per group of old segments.
    pub(crate) groups: Vec<CleanedGroup>,
    /// The cleaner checkpoint after this clean: where the mapped part of the dirty section ends.
    pub(crate) first_dirty_offset: i64,
    /// Latest delete horizon of a batch holding removable tombstones, -1 if none.
    pub(crate) delete_horizon_ms: i64,
    /// Aborted transactions (producer id, marker offset) with no data left: forgotten at install.
    pub(crate) forgotten_aborted: Vec<(i64, i64)>,
    /// What the run did.
    pub(crate) stats: CleanStats,
    /// Keeps the log from starting another clean until this is installed or dropped.
    pub(crate) _token: Arc<()>,
}

/// Consecutive old segments and the cleaned segment replacing them.
#[derive(Debug)]
pub(crate) struct CleanedGroup {
    /// (base offset, id) of the old segments, in order.
    pub(crate) sources: Vec<(i64, u64)>,
    /// The cleaned segment (`.cleaned` files); `None` when one segment came out unchanged.
    pub(crate) segment: Option<Segment>,
}

impl CleanedLog {
    /// What the run did.
    pub fn stats(&self) -> &CleanStats {
        &self.stats
    }

    /// The cleaner checkpoint this clean moves to.
    pub fn cleaned_up_to(&self) -> i64 {
        self.first_dirty_offset
    }
}

impl Drop for CleanedLog {
    fn drop(&mut self) {
        for group in &self.groups {
            if let Some(segment) = &group.segment {
                if segment.suffix() == CLEANED_SUFFIX {
                    if let Err(e) = segment.remove_files() {
                        tracing::warn!(error = %e, "could not remove discarded cleaned segment");
                    }
                }
            }
        }
    }
}
