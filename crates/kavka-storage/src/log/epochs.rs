//! The log's leader epoch cache (`epoch_cache`): which leader epoch each part of the log was
//! written in. An append of a newer epoch records its start offset, checkpointed before the
//! batch's bytes are written, so the file never misses an epoch the log holds; an entry for
//! bytes a crash lost starts at or past the recovered log end and is dropped at open. A log
//! without the file (written before epochs were kept) or with a damaged one rebuilds it from
//! its batch headers. Retention and DeleteRecords move the first epoch's start with the log
//! start.

use super::PartitionLog;
use crate::checkpoint;
use crate::epoch_cache::{LeaderEpochCache, LEADER_EPOCH_CHECKPOINT_FILE};
use crate::error::{IoContext, StorageError};
use crate::header::HeaderWalker;

impl PartitionLog {
    /// At open: the checkpoint trimmed to the log, or the epochs read from the batch headers.
    pub(super) fn load_epochs(&mut self) -> Result<(), StorageError> {
        let path = self.dir.join(LEADER_EPOCH_CHECKPOINT_FILE);
        let loaded = match std::fs::read_to_string(&path) {
            Ok(text) => match LeaderEpochCache::decode(&text) {
                Ok(cache) => Some(cache),
                Err(e) => {
                    tracing::warn!(error = %e, "leader epoch checkpoint rebuilt from the log");
                    None
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).at(&path),
        };
        let rebuilt = loaded.is_none();
        self.epochs = match loaded {
            Some(cache) => cache,
            None => self.epochs_from_headers()?,
        };
        let trimmed = self.epochs.truncate_from_end(self.log_end_offset())
            | self.epochs.truncate_from_start(self.log_start_offset);
        if rebuilt || trimmed {
            self.write_epochs()?;
        }
        Ok(())
    }

    /// The epochs the batch headers name, oldest first.
    fn epochs_from_headers(&self) -> Result<LeaderEpochCache, StorageError> {
        let mut cache = LeaderEpochCache::default();
        for segment in &self.segments {
            let mut walker =
                HeaderWalker::new(segment.file(), segment.log_path(), 0, segment.size_bytes());
            while let Some((_, header)) = walker.next_header()? {
                cache.assign(header.partition_leader_epoch, header.base_offset);
            }
        }
        Ok(cache)
    }

    pub(super) fn write_epochs(&mut self) -> Result<(), StorageError> {
        checkpoint::write_bytes(
            &self.dir,
            LEADER_EPOCH_CHECKPOINT_FILE,
            self.epochs.encode().as_bytes(),
        )
    }

    /// Records that batches of `epoch` start at `offset` (before they are written).
    pub(super) fn record_epoch(&mut self, epoch: i32, offset: i64) -> Result<(), StorageError> {
        if self.epochs.assign(epoch, offset) {
            self.write_epochs()?;
        }
        Ok(())
    }

    /// A leader starting leader epoch `epoch` records it at the log end before it appends
    /// anything (Kafka's leader does the same), so that OffsetForLeaderEpoch places the earlier
    /// epochs even while the new one holds no batch: a consumer validating its position after
    /// the leader changed must not read "no such epoch" as a truncated log. An epoch not newer
    /// than the latest changes nothing.
    pub fn start_leader_epoch(&mut self, epoch: i32) -> Result<(), StorageError> {
        let log_end = self.log_end_offset();
        self.record_epoch(epoch, log_end)
    }

    /// After the log start moved: the epochs wholly below it are forgotten.
    pub(super) fn trim_epochs_to_log_start(&mut self) -> Result<(), StorageError> {
        if self.epochs.truncate_from_start(self.log_start_offset) {
            self.write_epochs()?;
        }
        Ok(())
    }

    /// The leader epochs of this log.
    pub fn leader_epochs(&self) -> &LeaderEpochCache {
        &self.epochs
    }

    /// Where leader epoch `epoch` ends on this log (OffsetForLeaderEpoch; see
    /// [`LeaderEpochCache::end_offset_for`]).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }
}
