//! Transactions in the partition log: COMMIT/ABORT markers, the last stable offset (LSO: the
//! first offset of the oldest open transaction, or the log end), and the aborted transactions
//! that read_committed consumers skip.
//!
//! Aborted transactions are kept in memory and in the partition's `aborted-txns` file, one
//! 34-byte entry each in the layout of Kafka's `.txnindex` entries (version i16 0, producer id
//! i64, first offset i64, last offset i64, last stable offset i64), appended when an ABORT
//! marker is written and fsynced with the log. At open, entries at or after the offset the
//! producer state is replayed from are dropped and rebuilt by the replay (markers are in the
//! log), and the file is rewritten whole if anything changed, so a torn or lost tail of the file
//! is repaired from the log itself.

use std::io::Write;

use kavka_protocol::batch::{assigned_header, BatchView, BATCH_HEADER_BYTES};
use kavka_protocol::records::{marker_batch, read_marker};

use super::{AppendInfo, PartitionLog};
use crate::error::{IoContext, StorageError};
use crate::producer_state::CompletedTxn;

/// Name of the aborted transactions file in the partition directory.
pub const ABORTED_TXNS_FILE: &str = "aborted-txns";
/// Bytes of one entry.
const ENTRY_BYTES: usize = 34;

/// A transaction that ended with an ABORT marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of its first record.
    pub first_offset: i64,
    /// Offset of the ABORT marker.
    pub last_offset: i64,
    /// The last stable offset once it ended.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_BYTES] {
        let mut out = [0u8; ENTRY_BYTES];
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    fn decode(b: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        (b.len() == ENTRY_BYTES && b[..2] == [0, 0]).then(|| AbortedTxn {
            producer_id: i64_at(2),
            first_offset: i64_at(10),
            last_offset: i64_at(18),
            last_stable_offset: i64_at(26),
        })
    }
}

impl PartitionLog {
    /// The last stable offset: read_committed consumers read below it.
    pub fn last_stable_offset(&self) -> i64 {
        let end = self.log_end_offset();
        self.producers
            .first_unstable_offset()
            .map_or(end, |first| first.min(end))
    }

    /// Aborted transactions overlapping `[from, upper)`, oldest first (what a read_committed
    /// fetch from `from` returns beside its records).
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<AbortedTxn> {
        let start = self.aborted.partition_point(|t| t.last_offset < from);
        self.aborted[start..]
            .iter()
            .filter(|t| t.first_offset < upper)
            .copied()
            .collect()
    }

    /// Writes a COMMIT or ABORT marker for `producer_id` at `epoch` (what WriteTxnMarkers asks):
    /// the producer's open transaction ends here; an aborted one is remembered for
    /// read_committed fetches. A marker older than the producer's epoch is refused.
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.producers
            .check_marker(producer_id, epoch)
            .map_err(StorageError::Producer)?;
        let batch = marker_batch(producer_id, epoch, commit, coordinator_epoch, now_ms);
        let (base_offset, last_offset, log_append_time_ms) =
            self.prepare_append(batch.len(), 1, now_ms)?;
        self.record_epoch(leader_epoch, base_offset)?;
        let header = assigned_header(&batch, base_offset, leader_epoch, log_append_time_ms);
        self.segments
            .last_mut()
            .expect("a log always has an active segment")
            .append_parts(&header, &batch[BATCH_HEADER_BYTES..], now_ms, &self.config)?;
        let completed = self.producers.record_marker(
            producer_id,
            epoch,
            coordinator_epoch,
            base_offset,
            log_append_time_ms.unwrap_or(now_ms),
            !commit,
        );
        if let Some(txn) = completed {
            self.remember_completed(txn, true)?;
        }
        self.finish_append(
            1,
            base_offset,
            last_offset,
            log_append_time_ms,
            batch.len(),
            now_ms,
        )
    }

    /// Keeps an aborted transaction (appending it to the file when `persist`).
    pub(super) fn remember_completed(
        &mut self,
        txn: CompletedTxn,
        persist: bool,
    ) -> Result<(), StorageError> {
        if !txn.aborted {
            return Ok(());
        }
        let entry = AbortedTxn {
            producer_id: txn.producer_id,
            first_offset: txn.first_offset,
            last_offset: txn.last_offset,
            // As of the marker (not the log end: replay runs after the whole log is there).
            last_stable_offset: self
                .producers
                .first_unstable_offset()
                .map_or(txn.last_offset + 1, |first| first.min(txn.last_offset + 1)),
        };
        self.aborted.push(entry);
        if persist {
            let path = self.dir.join(ABORTED_TXNS_FILE);
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .at(&path)?;
            file.write_all(&entry.encode()).at(&path)?;
            self.aborted_unsynced = true;
        }
        Ok(())
    }

    /// Replays a marker found in the log at start-up (the batch is read to learn its type).
    pub(super) fn replay_marker(
        &mut self,
        segment_index: usize,
        position: u64,
        header: &kavka_protocol::batch::BatchHeader,
    ) -> Result<(), StorageError> {
        use std::os::unix::fs::FileExt;
        let segment = &self.segments[segment_index];
        let mut bytes = vec![0u8; header.size_bytes];
        segment
            .file()
            .read_exact_at(&mut bytes, position)
            .at(segment.log_path())?;
        let Some((commit, coordinator_epoch)) =
            BatchView::parse(&bytes).ok().as_ref().and_then(read_marker)
        else {
            return Ok(());
        };
        self.record_stored_marker(header, commit, coordinator_epoch, false)
    }

    /// Records a marker batch already in the log (replayed, or replicated as the leader wrote
    /// it): its transaction ends, an aborted one is kept (and appended to the file when
    /// `persist`).
    pub(super) fn record_stored_marker(
        &mut self,
        header: &kavka_protocol::batch::BatchHeader,
        commit: bool,
        coordinator_epoch: i32,
        persist: bool,
    ) -> Result<(), StorageError> {
        let completed = self.producers.record_marker(
            header.producer_id,
            header.producer_epoch,
            coordinator_epoch,
            header.base_offset,
            header.max_timestamp,
            !commit,
        );
        if let Some(txn) = completed {
            self.remember_completed(txn, persist)?;
        }
        Ok(())
    }

    /// At open, before the producer state is replayed from `from`: the stored aborted
    /// transactions that ended before it.
    pub(super) fn load_aborted(&mut self, from: i64) -> Result<usize, StorageError> {
        let path = self.dir.join(ABORTED_TXNS_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).at(&path),
        };
        self.aborted = bytes
            .chunks_exact(ENTRY_BYTES)
            .filter_map(AbortedTxn::decode)
            .filter(|t| t.last_offset < from)
            .collect();
        self.aborted.sort_by_key(|t| t.last_offset);
        Ok(bytes.len() / ENTRY_BYTES)
    }

    /// Rewrites the aborted transactions file from memory (atomically), when it differs.
    pub(super) fn store_aborted(&mut self, entries_on_disk: usize) -> Result<(), StorageError> {
        let path = self.dir.join(ABORTED_TXNS_FILE);
        let on_disk_len = std::fs::metadata(&path)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        if entries_on_disk == self.aborted.len() && on_disk_len == entries_on_disk * ENTRY_BYTES {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(self.aborted.len() * ENTRY_BYTES);
        for t in &self.aborted {
            bytes.extend_from_slice(&t.encode());
        }
        // Written whole and durably (or removed): nothing appended is left to fsync.
        self.aborted_unsynced = false;
        if bytes.is_empty() {
            return crate::producer_snapshot::remove(&path);
        }
        crate::checkpoint::write_bytes(&self.dir, ABORTED_TXNS_FILE, &bytes)
    }

    /// Fsyncs the aborted transactions file if entries were appended since the last sync.
    pub(super) fn sync_aborted(&mut self) -> Result<(), StorageError> {
        if self.aborted_unsynced {
            let path = self.dir.join(ABORTED_TXNS_FILE);
            std::fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .at(&path)?;
            self.aborted_unsynced = false;
        }
        Ok(())
    }

    /// After retention or DeleteRecords: forgets aborted transactions wholly below the log.
    pub(super) fn drop_aborted_below(&mut self, offset: i64) -> Result<(), StorageError> {
        let before = self.aborted.len();
        self.aborted.retain(|t| t.last_offset >= offset);
        if self.aborted.len() != before {
            self.store_aborted(usize::MAX)?;
        }
        Ok(())
    }
}
