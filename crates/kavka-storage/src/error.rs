//! The storage error enum: what a partition log operation can fail with.

use std::io;
use std::path::{Path, PathBuf};

use kavka_protocol::batch::BatchError;

/// Why a partition log operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A produced batch failed validation (header, length, magic, CRC); nothing was written.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// A batch is larger than `max.message.bytes`, or an append is larger than a whole segment.
    #[error("record batch of {size} bytes is larger than the limit of {max} bytes")]
    MessageTooLarge {
        /// Size of the offending batch (or append) in bytes.
        size: usize,
        /// The limit it exceeds.
        max: usize,
    },
    /// The requested offset lies outside `[log_start_offset, log_end_offset]`.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        /// The requested offset.
        offset: i64,
        /// First offset in the log.
        log_start_offset: i64,
        /// Offset the next appended record will get.
        log_end_offset: i64,
    },
    /// Replicated batches that do not continue the log: a batch's base offset is below
    /// `expected_min` (the log end, or the end of the batch before it); nothing was written.
    #[error(
        "replicated batch at offset {offset} does not follow the log (next offset {expected_min})"
    )]
    OffsetsOutOfOrder {
        /// The offending batch's base offset.
        offset: i64,
        /// The lowest offset it could start at.
        expected_min: i64,
    },
    /// A producer's batch fails the idempotence checks (epoch, sequence); nothing was written.
    #[error("{0}")]
    Producer(crate::producer_state::ProducerError),
    /// On-disk state that recovery cannot repair, or that a read found inconsistent.
    #[error("corrupt log: {0}")]
    Corrupt(String),
}

/// Attaches the path to an `io::Error`.
pub(crate) trait IoContext<T> {
    /// Maps the error to [`StorageError::Io`] naming `path`.
    fn at(self, path: &Path) -> Result<T, StorageError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T, StorageError> {
        self.map_err(|source| StorageError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
