//! The broker's internal errors. Wire error codes live in `kavka_protocol::ErrorCode`; these are
//! for startup and I/O failures and map onto wire codes at the handler edge.

use std::path::{Path, PathBuf};

use kavka_metadata::MetadataError;
use kavka_storage::StorageError;
use thiserror::Error;

/// A broker failure.
#[derive(Debug, Error)]
pub enum BrokerError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The partition log failed.
    #[error(transparent)]
    Storage(StorageError),
    /// The metadata log failed.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The node cannot start as configured.
    #[error("{0}")]
    Startup(String),
}

impl BrokerError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> BrokerError {
        BrokerError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
