//! Producer state snapshots: `<offset>.snapshot` files in the partition directory (Kafka's
//! names, 20-digit offset), each the whole [`ProducerStateManager`] as of that offset. The log
//! takes one when a segment rolls and when it closes; opening the log loads the latest snapshot
//! not past the log end and replays the batch headers after it, so a crash between an append and
//! the next snapshot loses nothing.
//!
//! Format (big-endian), Kavka's own: it keeps all [`PRODUCER_BATCHES_MAX`] batches of each
//! producer, where Kafka's keeps the last one only, so retries of any in-flight batch are still
//! recognised after a restart.
//!
//! ```text
//! snapshot = version i16 (1) | crc u32 (CRC32C of what follows) | count i32 | producer*count
//! producer = producer_id i64 | epoch i16 | last_timestamp i64 | current_txn_first_offset i64
//!            | coordinator_epoch i32 | batch_count i8 | batch*batch_count
//! batch    = first_seq i32 | last_seq i32 | first_offset i64 | last_offset i64 | timestamp i64
//! ```
//!
//! Written to a temporary file, fsynced and renamed, so a snapshot is whole or absent; a
//! snapshot that fails its CRC is deleted and an older one used.

use std::collections::VecDeque;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, StorageError};
use crate::producer_state::{
    BatchMetadata, ProducerEntry, ProducerStateManager, PRODUCER_BATCHES_MAX,
};

/// Extension of snapshot files.
pub const SNAPSHOT_EXTENSION: &str = "snapshot";
/// Suffix of a snapshot being written (the checkpoints' temporary suffix).
const TEMP_SUFFIX: &str = ".tmp";
/// The format version written and read.
const SNAPSHOT_VERSION: i16 = 1;
/// Bytes before the producers: version, crc.
const HEADER_BYTES: usize = 2 + 4;
/// Bytes of one producer without its batches.
const PRODUCER_BYTES: usize = 8 + 2 + 8 + 8 + 4 + 1;
/// Bytes of one batch.
const BATCH_BYTES: usize = 4 + 4 + 8 + 8 + 8;

/// Why snapshot bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Shorter than its fields say.
    #[error("producer snapshot truncated")]
    Truncated,
    /// Not a version this build reads.
    #[error("unsupported producer snapshot version {0}")]
    UnsupportedVersion(i16),
    /// The CRC does not match.
    #[error("producer snapshot CRC mismatch")]
    CrcMismatch,
    /// A count out of range, or bytes after the last producer.
    #[error("invalid producer snapshot: {0}")]
    Invalid(&'static str),
}

/// The snapshot bytes of a state.
pub fn encode(state: &ProducerStateManager) -> Vec<u8> {
    let mut entries: Vec<&ProducerEntry> = state.entries().collect();
    entries.sort_by_key(|e| e.producer_id);
    let mut body = Vec::with_capacity(4 + entries.len() * (PRODUCER_BYTES + BATCH_BYTES));
    body.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for e in entries {
        body.extend_from_slice(&e.producer_id.to_be_bytes());
        body.extend_from_slice(&e.epoch.to_be_bytes());
        body.extend_from_slice(&e.last_timestamp_ms.to_be_bytes());
        body.extend_from_slice(&e.current_txn_first_offset.to_be_bytes());
        body.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        body.push(e.batches.len() as u8);
        for b in &e.batches {
            body.extend_from_slice(&b.first_seq.to_be_bytes());
            body.extend_from_slice(&b.last_seq.to_be_bytes());
            body.extend_from_slice(&b.first_offset.to_be_bytes());
            body.extend_from_slice(&b.last_offset.to_be_bytes());
            body.extend_from_slice(&b.timestamp_ms.to_be_bytes());
        }
    }
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.extend_from_slice(&SNAPSHOT_VERSION.to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// A cursor over snapshot bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        if self.0.len() < N {
            return Err(SnapshotError::Truncated);
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("split at N"))
    }
    fn i16(&mut self) -> Result<i16, SnapshotError> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Result<i32, SnapshotError> {
        self.take().map(i32::from_be_bytes)
    }
    fn i64(&mut self) -> Result<i64, SnapshotError> {
        self.take().map(i64::from_be_bytes)
    }
}

/// Decodes snapshot bytes. Never panics; allocates no more than the input can hold.
pub fn decode(bytes: &[u8]) -> Result<ProducerStateManager, SnapshotError> {
    let mut r = Reader(bytes);
    let version = r.i16()?;
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::UnsupportedVersion(version));
    }
    let crc = u32::from_be_bytes(r.take()?);
    if crc32c::crc32c(r.0) != crc {
        return Err(SnapshotError::CrcMismatch);
    }
    let count = r.i32()?;
    if count < 0 || count as usize > r.0.len() / PRODUCER_BYTES {
        return Err(SnapshotError::Invalid("producer count"));
    }
    let mut entries = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let producer_id = r.i64()?;
        let epoch = r.i16()?;
        let last_timestamp_ms = r.i64()?;
        let current_txn_first_offset = r.i64()?;
        let coordinator_epoch = r.i32()?;
        let [batch_count] = r.take::<1>()?;
        if batch_count as usize > PRODUCER_BATCHES_MAX {
            return Err(SnapshotError::Invalid("batch count"));
        }
        let mut batches = VecDeque::with_capacity(batch_count as usize);
        for _ in 0..batch_count {
            batches.push_back(BatchMetadata {
                first_seq: r.i32()?,
                last_seq: r.i32()?,
                first_offset: r.i64()?,
                last_offset: r.i64()?,
                timestamp_ms: r.i64()?,
            });
        }
        entries.push(ProducerEntry {
            producer_id,
            epoch,
            batches,
            last_timestamp_ms,
            current_txn_first_offset: current_txn_first_offset.max(-1),
            coordinator_epoch,
        });
    }
    if !r.0.is_empty() {
        return Err(SnapshotError::Invalid("trailing bytes"));
    }
    let state = ProducerStateManager::from_entries(entries);
    if state.len() != count as usize {
        return Err(SnapshotError::Invalid("a producer id appears twice"));
    }
    Ok(state)
}

/// Path of the snapshot at `offset`.
pub(crate) fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}.{SNAPSHOT_EXTENSION}"))
}

/// Writes the snapshot of `state` at `offset`, durably and atomically (temporary file, fsync,
/// rename, directory fsync: the checkpoints' protocol).
pub(crate) fn write(
    dir: &Path,
    offset: i64,
    state: &ProducerStateManager,
) -> Result<(), StorageError> {
    let name = format!("{offset:020}.{SNAPSHOT_EXTENSION}");
    crate::checkpoint::write_bytes(dir, &name, &encode(state))
}

/// Offsets of the snapshots in `dir`, ascending; removes temporaries left by a crash.
pub(crate) fn list(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut offsets = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(TEMP_SUFFIX) && name.contains(SNAPSHOT_EXTENSION) {
            remove(&entry.path())?;
        } else if let Some(stem) = name.strip_suffix(&format!(".{SNAPSHOT_EXTENSION}")) {
            if let Ok(offset) = stem.parse::<i64>() {
                offsets.push(offset);
            }
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

/// Reads the snapshot at `offset`; `Ok(None)` when it does not decode (the caller deletes it).
pub(crate) fn read(dir: &Path, offset: i64) -> Result<Option<ProducerStateManager>, StorageError> {
    let path = snapshot_path(dir, offset);
    let bytes = std::fs::read(&path).at(&path)?;
    match decode(&bytes) {
        Ok(state) => Ok(Some(state)),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "producer snapshot unreadable; using an older one");
            Ok(None)
        }
    }
}

/// Removes a file, ignoring one that is already gone.
pub(crate) fn remove(path: &Path) -> Result<(), StorageError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}

/// Deletes the snapshot at `offset`.
pub(crate) fn delete(dir: &Path, offset: i64) -> Result<(), StorageError> {
    remove(&snapshot_path(dir, offset))
}
