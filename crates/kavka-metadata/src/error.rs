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
    /// A record in the journal does not apply to the image replayed so far. The journal is
    /// well framed (CRCs match) but its content is inconsistent: a bug or an edited file, which
    /// needs an operator rather than a silent truncation.
    #[error("metadata journal record {index} does not replay: {source}")]
    Replay {
        /// Index of the record in the journal, from 0.
        index: u64,
        /// Why it does not apply.
        source: ReplayError,
    },
    /// A batch passed to [`crate::MetadataStore::commit`] was rejected; nothing was written.
    #[error("metadata batch record {index} rejected: {source}")]
    Rejected {
        /// Index of the offending record in the batch, from 0.
        index: usize,
        /// Why it does not apply.
        source: ReplayError,
    },
    /// A record encodes to more than [`crate::journal::FRAME_BYTES_MAX`] bytes.
    #[error("metadata record of {bytes} bytes exceeds the frame limit of {bytes_max} bytes")]
    RecordTooLarge {
        /// Encoded size of the record.
        bytes: usize,
        /// The limit.
        bytes_max: usize,
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

impl MetadataError {
    /// Builds a closure that wraps an [`io::Error`] with `path`, for `map_err`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(io::Error) -> MetadataError + '_ {
        move |source| MetadataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
