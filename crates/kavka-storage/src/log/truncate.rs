//! Truncation of the log's end (a follower whose log diverged from its new leader's, KIP-101 /
//! KIP-279): every batch holding an offset at or after the target goes, a batch straddling it
//! whole (as Kafka's `truncateTo`), with what describes them: later segments, the indexes past
//! the cut, producer state and snapshots, aborted transactions, leader epochs, the cleaner
//! checkpoint.
//!
//! Crash safety: the recovery point is lowered to the cut and fsynced first, so an interrupted
//! truncation leaves a log that the next open scans from there; later segments go newest
//! first (whatever survives is a contiguous prefix) and their removal is made durable before
//! the cut segment, then the last one, is shortened; it is reopened under a new id, so a clean
//! computed from its old bytes is discarded at install.

use super::PartitionLog;
use crate::error::{IoContext, StorageError};
use crate::failpoint::FailPoint;
use crate::header::HeaderWalker;
use crate::producer_state::ProducerStateManager;
use crate::segment::Segment;

impl PartitionLog {
    /// Removes every batch holding an offset at or after `offset`; returns the new log end
    /// offset (at most `offset`; lower when a batch straddles it). Nothing happens at or past
    /// the log end; `offset` below the log start is [`StorageError::OffsetOutOfRange`].
    pub fn truncate_to(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.truncate_to_with(offset, &mut FailPoint::never())
    }

    /// [`PartitionLog::truncate_to`], with crash injection for tests.
    pub(crate) fn truncate_to_with(
        &mut self,
        offset: i64,
        failpoint: &mut FailPoint,
    ) -> Result<i64, StorageError> {
        self.check_usable()?;
        let end = self.log_end_offset();
        if offset >= end {
            // No bytes go, but an epoch this log started as leader and never appended to
            // (`start_leader_epoch`) may conflict with the new leader's: it goes (Kafka's
            // truncateTo does the same), or the follower would diverge on it forever.
            if self.epochs.truncate_from_end(end) {
                self.write_epochs()?;
            }
            return Ok(end);
        }
        if offset < self.log_start_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        let index = self.segment_index(offset);
        let cut = self.cut_position(index, offset)?;
        self.recovery_point = self.recovery_point.min(offset);
        self.recovery_point_file
            .write_durably(self.recovery_point)?;
        while self.segments.len() > index + 1 {
            failpoint.hit()?;
            let segment = self.segments.pop().expect("more than index + 1 segments");
            segment.remove_files()?;
        }
        // The removals are durable before the cut: a power loss must not bring a later
        // segment back after a shortened one.
        crate::checkpoint::sync_dir(&self.dir)?;
        let base = self.segments[index].base_offset();
        failpoint.hit()?;
        {
            let segment = &self.segments[index];
            segment.file().set_len(cut).at(segment.log_path())?;
        }
        // A new segment object (and id) over the cut file, its indexes rebuilt.
        let (mut reopened, _) = Segment::open(&self.dir, base)?;
        reopened.recover(&self.config)?;
        self.segments[index] = reopened;
        let new_end = self.log_end_offset();
        failpoint.hit()?;
        self.producers = ProducerStateManager::new();
        self.load_producer_state()?;
        failpoint.hit()?;
        if self.epochs.truncate_from_end(new_end) {
            self.write_epochs()?;
        }
        if self.first_dirty_offset > new_end {
            self.first_dirty_offset = new_end;
            self.store_cleaner_checkpoint()?;
        }
        self.recompute_max_timestamp();
        failpoint.hit()?;
        self.sync(true)?;
        tracing::info!(
            dir = %self.dir.display(),
            from = end,
            to = new_end,
            "log truncated"
        );
        Ok(new_end)
    }

    /// Drops the whole log and starts it empty at `offset`, past its end: a follower whose
    /// log ends below its leader's log start (a new replica of a log whose start moved, or one
    /// away while retention ran) starts where the leader's log does (Kafka's
    /// `truncateFullyAndStartAt`). The new start is checkpointed first: a crash afterwards
    /// leaves a log that ends below its start, which the next open restarts empty there.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), StorageError> {
        self.check_usable()?;
        let end = self.log_end_offset();
        if offset <= end {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        crate::checkpoint::write(
            &self.dir,
            crate::checkpoint::LOG_START_OFFSET_FILE,
            &[offset],
        )?;
        let mut report = crate::recovery::RecoveryReport::default();
        self.restore_log_start_offset(Some(offset), &mut report)?;
        crate::checkpoint::sync_dir(&self.dir)?;
        self.dir_unsynced = false;
        self.recovery_point = offset;
        self.recovery_point_file.write_durably(offset)?;
        self.producers = ProducerStateManager::new();
        self.delete_snapshots_below(i64::MAX)?;
        self.drop_aborted_below(offset)?;
        self.epochs = crate::epoch_cache::LeaderEpochCache::default();
        self.write_epochs()?;
        self.first_dirty_offset = offset;
        self.store_cleaner_checkpoint()?;
        self.recompute_max_timestamp();
        tracing::info!(dir = %self.dir.display(), from = end, start = offset, "log dropped: starting empty at the leader's log start");
        Ok(())
    }

    /// The file position of the first batch of segment `index` holding an offset at or after
    /// `offset` (the segment's size when none does).
    fn cut_position(&self, index: usize, offset: i64) -> Result<u64, StorageError> {
        let segment = &self.segments[index];
        let mut walker =
            HeaderWalker::new(segment.file(), segment.log_path(), 0, segment.size_bytes());
        while let Some((position, header)) = walker.next_header()? {
            if header.last_offset() >= offset {
                return Ok(position);
            }
        }
        Ok(segment.size_bytes())
    }
}

#[cfg(test)]
#[path = "truncate_tests.rs"]
mod tests;
