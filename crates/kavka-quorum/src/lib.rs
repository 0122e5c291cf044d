//! kavka-quorum: the metadata log on disk, and (next) its replication among the controllers.
//!
//! Place in the crate graph: depends on `kavka-metadata` only; `kavka-broker` opens a
//! [`LocalLog`] and uses it through `kavka_metadata::MetadataLog`.
//!
//! - [`journal`]: [`Journal`], the append-only file of batches with offsets and epochs:
//!   torn-tail recovery, suffix truncation, prefix drop behind a snapshot.
//! - [`snapshots`]: `<offset>-<epoch>.checkpoint` files of the image.
//! - [`local`]: [`LocalLog`], the log of a single voter (committed once durable), with
//!   snapshots every `metadata.log.max.record.bytes.between.snapshots` bytes.
//! - `legacy`: the one-time conversion of the journal format without offsets.

pub mod journal;
pub mod local;
pub mod snapshots;

mod legacy;

pub use journal::Journal;
pub use legacy::LEGACY_FILE_NAME;
pub use local::{LocalLog, SNAPSHOT_BYTES_MIN_DEFAULT};

#[cfg(test)]
mod test_support;
