//! The partitions this node hosts (on one node: leads) and their logs. Handlers reach storage only
//! through here. Appends and reads take a partition's lock only to touch the in-memory log state;
//! the bytes of a read are copied from the segment file after the lock is released.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use kavka_protocol::ErrorCode;
use kavka_storage::{AppendInfo, PartitionLog, ReadSlice, StorageError};
use uuid::Uuid;

use crate::purgatory::Purgatory;

/// A hosted partition.
#[derive(Debug)]
pub struct Partition {
    /// Topic name.
    pub topic: Arc<str>,
    /// Topic id.
    pub topic_id: Uuid,
    /// Partition index.
    pub index: i32,
    /// Leader epoch stamped into appended batches.
    pub leader_epoch: i32,
    /// The log; the lock is held only for in-memory state changes and the append write.
    /// `None` once the partition was deleted or closed.
    log: Mutex<Option<PartitionLog>>,
}

/// Offsets of a partition at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// Offset the next record gets; the high watermark on a single node.
    pub log_end_offset: i64,
}

/// Result of a read, with the offsets seen under the same lock.
#[derive(Debug)]
pub struct ReadResult {
    /// Whole batches (possibly empty).
    pub records: Bytes,
    /// Offsets at the time of the read.
    pub offsets: PartitionOffsets,
}

/// Why a partition operation failed.
#[derive(Debug)]
pub enum PartitionError {
    /// The log refused or failed.
    Storage(StorageError),
    /// The partition was deleted (or the broker is shutting down) meanwhile.
    Gone,
}

impl PartitionError {
    /// The Kafka error code for the client.
    pub fn code(&self) -> ErrorCode {
        match self {
            PartitionError::Storage(e) => storage_error_code(e),
            PartitionError::Gone => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        }
    }
}

impl std::fmt::Display for PartitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartitionError::Storage(e) => e.fmt(f),
            PartitionError::Gone => f.write_str("partition no longer hosted"),
        }
    }
}

impl From<StorageError> for PartitionError {
    fn from(e: StorageError) -> Self {
        PartitionError::Storage(e)
    }
}

impl Partition {
    fn lock(&self) -> MutexGuard<'_, Option<PartitionLog>> {
        // A panic while holding the lock leaves the log state unknown: stop serving it.
        self.log.lock().expect("partition log lock poisoned")
    }

    fn with_log<T>(
        &self,
        f: impl FnOnce(&mut PartitionLog) -> Result<T, StorageError>,
    ) -> Result<T, PartitionError> {
        let mut guard = self.lock();
        let log = guard.as_mut().ok_or(PartitionError::Gone)?;
        Ok(f(log)?)
    }

    /// Current offsets.
    pub fn offsets(&self) -> Result<PartitionOffsets, PartitionError> {
        self.with_log(|log| {
            Ok(PartitionOffsets {
                log_start_offset: log.log_start_offset(),
                log_end_offset: log.log_end_offset(),
            })
        })
    }

    /// Validates and appends produced batches (offsets are assigned in place). Returns the
    /// append and the log start offset.
    pub fn append(
        &self,
        batches: &mut [u8],
        now_ms: i64,
    ) -> Result<(AppendInfo, i64), PartitionError> {
        self.with_log(|log| {
            let info = log.append(batches, self.leader_epoch, now_ms)?;
            Ok((info, log.log_start_offset()))
        })
    }

    /// Reads whole batches from `offset`.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadResult, PartitionError> {
        let (slice, offsets): (ReadSlice, PartitionOffsets) = self.with_log(|log| {
            let offsets = PartitionOffsets {
                log_start_offset: log.log_start_offset(),
                log_end_offset: log.log_end_offset(),
            };
            Ok((log.read(offset, max_bytes, min_one_batch)?, offsets))
        })?;
        let records = if slice.is_empty() {
            Bytes::new()
        } else {
            slice.read_bytes().map_err(|source| {
                PartitionError::Storage(StorageError::Io {
                    path: std::path::PathBuf::from(format!("{}-{}", self.topic, self.index)),
                    source,
                })
            })?
        };
        Ok(ReadResult { records, offsets })
    }

    /// First offset whose record timestamp is at least `timestamp_ms`.
    pub fn offset_for_timestamp(
        &self,
        timestamp_ms: i64,
    ) -> Result<Option<(i64, i64)>, PartitionError> {
        self.with_log(|log| log.offset_for_timestamp(timestamp_ms))
    }

    /// Largest timestamp and the offset of the record carrying it.
    pub fn max_timestamp_and_offset(&self) -> Result<Option<(i64, i64)>, PartitionError> {
        self.with_log(|log| log.max_timestamp_record())
    }

    /// Flushes if `flush.ms` says so.
    pub fn flush_if_due(&self, now_ms: i64) -> Result<(), PartitionError> {
        self.with_log(|log| log.flush_if_due(now_ms))
    }

    fn take_log(&self) -> Option<PartitionLog> {
        self.lock().take()
    }
}

/// Key of a partition by topic name.
pub type TopicPartition = (Arc<str>, i32);

/// Every hosted partition.
#[derive(Debug, Default)]
pub struct ReplicaManager {
    /// Partitions by (topic name, index).
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Wakes delayed fetches on append.
    pub purgatory: Purgatory,
}

/// Maps a storage failure to the Kafka error a client gets for that partition.
pub fn storage_error_code(e: &StorageError) -> ErrorCode {
    use kavka_protocol::batch::BatchError;
    match e {
        StorageError::InvalidBatch(BatchError::CrcMismatch { .. })
        | StorageError::InvalidBatch(BatchError::Truncated { .. })
        | StorageError::InvalidBatch(BatchError::InvalidLength(_)) => ErrorCode::CORRUPT_MESSAGE,
        StorageError::InvalidBatch(_) => ErrorCode::INVALID_RECORD,
        StorageError::MessageTooLarge { .. } => ErrorCode::MESSAGE_TOO_LARGE,
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OFFSET_OUT_OF_RANGE,
        _ => ErrorCode::KAFKA_STORAGE_ERROR,
    }
}

impl ReplicaManager {
    /// The partition, if hosted.
    pub fn get(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let key: TopicPartition = (Arc::from(topic), index);
        self.partitions
            .read()
            .expect("partitions lock poisoned")
            .get(&key)
            .cloned()
    }

    /// Starts hosting a partition whose log is open.
    pub fn add(
        &self,
        topic: &str,
        topic_id: Uuid,
        index: i32,
        leader_epoch: i32,
        log: PartitionLog,
    ) {
        let topic: Arc<str> = Arc::from(topic);
        let partition = Arc::new(Partition {
            topic: topic.clone(),
            topic_id,
            index,
            leader_epoch,
            log: Mutex::new(Some(log)),
        });
        self.partitions
            .write()
            .expect("partitions lock poisoned")
            .insert((topic, index), partition);
    }

    /// Stops hosting every partition of a topic and deletes their logs.
    pub fn remove_topic(&self, topic: &str) -> Vec<StorageError> {
        let removed: Vec<Arc<Partition>> = {
            let mut map = self.partitions.write().expect("partitions lock poisoned");
            let keys: Vec<TopicPartition> =
                map.keys().filter(|(t, _)| &**t == topic).cloned().collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        let mut errors = Vec::new();
        for p in removed {
            // Readers holding the Arc finish on the open file handles; the files are unlinked.
            if let Some(log) = p.take_log() {
                if let Err(e) = log.delete() {
                    errors.push(e);
                }
            }
        }
        self.purgatory.notify();
        errors
    }

    /// All hosted partitions.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .expect("partitions lock poisoned")
            .values()
            .cloned()
            .collect()
    }

    /// Closes every log (flush, checkpoints) for a clean shutdown.
    pub fn close_all(&self) -> Vec<StorageError> {
        let drained: Vec<Arc<Partition>> = self
            .partitions
            .write()
            .expect("partitions lock poisoned")
            .drain()
            .map(|(_, p)| p)
            .collect();
        let mut errors = Vec::new();
        for p in drained {
            if let Some(log) = p.take_log() {
                if let Err(e) = log.close() {
                    errors.push(e);
                }
            }
        }
        errors
    }
}
