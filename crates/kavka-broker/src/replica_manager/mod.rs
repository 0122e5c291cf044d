//! The partitions this node hosts (as leader or follower: `replication.rs`) and their logs. Handlers reach storage only
//! through here. Appends and reads take a partition's lock only to touch the in-memory log state;
//! the bytes of a read are copied from the segment file after the lock is released.
//!
//! A partition whose log failed on disk (a write or fsync error) or whose lock was poisoned by a
//! panic goes offline: every later operation answers KAFKA_STORAGE_ERROR instead of guessing at
//! the log's state, as Kafka does with a failed log directory.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use kavka_storage::{
    AppendInfo, CleanStats, CleanTask, CleanedLog, LogConfig, PartitionLog, ReadSlice,
    RetentionOutcome, StorageError,
};
use uuid::Uuid;

use crate::purgatory::{DelayedFetch, FetchWatchers, WaitFor};

mod error;
mod manager;
pub mod quota;
mod replicated;
mod replication;

pub use error::{storage_error_code, PartitionError};
pub use manager::{ReplicaManager, TopicPartition};

pub use replication::{ImageState, ReplicaState, Role};

/// The topic configs the produce path checks before appending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducePolicy {
    /// `min.insync.replicas`: acks=all needs this many in-sync replicas.
    pub min_insync_replicas: i32,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime may be.
    pub timestamp_after_max_ms: i64,
    /// `segment.bytes`: a batch larger than a segment can never be stored.
    pub segment_bytes: u64,
    /// Whether timestamps are LogAppendTime (then CreateTime is not checked).
    pub log_append_time: bool,
    /// Whether an append may fsync (`flush.messages` set): such appends run where blocking the
    /// thread does not hold up other connections.
    pub may_fsync: bool,
    /// `cleanup.policy` includes `compact`: records without a key are refused (the only
    /// produce check that decodes records).
    pub compacted: bool,
    /// `compression.type` naming a codec: batches in another codec are re-compressed.
    /// `None` for `producer` (stored as sent).
    pub compression: Option<kavka_protocol::batch::Compression>,
}

/// A hosted partition.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Topic id.
    pub topic_id: Uuid,
    /// Partition index.
    pub index: i32,
    /// Leader epoch stamped into appended batches; set from the metadata image (changed only
    /// under the log lock, so an append sees one value throughout).
    leader_epoch: AtomicI32,
    /// Checks of the produce path, from the topic's configs.
    policy: RwLock<ProducePolicy>,
    /// Set when the log failed on disk; the partition then serves nothing.
    offline: AtomicBool,
    /// The log; the lock is held only for in-memory state changes and the append write.
    /// `None` once the partition was deleted or closed.
    log: Mutex<Option<PartitionLog>>,
    /// Delayed fetches reading this partition, and produces waiting for its high watermark,
    /// woken when it changes.
    fetches: FetchWatchers,
    /// Leader or follower, the ISR and the high watermark.
    replication: Mutex<ReplicaState>,
    /// The partition has one replica: its high watermark is its log end (no lock to read).
    solo: AtomicBool,
    /// Its topic's counters, once the broker's metrics asked for them.
    metrics: std::sync::OnceLock<Arc<crate::observe::TopicMetrics>>,
}

/// Whom an append leaves to wake (see [`Partition::append_unwoken`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendWake {
    /// Nothing was written (a duplicate).
    Nothing,
    /// Followers' fetches (new records at the log end).
    Followers,
    /// Everyone: the high watermark moved too.
    All,
}

/// What a read may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A consumer reading uncommitted: below the high watermark.
    Uncommitted,
    /// A read_committed consumer: below the last stable offset (itself below the high
    /// watermark).
    Committed,
    /// A follower, or this node's own coordinator: the whole log.
    Log,
}

/// Offsets of a partition at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Offset the next record gets.
    pub log_end_offset: i64,
    /// Below it every record is on every ISR member (the log end with one replica).
    pub high_watermark: i64,
    /// The last stable offset: below the oldest open transaction, else the high watermark.
    pub last_stable_offset: i64,
}

/// Where a read's bytes are, with the offsets seen under the same lock; the bytes themselves are
/// read by [`ReadPlan::read`], outside the lock.
#[derive(Debug)]
pub struct ReadPlan {
    /// Whole batches (possibly none) in a segment file.
    pub slice: ReadSlice,
    /// Offsets at the time of the read.
    pub offsets: PartitionOffsets,
    /// For a read_committed read: the aborted transactions overlapping the data read.
    pub aborted: Vec<kavka_storage::AbortedTxn>,
}

impl ReadPlan {
    /// Bytes the read will return.
    pub fn len(&self) -> usize {
        self.slice.len
    }

    /// Whether nothing is to be read.
    pub fn is_empty(&self) -> bool {
        self.slice.is_empty()
    }

    /// Reads the bytes from the segment file.
    pub fn read(&self, partition: &Partition) -> Result<Bytes, PartitionError> {
        if self.slice.is_empty() {
            return Ok(Bytes::new());
        }
        self.slice.read_bytes().map_err(|source| {
            partition.fail(PartitionError::Storage(StorageError::Io {
                path: std::path::PathBuf::from(format!("{}-{}", partition.topic, partition.index)),
                source,
            }))
        })
    }
}

/// The offsets of `log` whose high watermark is `high_watermark` (`None`: the log end).
fn offsets_of(log: &PartitionLog, high_watermark: Option<i64>) -> PartitionOffsets {
    let log_end_offset = log.log_end_offset();
    let hw = high_watermark.map_or(log_end_offset, |h| h.min(log_end_offset));
    PartitionOffsets {
        log_start_offset: log.log_start_offset(),
        log_end_offset,
        high_watermark: hw,
        last_stable_offset: log.last_stable_offset().min(hw),
    }
}

impl Partition {
    /// Its topic's counters in `metrics` (looked up once, then kept).
    pub fn topic_metrics(
        &self,
        metrics: &crate::observe::Metrics,
    ) -> &crate::observe::TopicMetrics {
        self.metrics.get_or_init(|| metrics.topic(&self.topic))
    }

    fn lock(&self) -> Result<MutexGuard<'_, Option<PartitionLog>>, PartitionError> {
        if self.offline.load(Ordering::Acquire) {
            return Err(PartitionError::Offline);
        }
        self.log.lock().map_err(|_| {
            // A panic while holding the lock leaves the log state unknown: stop serving it.
            self.offline.store(true, Ordering::Release);
            tracing::error!(topic = %self.topic, partition = self.index, "partition offline: its lock was poisoned");
            PartitionError::Offline
        })
    }

    /// Takes the partition offline after a disk failure, and passes the error on.
    fn fail(&self, e: PartitionError) -> PartitionError {
        if let PartitionError::Storage(s) = &e {
            if error::is_disk_failure(s) && !self.offline.swap(true, Ordering::AcqRel) {
                tracing::error!(topic = %self.topic, partition = self.index, error = %s, "partition offline after a storage failure");
                self.fetches.wake();
            }
        }
        e
    }

    fn with_log<T>(
        &self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, StorageError>,
    ) -> Result<T, PartitionError> {
        let mut guard = self.lock()?;
        let log = guard.as_mut().ok_or(PartitionError::Gone)?;
        f(log).map_err(|e| self.fail(e.into()))
    }

    /// The leader epoch appended batches get.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Sets the leader epoch from a new partition state in the metadata image.
    pub fn set_leader_epoch(&self, leader_epoch: i32) {
        let _log = self
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.leader_epoch.store(leader_epoch, Ordering::Release);
        drop(_log);
        // Waiting fetches answer with the new leadership.
        self.fetches.wake();
    }

    /// Registers a delayed fetch (or produce) to be woken when what it waits for changes on
    /// this partition.
    pub fn watch(&self, fetch: &DelayedFetch, what: WaitFor) {
        self.fetches.watch(fetch, what);
    }

    /// How many times the partition's state changed (see `purgatory`): read it before the
    /// state, and an equal count later means the state read is still current.
    pub fn changes(&self) -> u64 {
        self.fetches.changes()
    }

    /// The checks of the produce path.
    pub fn policy(&self) -> ProducePolicy {
        *self.policy.read().expect("policy lock poisoned")
    }

    /// Current offsets.
    pub fn offsets(&self) -> Result<PartitionOffsets, PartitionError> {
        let hw = self.high_watermark();
        self.with_log(|log| Ok(offsets_of(log, hw)))
    }

    /// Writes a transaction marker (WriteTxnMarkers) for `producer_id` at `epoch`.
    pub fn append_marker(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, PartitionError> {
        let info = self.with_log(|log| {
            log.append_marker(
                producer_id,
                epoch,
                commit,
                coordinator_epoch,
                self.leader_epoch(),
                now_ms,
            )
        })?;
        self.appended(info.last_offset + 1);
        // The last stable offset may move at once (up to the high watermark): read_committed
        // consumers look again.
        self.fetches.wake();
        Ok(info)
    }

    /// Validates and appends one produced batch, written from where it is (its header is
    /// rewritten on the way, the records are not copied). Returns the append and the log start
    /// offset.
    pub fn append(&self, batch: &[u8], now_ms: i64) -> Result<(AppendInfo, i64), PartitionError> {
        let (appended, wake) = self.append_unwoken(batch, now_ms)?;
        self.wake(wake);
        Ok(appended)
    }

    /// [`Partition::append`] that leaves the waiting fetches to the caller
    /// ([`Partition::wake`]): a request appending to several partitions wakes them once all
    /// its batches are in, so that a follower woken by the first finds the others too (one
    /// round trip per request instead of one per partition; Kafka's delayed actions).
    pub fn append_unwoken(
        &self,
        batch: &[u8],
        now_ms: i64,
    ) -> Result<((AppendInfo, i64), AppendWake), PartitionError> {
        let appended = self.with_log(|log| {
            let info = log.append_batch(batch, self.leader_epoch(), now_ms)?;
            Ok((info, log.log_start_offset()))
        })?;
        let wake = if appended.0.bytes > 0 {
            self.appended_unwoken(appended.0.last_offset + 1)
        } else {
            AppendWake::Nothing
        };
        Ok((appended, wake))
    }

    /// Locates whole batches from `offset` (no data I/O); consumers' reads stop at the high
    /// watermark, read_committed ones at the last stable offset and name the aborted
    /// transactions in what they return.
    pub fn plan_read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        isolation: Isolation,
    ) -> Result<ReadPlan, PartitionError> {
        let hw = self.high_watermark();
        self.with_log(|log| {
            let offsets = offsets_of(log, hw);
            let whole = isolation == Isolation::Log
                || (isolation == Isolation::Uncommitted
                    && offsets.high_watermark == offsets.log_end_offset);
            if whole {
                return Ok(ReadPlan {
                    slice: log.read(offset, max_bytes, min_one_batch)?,
                    offsets,
                    aborted: Vec::new(),
                });
            }
            if isolation == Isolation::Uncommitted {
                return Ok(ReadPlan {
                    slice: log.read_below(
                        offset,
                        max_bytes,
                        min_one_batch,
                        offsets.high_watermark,
                    )?,
                    offsets,
                    aborted: Vec::new(),
                });
            }
            let slice =
                log.read_below(offset, max_bytes, min_one_batch, offsets.last_stable_offset)?;
            let aborted = if slice.is_empty() {
                Vec::new()
            } else {
                log.aborted_transactions(offset, slice.next_offset)
            };
            Ok(ReadPlan {
                slice,
                offsets,
                aborted,
            })
        })
    }

    /// First offset whose record timestamp is at least `timestamp_ms`.
    pub fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<(i64, i64)>, PartitionError> {
        self.with_log(|log| log.offset_for_timestamp(timestamp_ms))
    }

    /// Where leader epoch `epoch` ends on this partition's log (OffsetForLeaderEpoch), and the
    /// log start offset, under one lock.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Result<(i32, i64, i64), PartitionError> {
        self.with_log(|log| {
            let (found, end_offset) = log.end_offset_for_epoch(epoch);
            Ok((found, end_offset, log.log_start_offset()))
        })
    }

    /// Largest timestamp and the offset of the record carrying it.
    pub fn max_timestamp_and_offset(&self) -> Result<Option<(i64, i64)>, PartitionError> {
        self.with_log(|log| log.max_timestamp_record())
    }

    /// Flushes if `flush.ms` says so.
    pub fn flush_if_due(&self, now_ms: i64) -> Result<(), PartitionError> {
        self.with_log(|log| log.flush_if_due(now_ms))
    }

    /// Applies a new configuration (takes effect for later appends, rolls, retention, cleaning).
    pub fn set_config(&self, config: LogConfig, policy: ProducePolicy) {
        *self.policy.write().expect("policy lock poisoned") = policy;
        if let Ok(mut guard) = self.lock() {
            if let Some(log) = guard.as_mut() {
                log.set_config(config);
            }
        }
    }

    /// Moves the log start offset to `offset` (DeleteRecords); returns the new log start offset.
    pub fn delete_records(&self, offset: i64) -> Result<i64, PartitionError> {
        let start = self.with_log(|log| log.delete_records(offset))?;
        self.fetches.touch();
        Ok(start)
    }

    /// The idempotent producers the partition knows.
    pub fn producers(&self) -> Result<Vec<kavka_storage::ProducerEntry>, PartitionError> {
        self.with_log(|log| Ok(log.producer_state().entries().cloned().collect()))
    }

    /// Forgets producers idle for `expiration_ms`; returns how many.
    pub fn expire_producers(
        &self,
        now_ms: i64,
        expiration_ms: i64,
    ) -> Result<usize, PartitionError> {
        self.with_log(|log| Ok(log.expire_producers(now_ms, expiration_ms)))
    }

    /// Deletes segments past `retention.ms` / `retention.bytes`.
    pub fn apply_retention(&self, now_ms: i64) -> Result<RetentionOutcome, PartitionError> {
        let outcome = self.with_log(|log| log.apply_retention(now_ms));
        self.fetches.touch();
        outcome
    }

    /// What the cleaner could clean now (cheap, under the lock).
    pub fn clean_task(&self, now_ms: i64) -> Option<CleanTask> {
        self.lock()
            .ok()?
            .as_ref()
            .and_then(|log| log.clean_task(now_ms))
    }

    /// Swaps cleaned segments in (quick, under the lock).
    pub fn install_cleaned(&self, cleaned: CleanedLog) -> Result<CleanStats, PartitionError> {
        let stats = self.with_log(|log| log.install_cleaned(cleaned));
        self.fetches.touch();
        stats
    }

    /// Size of the log and the directory it lives in.
    pub fn size_and_dir(&self) -> Option<(u64, std::path::PathBuf)> {
        let guard = self.lock().ok()?;
        guard
            .as_ref()
            .map(|log| (log.size_bytes(), log.dir().to_path_buf()))
    }

    fn take_log(&self) -> Option<PartitionLog> {
        match self.log.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        }
    }
}
