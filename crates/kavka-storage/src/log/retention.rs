//! Removing old data by whole segments: `retention.ms`, `retention.bytes` and DeleteRecords,
//! and the durable log start offset.
//!
//! The log start offset is checkpointed (atomically, fsynced) BEFORE the segments below it are
//! deleted, so a crash in between leaves segments that the next open deletes; the start offset
//! never goes back and nothing below it is ever served again. Deleted segment files are
//! unlinked at once (`file.delete.delay.ms` is not applied): readers hold the open file.

use std::path::Path;

use super::PartitionLog;
use crate::checkpoint::{self, LOG_START_OFFSET_FILE};
use crate::error::StorageError;
use crate::recovery::RecoveryReport;
use crate::segment::Segment;

/// What a retention pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Segments deleted.
    pub deleted_segments: usize,
    /// Bytes of the deleted segments.
    pub deleted_bytes: u64,
    /// The log start offset after the pass.
    pub log_start_offset: i64,
}

/// The log start offset checkpoint of `dir`, if any.
pub(super) fn read_log_start_offset(dir: &Path) -> Result<Option<i64>, StorageError> {
    match checkpoint::read(dir, LOG_START_OFFSET_FILE)?.as_deref() {
        None => Ok(None),
        Some(&[offset]) if offset >= 0 => Ok(Some(offset)),
        Some(values) => Err(StorageError::Corrupt(format!(
            "{}: bad log start offset checkpoint {values:?}",
            dir.join(LOG_START_OFFSET_FILE).display()
        ))),
    }
}

impl PartitionLog {
    /// DeleteRecords: moves the log start offset to `offset`, which must lie in
    /// `[log_start_offset, log_end_offset]` (else [`StorageError::OffsetOutOfRange`]), deletes
    /// the segments lying wholly below it (never the active one) and returns the new log start
    /// offset. The new start is durable when this returns.
    pub fn delete_records(&mut self, offset: i64) -> Result<i64, StorageError> {
        self.check_usable()?;
        let (log_start_offset, log_end_offset) = (self.log_start_offset, self.log_end_offset());
        if offset < log_start_offset || offset > log_end_offset {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
            });
        }
        if offset > log_start_offset {
            self.advance_log_start_offset(offset)?;
            let below = self.segments_below_log_start();
            self.delete_oldest_segments(below)?;
        }
        Ok(self.log_start_offset)
    }

    /// Deletes old segments by `retention.ms` then `retention.bytes` (Kafka's rules, oldest
    /// first, never the active segment) when `cleanup.policy` includes `delete`; the log start
    /// offset moves to the first remaining segment's base.
    ///
    /// Time: a segment goes when `now_ms - largest timestamp > retention.ms`, the largest
    /// timestamp being the segment's max timestamp (its file's mtime if it has none); the pass
    /// stops at the first segment that stays. Size: the oldest segment goes while the log would
    /// still hold at least `retention.bytes` without it.
    pub fn apply_retention(&mut self, now_ms: i64) -> Result<RetentionOutcome, StorageError> {
        self.check_usable()?;
        let closed = self.segments.len() - 1;
        let mut count = 0;
        if self.config.cleanup_policy.delete {
            if self.config.retention_ms >= 0 {
                while count < closed {
                    let largest_ms = self.segments[count].largest_timestamp_ms()?;
                    if now_ms.saturating_sub(largest_ms) <= self.config.retention_ms {
                        break;
                    }
                    count += 1;
                }
            }
            if self.config.retention_bytes >= 0 {
                let kept_bytes: u64 = self.segments[count..].iter().map(Segment::size_bytes).sum();
                let mut excess_bytes =
                    i128::from(kept_bytes) - i128::from(self.config.retention_bytes);
                while count < closed {
                    let size = i128::from(self.segments[count].size_bytes());
                    if excess_bytes - size < 0 {
                        break;
                    }
                    excess_bytes -= size;
                    count += 1;
                }
            }
        }
        let count = count.max(self.segments_below_log_start());
        let mut deleted_bytes = 0;
        if count > 0 {
            let new_start = self.segments[count].base_offset();
            if new_start > self.log_start_offset {
                self.advance_log_start_offset(new_start)?;
            }
            deleted_bytes = self.delete_oldest_segments(count)?;
            tracing::info!(
                dir = %self.dir.display(),
                deleted_segments = count,
                deleted_bytes,
                log_start_offset = self.log_start_offset,
                "retention deleted segments"
            );
        }
        Ok(RetentionOutcome {
            deleted_segments: count,
            deleted_bytes,
            log_start_offset: self.log_start_offset,
        })
    }

    /// Number of oldest segments lying wholly below the log start offset (never the active).
    fn segments_below_log_start(&self) -> usize {
        let closed = self.segments.len() - 1;
        (0..closed)
            .take_while(|&i| self.segments[i + 1].base_offset() <= self.log_start_offset)
            .count()
    }

    /// Checkpoints, then adopts, a higher log start offset.
    fn advance_log_start_offset(&mut self, offset: i64) -> Result<(), StorageError> {
        assert!(
            offset >= self.log_start_offset && offset <= self.log_end_offset(),
            "log start offset {offset} outside [{}, {}]",
            self.log_start_offset,
            self.log_end_offset()
        );
        checkpoint::write(&self.dir, LOG_START_OFFSET_FILE, &[offset])?;
        self.log_start_offset = offset;
        self.first_dirty_offset = self.first_dirty_offset.max(offset);
        self.trim_epochs_to_log_start()
    }

    /// Removes the `count` oldest segments (never the active one) and their files; returns
    /// their bytes. The log start offset must already be at or past what they hold.
    fn delete_oldest_segments(&mut self, count: usize) -> Result<u64, StorageError> {
        if count == 0 {
            return Ok(0);
        }
        assert!(
            count < self.segments.len(),
            "the active segment is never deleted"
        );
        assert!(
            self.segments[count].base_offset() <= self.log_start_offset,
            "segments are deleted only below the log start offset"
        );
        let mut deleted_bytes = 0;
        for segment in self.segments.drain(..count) {
            deleted_bytes += segment.size_bytes();
            Segment::delete_files(&self.dir, segment.base_offset())?;
        }
        self.dir_unsynced = true;
        self.recompute_max_timestamp();
        self.delete_snapshots_below(self.segments[0].base_offset())?;
        self.drop_aborted_below(self.segments[0].base_offset())?;
        Ok(deleted_bytes)
    }

    /// At open: adopts the log start offset checkpoint. Segments wholly below it (a crash after
    /// the checkpoint, before their deletion) are deleted; if the log ends below it (unflushed
    /// data lost in a crash after DeleteRecords), every segment is deleted and the log restarts
    /// empty at the checkpoint, as Kafka does.
    pub(super) fn restore_log_start_offset(
        &mut self,
        checkpoint: Option<i64>,
        report: &mut RecoveryReport,
    ) -> Result<(), StorageError> {
        let Some(checkpoint) = checkpoint else {
            return Ok(());
        };
        if self.log_end_offset() < checkpoint {
            tracing::warn!(
                dir = %self.dir.display(),
                log_end_offset = self.log_end_offset(),
                log_start_offset = checkpoint,
                "log ends below its start offset; restarting it empty there"
            );
            for segment in self.segments.drain(..) {
                Segment::delete_files(&self.dir, segment.base_offset())?;
                report.deleted_below_log_start += 1;
            }
            self.segments.push(Segment::create(&self.dir, checkpoint)?);
            self.dir_unsynced = true;
        }
        self.log_start_offset = checkpoint.max(self.segments[0].base_offset());
        let below = self.segments_below_log_start();
        report.deleted_below_log_start += below;
        self.delete_oldest_segments(below)?;
        Ok(())
    }
}
