//! kavka-storage: the partition log, stored as Kafka stores it.
//!
//! Place in the crate graph: above `kavka-protocol` (it uses only the zero-copy batch header view
//! and, for timestamp lookups, the record decoder), below the broker. No network, no async, no
//! clock: callers pass `now_ms`, so tests inject time.
//!
//! Design:
//! - A [`PartitionLog`] owns one directory of segments, each a `<baseOffset>.log` (20-digit
//!   zero-padded, as Kafka) holding v2 record batches exactly as produced, with assigned
//!   offsets; a sparse `.index` (relative offset u32, position u32) and a `.timeindex`
//!   (timestamp i64, relative offset u32), both big-endian as in Kafka.
//! - Append validates batch headers and CRCs (never decoding records), assigns offsets in place,
//!   rolls the active segment when it is full (`segment.bytes`), old (`segment.ms`) or its index
//!   is full (`segment.index.bytes`), and writes the whole produce payload with one `pwrite`.
//!   Index entries are kept in memory and written on roll, flush and close.
//! - Read finds the batch through the sparse index then walks batch headers, and returns a
//!   [`ReadSlice`] (file, position, length) for the caller to read outside any lock.
//! - Open after a crash scans every segment from the `recovery-point` checkpoint on, truncates
//!   a torn or corrupt tail and rebuilds those segments' indexes ([`RecoveryReport`]).
//!
//! Modules: [`config`] (topic configs), `segment` (one segment's files), `index` and
//! `time_index` (the sparse indexes over `index_file`), `header` (header-only batch parsing and
//! walking), `scan` (the validating recovery scan), `recovery` (opening a directory), `log`
//! (the [`PartitionLog`] API), `read` ([`ReadSlice`]), [`error`].

pub mod config;
pub mod error;
mod header;
mod index;
mod index_file;
mod log;
mod read;
mod recovery;
mod scan;
mod segment;
mod time_index;

pub use config::{LogConfig, TimestampType};
pub use error::StorageError;
pub use log::{AppendInfo, PartitionLog};
pub use read::ReadSlice;
pub use recovery::{RecoveryReport, RECOVERY_POINT_FILE};
