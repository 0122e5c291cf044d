//! The crate's error type.

use std::io;
use std::path::{Path, PathBuf};

use crate::image::ReplayError;

/// Why a metadata operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory the operation was on.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file that must be well formed (`meta.properties`) is not.
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A record in the log does not apply to the image replayed so far. The log is well framed
    /// (CRCs match) but its content is inconsistent: a bug or an edited file, which needs an
    /// operator rather than a silent truncation.
    #[error("metadata log batch {offset} record {index} does not replay: {source}")]
    Replay {
        /// Offset of the batch.
        offset: u64,
        /// Index of the record in the batch, from 0.
        index: usize,
        /// Why it does not apply.
        source: ReplayError,
    },
    /// A batch a controller proposed does not apply to its image; nothing was written.
    #[error("metadata batch record {index} rejected: {source}")]
    Rejected {
        /// Index of the offending record in the batch, from 0.
        index: usize,
        /// Why it does not apply.
        source: ReplayError,
    },
    /// A batch encodes to more than [`crate::batch::FRAME_BYTES_MAX`] bytes.
    #[error("metadata batch of {bytes} bytes exceeds the frame limit of {bytes_max} bytes")]
    RecordTooLarge {
        /// Encoded size of the batch.
        bytes: usize,
        /// The limit.
        bytes_max: usize,
    },
    /// This node does not lead the metadata quorum (or lost the lead before the batch was
    /// committed); `leader` is the voter it knows leads, if any.
    #[error("this node is not the metadata quorum's leader (leader: {leader:?})")]
    NotLeader {
        /// The leader's node id, when known.
        leader: Option<u64>,
    },
    /// A batch was proposed but not known committed within the wait; it may still commit.
    #[error("metadata batch at offset {offset} not committed within {timeout_ms} ms")]
    CommitTimeout {
        /// The offset the batch was proposed at.
        offset: u64,
        /// How long the proposer waited.
        timeout_ms: u64,
    },
    /// A batch whose offset or epoch does not follow the log's last batch.
    #[error("metadata batch at offset {offset} epoch {epoch} does not follow offset {last_offset} epoch {last_epoch}")]
    OutOfOrder {
        /// The batch's offset.
        offset: u64,
        /// The batch's epoch.
        epoch: u32,
        /// The log's last offset.
        last_offset: u64,
        /// The log's last epoch.
        last_epoch: u32,
    },
    /// An earlier write or fsync of the journal failed in a way that leaves the file's content
    /// unknown; the journal refuses further appends until it is reopened (and its tail checked).
    #[error("{path}: metadata journal failed earlier and must be reopened")]
    JournalFailed {
        /// The journal file.
        path: PathBuf,
    },
    /// [`crate::MetaProperties::format`] found a `meta.properties` already there.
    #[error("{path}: already formatted")]
    AlreadyFormatted {
        /// The existing file.
        path: PathBuf,
    },
}

impl From<crate::batch::BatchTooLarge> for MetadataError {
    fn from(e: crate::batch::BatchTooLarge) -> Self {
        MetadataError::RecordTooLarge {
            bytes: e.bytes,
            bytes_max: e.bytes_max,
        }
    }
}

impl MetadataError {
    /// Builds a closure that wraps an [`io::Error`] with `path`, for `map_err`.
    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> MetadataError + '_ {
        move |source| MetadataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
