//! The partition log: an ordered list of segments, the last one active.
//!
//! Child modules add the operations that remove data: `retention` (retention.ms /
//! retention.bytes, DeleteRecords and the log start offset checkpoint) and `compaction` (clean
//! tasks and installing their result).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kavka_protocol::batch::{assigned_header, validate_batches, BATCH_HEADER_BYTES};

use crate::checkpoint::{self, sync_dir};

/// Suffix of a deleted log's directory until its files are gone; such directories are removed
/// by whoever finds them (the broker at start-up).
pub const DELETED_DIR_SUFFIX: &str = "-delete";
use crate::cleaner::swap;
use crate::config::{LogConfig, TimestampType};
use crate::error::{IoContext, StorageError};
use crate::producer_snapshot;
use crate::producer_state::ProducerStateManager;
use crate::read::ReadSlice;
use crate::recovery::{load_segments, RecoveryPointFile, RecoveryReport};
use crate::segment::Segment;

mod compaction;
mod epochs;
mod follower;
mod producers;
mod retention;
mod transactions;
mod truncate;

pub use retention::RetentionOutcome;
pub use transactions::{AbortedTxn, ABORTED_TXNS_FILE};

/// Source of [`PartitionLog`] instance ids (see the field).
static NEXT_LOG_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset assigned to the first record.
    pub base_offset: i64,
    /// Offset assigned to the last record.
    pub last_offset: i64,
    /// The LogAppendTime stamped on the batches, -1 for CreateTime.
    pub log_append_time_ms: i64,
    /// Records appended.
    pub record_count: i64,
    /// Bytes appended (0 for a duplicate).
    pub bytes: usize,
    /// The batch was a producer's retry of a batch already in the log: nothing was appended,
    /// and the offsets are the original batch's.
    pub duplicate: bool,
}

/// The log of one partition, stored in its own directory as Kafka-style segments.
///
/// Not internally synchronised: the broker keeps it behind a lock. Reads return a
/// [`ReadSlice`] whose data the caller reads after releasing the lock.
#[derive(Debug)]
pub struct PartitionLog {
    /// The partition directory.
    dir: PathBuf,
    /// The partition's configuration.
    config: LogConfig,
    /// Segments by increasing base offset; never empty; the last one takes appends.
    segments: Vec<Segment>,
    /// Offset below which everything is durable.
    recovery_point: i64,
    /// The checkpoint of `recovery_point`.
    recovery_point_file: RecoveryPointFile,
    /// Records appended since the last flush (flush.messages).
    unflushed_messages: u64,
    /// Time of the first append since the last flush (flush.ms).
    first_unflushed_append_ms: Option<i64>,
    /// Segment files were created or deleted since the directory was last fsynced.
    dir_unsynced: bool,
    /// Largest batch max timestamp in the log, -1 when none.
    max_timestamp: i64,
    /// Offset of the record carrying `max_timestamp`.
    offset_of_max_timestamp: i64,
    /// Kafka's log start offset: the first readable offset. At least the first segment's base;
    /// DeleteRecords may move it inside a segment. Checkpointed in `log-start-offset`.
    log_start_offset: i64,
    /// The cleaner checkpoint: offsets below it were compacted (the clean section), the rest
    /// is dirty. Checkpointed in `cleaner-offset-checkpoint`.
    first_dirty_offset: i64,
    /// Latest delete horizon the cleaner set on batches keeping tombstones, -1 if none: once
    /// it passes, a clean is due even without new dirty data, to remove them.
    delete_horizon_ms: i64,
    /// Unique in the process, so that a clean result is never installed into another log
    /// object (a reopened or recreated partition).
    instance_id: u64,
    /// Cloned into each clean task and its result: more than one reference means a clean is in
    /// flight, and no other starts.
    cleaning: Arc<()>,
    /// Set when installing cleaned segments failed half-way: the directory is then only made
    /// consistent by reopening (recovery completes the swap), so data-removing operations
    /// refuse to run. Kafka takes the log directory offline in that case.
    needs_reopen: Option<String>,
    /// Idempotent producers' epochs and last batches, for duplicate and sequence checks.
    /// Snapshotted at every roll and at close; rebuilt at open from the latest snapshot and the
    /// batch headers after it.
    producers: ProducerStateManager,
    /// The offset at which each leader epoch starts (see `epochs`).
    epochs: crate::epoch_cache::LeaderEpochCache,
    /// Transactions that ended with an ABORT marker, by marker offset (see `transactions`).
    aborted: Vec<transactions::AbortedTxn>,
    /// Entries were appended to the aborted transactions file since its last fsync.
    aborted_unsynced: bool,
}

impl PartitionLog {
    /// Opens (or creates, if the directory is missing or empty) the log in `dir`.
    ///
    /// `clean_shutdown == true` trusts the files and skips the scan, but still checks that each
    /// index is sane and rebuilds it if not. `clean_shutdown == false` recovers: every segment
    /// from the one holding the last flushed offset (the `recovery-point` checkpoint, written on
    /// each flush; everything if missing) on is scanned (length, magic, CRC32C of each
    /// batch), a torn or corrupt tail is truncated and later segments deleted, and the scanned
    /// segments' indexes are rebuilt. The recovered state is flushed before returning.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        clean_shutdown: bool,
    ) -> Result<(PartitionLog, RecoveryReport), StorageError> {
        if !dir.exists() {
            std::fs::create_dir_all(dir).at(dir)?;
            // The new directory's entry must be durable before data fsynced into it counts.
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        checkpoint::remove_temporaries(dir)?;
        let leftovers = swap::recover_leftovers(dir)?;
        let log_start_checkpoint = retention::read_log_start_offset(dir)?;
        let (segments, mut report) = load_segments(
            dir,
            &config,
            clean_shutdown,
            log_start_checkpoint.unwrap_or(0),
        )?;
        report.completed_swaps = leftovers.completed_swaps;
        report.removed_clean_files = leftovers.removed_files;
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            recovery_point: segments.last().map_or(0, Segment::next_offset),
            recovery_point_file: RecoveryPointFile::open(dir)?,
            config,
            segments,
            unflushed_messages: 0,
            first_unflushed_append_ms: None,
            dir_unsynced: true,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            log_start_offset: 0,
            first_dirty_offset: 0,
            delete_horizon_ms: -1,
            instance_id: NEXT_LOG_INSTANCE.fetch_add(1, Ordering::Relaxed),
            cleaning: Arc::new(()),
            needs_reopen: None,
            producers: ProducerStateManager::new(),
            epochs: Default::default(),
            aborted: Vec::new(),
            aborted_unsynced: false,
        };
        log.log_start_offset = log.segments[0].base_offset();
        log.restore_log_start_offset(log_start_checkpoint, &mut report)?;
        log.load_producer_state()?;
        log.load_epochs()?;
        log.restore_cleaner_checkpoint()?;
        log.recompute_max_timestamp();
        // Scanned segments may exist only in the page cache (a process crash): make them durable
        // before the recovery point moves past them.
        log.sync(true)?;
        Ok((log, report))
    }

    /// The configuration in force.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Replaces the configuration (a topic config change). It applies to later appends, rolls,
    /// flushes, retention passes and cleans; existing segments are left as they are.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Recomputes the log's max timestamp from the segments (after segments were removed or
    /// replaced).
    fn recompute_max_timestamp(&mut self) {
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        for segment in &self.segments {
            if segment.max_timestamp() > self.max_timestamp {
                self.max_timestamp = segment.max_timestamp();
                self.offset_of_max_timestamp = segment.offset_of_max_timestamp();
            }
        }
    }

    /// Whether installing cleaned segments failed half-way: the log still serves reads and
    /// appends, but refuses retention, DeleteRecords and cleaning until closed and reopened
    /// (recovery then completes the interrupted swap).
    pub fn needs_reopen(&self) -> bool {
        self.needs_reopen.is_some()
    }

    /// Fails if a half-done install left the directory for recovery (see `needs_reopen`).
    fn check_usable(&self) -> Result<(), StorageError> {
        match &self.needs_reopen {
            Some(why) => Err(StorageError::Corrupt(format!(
                "{}: the log must be reopened: {why}",
                self.dir.display()
            ))),
            None => Ok(()),
        }
    }

    fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a log always has an active segment")
    }

    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has an active segment")
    }

    /// Checks a produce payload before anything is written: batch headers and CRCs, and sizes.
    /// Returns the record count.
    fn validate_append(&self, batches: &[u8]) -> Result<i64, StorageError> {
        let summary = validate_batches(batches)?;
        if summary.largest_batch_bytes > self.config.max_message_bytes {
            return Err(StorageError::MessageTooLarge {
                size: summary.largest_batch_bytes,
                max: self.config.max_message_bytes,
            });
        }
        let segment_bytes_max = self.config.segment_bytes_max();
        if batches.len() as u64 > segment_bytes_max {
            return Err(StorageError::MessageTooLarge {
                size: batches.len(),
                max: usize::try_from(segment_bytes_max).unwrap_or(usize::MAX),
            });
        }
        Ok(summary.record_count)
    }

    /// The offsets a validated payload of `record_count` records will take; rolls the active
    /// segment if it must. Returns the first and last offsets and the LogAppendTime to stamp.
    fn prepare_append(
        &mut self,
        bytes: usize,
        record_count: i64,
        now_ms: i64,
    ) -> Result<(i64, i64, Option<i64>), StorageError> {
        let base_offset = self.log_end_offset();
        let last_offset = base_offset
            .checked_add(record_count - 1)
            .ok_or_else(|| StorageError::Corrupt(format!("offset overflow after {base_offset}")))?;
        let reason = self
            .active()
            .roll_reason(bytes as u64, last_offset, now_ms, &self.config);
        if let Some(reason) = reason {
            self.roll(reason)?;
        }
        let log_append_time_ms = match self.config.message_timestamp_type {
            TimestampType::LogAppendTime => Some(now_ms),
            TimestampType::CreateTime => None,
        };
        Ok((base_offset, last_offset, log_append_time_ms))
    }

    /// Bookkeeping after bytes reached the active segment: max timestamp, flush policy.
    fn finish_append(
        &mut self,
        record_count: i64,
        base_offset: i64,
        last_offset: i64,
        log_append_time_ms: Option<i64>,
        bytes: usize,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let active = self
            .segments
            .last()
            .expect("a log always has an active segment");
        if active.max_timestamp() > self.max_timestamp {
            self.max_timestamp = active.max_timestamp();
            self.offset_of_max_timestamp = active.offset_of_max_timestamp();
        }
        self.unflushed_messages += record_count as u64;
        self.first_unflushed_append_ms.get_or_insert(now_ms);
        if self
            .config
            .flush_messages
            .is_some_and(|n| self.unflushed_messages >= n)
        {
            self.flush()?;
        }
        Ok(AppendInfo {
            base_offset,
            last_offset,
            log_append_time_ms: log_append_time_ms.unwrap_or(-1),
            record_count,
            bytes,
            duplicate: false,
        })
    }

    /// Appends exactly one batch (the produce path's one append; a follower's batches go through
    /// `append_as_follower`) without copying or modifying it: the header is validated with the
    /// CRC32C (records are not decoded), the producer's epoch and sequence checked, and the
    /// rewritten header (offsets, leader epoch, LogAppendTime and CRC when needed) and the
    /// records go to the segment in one positional vectored write; flushed per
    /// `flush.messages`. Nothing is written if a check fails, nor when the batch is one its
    /// producer already wrote (the original offsets are returned, with `duplicate` set).
    pub fn append_batch(
        &mut self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        let count = self.validate_append(batch)?;
        let size = kavka_protocol::batch::batch_size(batch)?;
        if size != batch.len() {
            return Err(StorageError::InvalidBatch(
                kavka_protocol::batch::BatchError::Invalid("append_batch takes exactly one batch"),
            ));
        }
        let producer = match self.check_producer_batch(batch, count)? {
            producers::CheckedBatch::Duplicate(info) => return Ok(info),
            producers::CheckedBatch::Append(producer) => producer,
        };
        let (base_offset, last_offset, log_append_time_ms) =
            self.prepare_append(batch.len(), count, now_ms)?;
        self.record_epoch(leader_epoch, base_offset)?;
        let header = assigned_header(batch, base_offset, leader_epoch, log_append_time_ms);
        let active = self
            .segments
            .last_mut()
            .expect("a log always has an active segment");
        active.append_parts(&header, &batch[BATCH_HEADER_BYTES..], now_ms, &self.config)?;
        if let Some(producer) = producer {
            self.record_producer(producer, base_offset, log_append_time_ms);
        }
        self.finish_append(
            count,
            base_offset,
            last_offset,
            log_append_time_ms,
            batch.len(),
            now_ms,
        )
    }

    /// Closes the active segment's indexes and starts a new segment at the log end offset.
    fn roll(&mut self, reason: &str) -> Result<(), StorageError> {
        let base_offset = self.log_end_offset();
        self.active_mut().finish()?;
        let segment = Segment::create(&self.dir, base_offset)?;
        // The producer state as of the new segment's base: recovery replays from here at most.
        producer_snapshot::write(&self.dir, base_offset, &self.producers)?;
        tracing::debug!(dir = %self.dir.display(), base_offset, reason, "rolled segment");
        self.segments.push(segment);
        self.dir_unsynced = true;
        Ok(())
    }

    /// Locates whole batches from the ONE segment holding `offset`, starting with the batch that
    /// contains `offset`, up to `max_bytes`. A first batch larger than `max_bytes` is returned
    /// whole if `min_one_batch`, else nothing. `offset == log_end_offset` gives an empty slice;
    /// an offset outside `[log_start_offset, log_end_offset]` is
    /// [`StorageError::OffsetOutOfRange`]. Only batch headers are read here.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadSlice, StorageError> {
        self.read_below(offset, max_bytes, min_one_batch, i64::MAX)
    }

    /// Like [`PartitionLog::read`], but only batches that start below `end_offset` (the last
    /// stable offset, for read_committed).
    pub fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        end_offset: i64,
    ) -> Result<ReadSlice, StorageError> {
        let log_end_offset = self.log_end_offset();
        if offset >= end_offset && offset <= log_end_offset && offset >= self.log_start_offset() {
            return Ok(ReadSlice::empty(offset));
        }
        if offset == log_end_offset {
            return Ok(ReadSlice::empty(offset));
        }
        let log_start_offset = self.log_start_offset();
        if offset < log_start_offset || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        let first = self.segment_index(offset);
        for segment in &self.segments[first..] {
            if let Some(slice) = segment.read(offset, max_bytes, min_one_batch, end_offset)? {
                return Ok(slice);
            }
        }
        Ok(ReadSlice::empty(offset))
    }

    /// Index of the segment whose range holds `offset` (the last with base <= offset).
    fn segment_index(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1)
    }

    /// Kafka's log start offset: the first offset that can be read. It may lie inside the
    /// first segment after DeleteRecords; a read at it returns the batch containing it.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset()
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size_bytes).sum()
    }

    /// Number of segments (at least one).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        self.segments.iter().map(Segment::base_offset).collect()
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Offset below which the log is known durable.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// The first record at or after the log start offset with timestamp >= `timestamp_ms`, as
    /// (offset, timestamp); `None` if there is none. Segment max timestamps pick the segment,
    /// its time index the starting offset, batch headers the batch; only that batch's records
    /// are decoded.
    pub fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        for segment in &self.segments {
            if segment.max_timestamp() < timestamp_ms {
                continue;
            }
            if let Some(found) = segment.find_timestamp(timestamp_ms, self.log_start_offset)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// (max timestamp, offset of the record carrying it) over the whole log, for ListOffsets
    /// MAX_TIMESTAMP; the earliest such record when several batches share the max. `None` when
    /// the log is empty or no batch has a timestamp.
    ///
    /// Records are not decoded, so the offset comes from the batch header: exact for
    /// LogAppendTime batches, single-record batches and batches whose first record carries the
    /// max; otherwise the batch's last offset (Kafka's "shallow" offset, exact for the usual
    /// non-decreasing timestamps). [`PartitionLog::max_timestamp_record`] is always exact.
    pub fn max_timestamp_and_offset(&self) -> Option<(i64, i64)> {
        (self.max_timestamp >= 0).then_some((self.max_timestamp, self.offset_of_max_timestamp))
    }

    /// Like [`PartitionLog::max_timestamp_and_offset`] (same order: timestamp, offset) but
    /// exact: decodes the records of the one batch carrying the max timestamp.
    pub fn max_timestamp_record(&self) -> Result<Option<(i64, i64)>, StorageError> {
        match self.max_timestamp_and_offset() {
            Some((max_timestamp, _)) => Ok(self
                .offset_for_timestamp(max_timestamp)?
                .map(|(offset, timestamp)| (timestamp, offset))),
            None => Ok(None),
        }
    }

    /// Makes everything appended durable (data and indexes) and writes the recovery point.
    pub fn flush(&mut self) -> Result<(), StorageError> {
        self.sync(false)
    }

    /// Syncs the segments needing it (all, or the dirty suffix: only the newest segments are
    /// ever written), the directory, then moves the recovery point to the log end.
    fn sync(&mut self, all_segments: bool) -> Result<(), StorageError> {
        for segment in self.segments.iter_mut().rev() {
            if segment.needs_flush() {
                segment.flush()?;
            } else if !all_segments {
                break;
            }
        }
        self.sync_aborted()?;
        if self.dir_unsynced {
            sync_dir(&self.dir)?;
            self.dir_unsynced = false;
        }
        self.recovery_point = self.log_end_offset();
        self.recovery_point_file.write(self.recovery_point)?;
        self.unflushed_messages = 0;
        self.first_unflushed_append_ms = None;
        Ok(())
    }

    /// Flushes if `flush_ms` is set and the oldest unflushed append is at least that old.
    pub fn flush_if_due(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let due = match (self.config.flush_ms, self.first_unflushed_append_ms) {
            (Some(flush_ms), Some(since_ms)) => now_ms.saturating_sub(since_ms) >= flush_ms,
            _ => false,
        };
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Completes the active segment's indexes and flushes, so that
    /// `open(clean_shutdown = true)` restores exactly this state.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.active_mut().finish()?;
        producer_snapshot::write(&self.dir, self.log_end_offset(), &self.producers)?;
        self.dir_unsynced = true;
        self.flush()
    }

    /// Removes the partition directory and all its files.
    pub fn delete(self) -> Result<(), StorageError> {
        let dir = self.dir.clone();
        drop(self);
        // Renamed first (as Kafka's `-delete` directories): if the removal fails half-way, what
        // is left can never be mistaken for a new log of the same name.
        let doomed = checkpoint::rename_aside(&dir, DELETED_DIR_SUFFIX)?;
        std::fs::remove_dir_all(&doomed).at(&doomed)
    }
}
