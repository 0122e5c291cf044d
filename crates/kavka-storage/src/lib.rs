//! kavka-storage: the partition log, stored as Kafka stores it.
//!
//! Place in the crate graph: above `kavka-protocol` (it uses the zero-copy batch header view,
//! and the record decoder and batch rebuilder for timestamp lookups and compaction), below the
//! broker. No network, no async, no clock: callers pass `now_ms`, so tests inject time.
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
//! - Old data goes by whole closed segments: `retention.ms` / `retention.bytes`
//!   ([`PartitionLog::apply_retention`]) and DeleteRecords ([`PartitionLog::delete_records`])
//!   move the log start offset, checkpointed atomically in `log-start-offset` before segments
//!   are deleted.
//! - Idempotent producers ([`producer_state`]): every produced batch with a producer id is
//!   checked from its header against the producer's epoch and last five batches (a retry is
//!   answered with the original offsets, a gap or an old epoch refused); the state is
//!   snapshotted at every roll and at close ([`producer_snapshot`], `<offset>.snapshot`) and
//!   rebuilt at open from the latest snapshot plus the batch headers after it.
//! - Compaction (`cleanup.policy=compact`) runs in three steps so that produce and fetch never
//!   wait for it: [`PartitionLog::clean_task`] under the partition lock, [`CleanTask::run`]
//!   without it (bounded offset map, cleaned segments written beside the log),
//!   [`PartitionLog::install_cleaned`] under the lock (Kafka's `.cleaned` / `.swap` protocol,
//!   completed by recovery after a crash). The cleaner checkpoint is `cleaner-offset-checkpoint`.
//!
//! Modules: [`config`] (topic configs), `segment` (one segment's files), `index` and
//! `time_index` (the sparse indexes over `index_file`), `header` (header-only batch parsing and
//! walking), `scan` (the validating recovery scan), `recovery` (opening a directory), `log`
//! (the [`PartitionLog`] API, with `retention` and `compaction`), `cleaner` (the clean run:
//! offset map, batch filter, swap protocol), `checkpoint` (atomic checkpoint files),
//! `failpoint` (crash injection for tests), `read` ([`ReadSlice`]), [`error`].

mod checkpoint;
mod cleaner;
pub mod config;
pub mod epoch_cache;
pub mod error;
mod failpoint;
mod header;
mod index;
mod index_file;
mod log;
pub mod offset_checkpoint;
pub mod producer_snapshot;
pub mod producer_state;
mod read;
mod recovery;
mod scan;
mod segment;
mod time_index;

pub use checkpoint::{rename_aside, CLEANER_CHECKPOINT_FILE, LOG_START_OFFSET_FILE};
pub use cleaner::{
    CleanStats, CleanTask, CleanedLog, CleanerConfig, DEFAULT_DEDUPE_BUFFER_BYTES,
    DEFAULT_IO_BUFFER_BYTES,
};
pub use config::{CleanupPolicy, LogConfig, TimestampType};
pub use error::StorageError;
pub use log::{
    AbortedTxn, AppendInfo, PartitionLog, RetentionOutcome, ABORTED_TXNS_FILE, DELETED_DIR_SUFFIX,
};
pub use producer_state::{ProducerEntry, ProducerError, ProducerStateManager};
pub use read::ReadSlice;
pub use recovery::{RecoveryReport, RECOVERY_POINT_FILE};
