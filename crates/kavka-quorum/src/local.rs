//! [`LocalLog`]: the metadata log of a node that is the only voter: a batch is committed as
//! soon as it is durable in the [`Journal`].
//!
//! Snapshots: once `snapshot_bytes_min` bytes of batches follow the latest snapshot (Kafka's
//! `metadata.log.max.record.bytes.between.snapshots`), [`MetadataLog::applied`] writes the
//! image as a snapshot and drops the batches it covers. Open reads the latest snapshot, then
//! the journal after it; a crash between writing a snapshot and dropping the batches it covers
//! is finished at open.

use std::path::{Path, PathBuf};

use kavka_metadata::{
    ImageSnapshot, MetadataBatch, MetadataError, MetadataImage, MetadataLog, MetadataRecord, Replay,
};

use crate::journal::Journal;
use crate::snapshots;

/// Kafka's default for `metadata.log.max.record.bytes.between.snapshots`.
pub const SNAPSHOT_BYTES_MIN_DEFAULT: u64 = 20 * 1024 * 1024;

/// The single-voter metadata log.
#[derive(Debug)]
pub struct LocalLog {
    /// The directory of the journal and the snapshots.
    dir: PathBuf,
    /// The batches after the latest snapshot.
    journal: Journal,
    /// Offset and epoch of the latest snapshot.
    snapshot: Option<(u64, u32)>,
    /// Journal bytes at which the next snapshot is due.
    snapshot_bytes_min: u64,
    /// The epoch new batches get: the single voter's, never below the last batch's.
    epoch: u32,
}

impl LocalLog {
    /// Opens the log in `dir` (created if missing).
    pub fn open(dir: &Path, snapshot_bytes_min: u64) -> Result<LocalLog, MetadataError> {
        let (mut journal, _) = Journal::open(dir)?;
        let latest = snapshots::list(dir)?.pop().map(|(o, e, _)| (o, e));
        if let Some((offset, epoch)) = latest {
            if journal.first_offset().is_some_and(|first| first <= offset) {
                journal.drop_through(offset, epoch)?;
            }
            journal.set_base(offset, epoch);
            if let Some(first) = journal.first_offset() {
                if first != offset + 1 {
                    return Err(MetadataError::Corrupt {
                        path: journal.path().to_path_buf(),
                        reason: format!("starts at offset {first}, after a snapshot at {offset}"),
                    });
                }
            }
        } else if let Some(first) = journal.first_offset().filter(|&f| f != 1) {
            return Err(MetadataError::Corrupt {
                path: journal.path().to_path_buf(),
                reason: format!(
                    "starts at offset {first} and no snapshot covers the batches before"
                ),
            });
        }
        let epoch = journal.last().1.max(1);
        Ok(LocalLog {
            dir: dir.to_path_buf(),
            journal,
            snapshot: latest,
            snapshot_bytes_min,
            epoch,
        })
    }

    /// The journal (its path and size, for diagnostics).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Offset and epoch of the latest snapshot.
    pub fn snapshot(&self) -> Option<(u64, u32)> {
        self.snapshot
    }

    /// Appends a batch committed by a quorum this node observes, as the leader wrote it (same
    /// offset and epoch); durable on return. It must follow the last batch.
    pub fn append_replica(&mut self, batch: &MetadataBatch) -> Result<(), MetadataError> {
        self.journal.append(std::slice::from_ref(batch))?;
        self.epoch = self.epoch.max(batch.epoch);
        Ok(())
    }

    /// Replaces the log with a quorum leader's snapshot at `offset` (an observer behind the
    /// leader's log start); durable on return.
    pub fn install_snapshot(
        &mut self,
        offset: u64,
        epoch: u32,
        image: &MetadataImage,
    ) -> Result<(), MetadataError> {
        snapshots::write(&self.dir, offset, epoch, image)?;
        self.journal.truncate_after(0)?;
        self.journal.drop_through(offset, epoch)?;
        self.journal.set_base(offset, epoch);
        self.snapshot = Some((offset, epoch));
        self.epoch = self.epoch.max(epoch);
        Ok(())
    }
}

impl MetadataLog for LocalLog {
    fn append(&mut self, records: Vec<MetadataRecord>) -> Result<MetadataBatch, MetadataError> {
        let batch = MetadataBatch {
            offset: self.journal.last().0 + 1,
            epoch: self.epoch,
            records,
        };
        self.journal.append(std::slice::from_ref(&batch))?;
        Ok(batch)
    }

    fn committed_offset(&self) -> u64 {
        self.journal.last().0
    }

    fn epoch(&self) -> u32 {
        self.epoch
    }

    fn replay(&self) -> Result<Replay, MetadataError> {
        let snapshot: Option<ImageSnapshot> = match self.snapshot {
            Some(_) => snapshots::latest(&self.dir)?,
            None => None,
        };
        let from = snapshot.as_ref().map_or(1, |s| s.offset + 1);
        Ok(Replay {
            snapshot,
            batches: self.journal.read_from(from)?,
        })
    }

    fn applied(&mut self, offset: u64, image: &MetadataImage) -> Result<(), MetadataError> {
        if self.journal.len_bytes() < self.snapshot_bytes_min {
            return Ok(());
        }
        let Some(epoch) = self.journal.epoch_at(offset) else {
            return Ok(());
        };
        snapshots::write(&self.dir, offset, epoch, image)?;
        self.snapshot = Some((offset, epoch));
        self.journal.drop_through(offset, epoch)?;
        tracing::info!(
            offset,
            epoch,
            "metadata snapshot written, log prefix dropped"
        );
        Ok(())
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
