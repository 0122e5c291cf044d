//! Compaction as seen from the log: choosing what to clean (under the partition lock, cheap)
//! and installing a cleaned result (under the lock, quick). The heavy part is
//! [`crate::CleanTask::run`].

use std::sync::Arc;

use super::PartitionLog;
use crate::checkpoint::{self, sync_dir, CLEANER_CHECKPOINT_FILE};
use crate::cleaner::{swap, ActiveProducer, CleanStats, CleanTask, CleanedLog, SourceSegment};
use crate::error::StorageError;
use crate::failpoint::FailPoint;
use crate::segment::Segment;

impl PartitionLog {
    /// A clean to run, if compaction is on and one is due (Kafka's `LogCleanerManager` rules):
    ///
    /// - the dirty section runs from the cleaner checkpoint to the first uncleanable offset: the
    ///   active segment's base, the base of the first segment holding records newer than
    ///   `min.compaction.lag.ms` (by its largest timestamp), or the last stable offset (open
    ///   transactions are never cleaned);
    /// - a clean is due when dirty bytes / (clean + dirty bytes) of the closed segments reaches
    ///   `min.cleanable.dirty.ratio`, or the first dirty segment's first batch is older than
    ///   `max.compaction.lag.ms`, or the latest delete horizon the cleaner set has passed.
    ///
    /// `None` while another clean of this log is in flight (a [`CleanTask`] or [`CleanedLog`]
    /// of it is alive). Reads at most one batch header.
    pub fn clean_task(&self, now_ms: i64) -> Option<CleanTask> {
        if !self.config.cleanup_policy.compact
            || self.needs_reopen.is_some()
            || Arc::strong_count(&self.cleaning) > 1
        {
            return None;
        }
        let closed = self.segments.len() - 1;
        let end_of = |i: usize| self.segments[i + 1].base_offset();
        let first_dirty_offset = self.first_dirty_offset.max(self.log_start_offset);
        let mut first_uncleanable_offset =
            self.active().base_offset().min(self.last_stable_offset());
        if self.config.min_compaction_lag_ms > 0 {
            let newest_cleanable_ms = now_ms.saturating_sub(self.config.min_compaction_lag_ms);
            if let Some(i) = (0..closed).find(|&i| {
                end_of(i) > first_dirty_offset
                    && self.segments[i].max_timestamp() > newest_cleanable_ms
            }) {
                first_uncleanable_offset = self.segments[i].base_offset();
            }
        }
        let cleanable = (0..closed)
            .take_while(|&i| self.segments[i].base_offset() < first_uncleanable_offset)
            .count();
        if cleanable == 0 {
            return None;
        }
        let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
        let mut first_dirty_segment = None;
        for i in 0..cleanable {
            let size = self.segments[i].size_bytes();
            if end_of(i) <= first_dirty_offset {
                clean_bytes += size;
            } else {
                dirty_bytes += size;
                first_dirty_segment.get_or_insert(i);
            }
        }
        // A segment holding the last stable offset stays "dirty" until the transaction ends;
        // with nothing dirty left below it, only a delete horizon makes a clean due.
        let has_dirty = first_dirty_offset < first_uncleanable_offset;
        let ratio_due = has_dirty
            && dirty_bytes > 0
            && dirty_bytes as f64 / (clean_bytes + dirty_bytes) as f64
                >= self.config.min_cleanable_dirty_ratio;
        let lag_due = || {
            let Some(i) = first_dirty_segment.filter(|_| has_dirty) else {
                return false;
            };
            let oldest_allowed_ms = now_ms.saturating_sub(self.config.max_compaction_lag_ms.max(0));
            if oldest_allowed_ms <= 0 {
                // max.compaction.lag.ms unset (or larger than the clock): skip the read.
                return false;
            }
            // An unreadable header only delays the clean; the run reports corruption.
            let first_batch_ms = self.segments[i].first_batch_timestamp();
            matches!(first_batch_ms, Ok(Some(ts)) if ts < oldest_allowed_ms)
        };
        let horizon_due = self.delete_horizon_ms >= 0 && now_ms >= self.delete_horizon_ms;
        if !(ratio_due || horizon_due || lag_due()) {
            return None;
        }
        let sources = (0..cleanable)
            .map(|i| {
                let segment = &self.segments[i];
                SourceSegment {
                    base_offset: segment.base_offset(),
                    id: segment.id(),
                    file: Arc::clone(segment.file()),
                    path: segment.log_path().to_path_buf(),
                    size_bytes: segment.size_bytes(),
                    end_offset: end_of(i),
                }
            })
            .collect();
        let aborted = self
            .aborted
            .iter()
            .filter(|t| t.last_offset < first_uncleanable_offset)
            .copied()
            .collect();
        let active_producers = self
            .producers
            .entries()
            .map(|p| {
                let last = p.last_offset();
                let active = ActiveProducer {
                    epoch: p.epoch,
                    last_data_offset: (last >= 0).then_some(last),
                };
                (p.producer_id, active)
            })
            .collect();
        Some(CleanTask {
            dir: self.dir.clone(),
            aborted,
            active_producers,
            log_instance: self.instance_id,
            config: self.config.clone(),
            sources,
            first_dirty_offset,
            first_uncleanable_offset,
            token: Arc::clone(&self.cleaning),
        })
    }

    /// Swaps the cleaned segments in place of the ones they were made from (crash-safely, see
    /// `cleaner::swap`), then advances and checkpoints the cleaner checkpoint.
    ///
    /// Segments deleted meanwhile by retention or DeleteRecords (always the oldest) are not
    /// resurrected: the groups that covered them are dropped, the rest is installed. If nothing
    /// can be installed (every covered segment is gone, or the log was reopened or recreated
    /// since the task), the result is discarded and `discarded` is set. An I/O error half-way
    /// leaves the directory for recovery: the log keeps serving reads and appends, but refuses
    /// retention, DeleteRecords and cleaning until reopened.
    pub fn install_cleaned(&mut self, cleaned: CleanedLog) -> Result<CleanStats, StorageError> {
        self.install_cleaned_with(cleaned, &mut FailPoint::never())
    }

    /// [`PartitionLog::install_cleaned`], with crash injection for tests.
    pub(crate) fn install_cleaned_with(
        &mut self,
        mut cleaned: CleanedLog,
        failpoint: &mut FailPoint,
    ) -> Result<CleanStats, StorageError> {
        self.check_usable()?;
        let mut stats = cleaned.stats.clone();
        let present: Vec<bool> = cleaned
            .groups
            .iter()
            .flat_map(|g| g.sources.iter())
            .map(|s| is_present_in(&self.segments, s))
            .collect();
        // Only the oldest segments are ever deleted; anything else means another log.
        let gone = present.iter().take_while(|&&p| !p).count();
        let consistent =
            cleaned.log_instance == self.instance_id && present[gone..].iter().all(|&p| p);
        if !consistent || (gone > 0 && gone == present.len()) {
            stats.discarded = true;
            return Ok(stats);
        }
        if !cleaned.forgotten_aborted.is_empty() {
            // Before any segment is swapped: these transactions have no data left, so the
            // entries can go now; stored after the swap, a crash in between could leave an
            // entry whose ABORT marker the swap removed, and read_committed consumers would
            // then skip the producer's later, committed batches.
            let forgotten = std::mem::take(&mut cleaned.forgotten_aborted);
            self.aborted
                .retain(|t| !forgotten.contains(&(t.producer_id, t.last_offset)));
            self.store_aborted(usize::MAX)?;
            failpoint.hit()?;
        }
        let mut installed = false;
        for group in &mut cleaned.groups {
            if group
                .sources
                .iter()
                .any(|s| !is_present_in(&self.segments, s))
            {
                continue;
            }
            let Some(mut segment) = group.segment.take() else {
                continue;
            };
            let first = self
                .segments
                .iter()
                .position(|s| s.id() == group.sources[0].1)
                .expect("present");
            let count = group.sources.len();
            for (segment, &(base, id)) in self.segments[first..first + count]
                .iter()
                .zip(&group.sources)
            {
                assert_eq!((segment.base_offset(), segment.id()), (base, id));
            }
            let old_bases: Vec<i64> = group.sources.iter().map(|s| s.0).collect();
            if let Err(e) = swap::install(&self.dir, &mut segment, &old_bases, failpoint) {
                self.needs_reopen = Some(format!("installing cleaned segments failed: {e}"));
                return Err(e);
            }
            self.segments.splice(first..first + count, [segment]);
            stats.segments_replaced += count;
            stats.segments_installed += 1;
            installed = true;
        }
        if installed {
            failpoint.hit()?;
            sync_dir(&self.dir)?;
            self.recompute_max_timestamp();
        }
        self.first_dirty_offset = self.first_dirty_offset.max(cleaned.first_dirty_offset);
        self.delete_horizon_ms = cleaned.delete_horizon_ms;

        failpoint.hit()?;
        self.store_cleaner_checkpoint()?;
        tracing::debug!(
            dir = %self.dir.display(),
            first_dirty_offset = self.first_dirty_offset,
            segments_replaced = stats.segments_replaced,
            segments_installed = stats.segments_installed,
            "installed cleaned segments"
        );
        Ok(stats)
    }

    /// Writes the cleaner checkpoint (first dirty offset, delete horizon).
    pub(super) fn store_cleaner_checkpoint(&self) -> Result<(), StorageError> {
        checkpoint::write(
            &self.dir,
            CLEANER_CHECKPOINT_FILE,
            &[self.first_dirty_offset, self.delete_horizon_ms],
        )
    }

    /// The cleaner checkpoint (first dirty offset); offsets below it have been compacted.
    pub fn cleaner_checkpoint(&self) -> i64 {
        self.first_dirty_offset.max(self.log_start_offset)
    }

    /// At open: adopts the cleaner checkpoint, kept within the log. An unreadable one only
    /// makes the next clean start from the log start.
    pub(super) fn restore_cleaner_checkpoint(&mut self) -> Result<(), StorageError> {
        let values = match checkpoint::read(&self.dir, CLEANER_CHECKPOINT_FILE) {
            Ok(values) => values.unwrap_or_default(),
            Err(StorageError::Corrupt(why)) => {
                tracing::warn!(%why, "ignoring the cleaner checkpoint");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let first_dirty_offset = values.first().copied().unwrap_or(0);
        self.first_dirty_offset =
            first_dirty_offset.clamp(self.log_start_offset, self.log_end_offset());
        self.delete_horizon_ms = values.get(1).copied().unwrap_or(-1);
        Ok(())
    }
}

/// Whether the segment object `(base, id)` is still in the log.
fn is_present_in(segments: &[Segment], &(base, id): &(i64, u64)) -> bool {
    segments
        .iter()
        .any(|s| s.base_offset() == base && s.id() == id)
}
