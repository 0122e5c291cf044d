//! Why a partition operation failed, and the Kafka error code each failure gets.

use kavka_protocol::ErrorCode;
use kavka_storage::{ProducerError, StorageError};

/// Why a partition operation failed.
#[derive(Debug)]
pub enum PartitionError {
    /// The log refused or failed.
    Storage(StorageError),
    /// The partition was deleted (or the broker is shutting down) meanwhile.
    Gone,
    /// The log failed on disk earlier; the partition is offline.
    Offline,
    /// A replica fetch from a broker that is not a replica, or to a node that does not lead.
    NotReplica,
}

impl PartitionError {
    /// The Kafka error code for the client.
    pub fn code(&self) -> ErrorCode {
        match self {
            PartitionError::Storage(e) => storage_error_code(e),
            PartitionError::Gone => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            PartitionError::Offline => ErrorCode::KAFKA_STORAGE_ERROR,
            PartitionError::NotReplica => ErrorCode::NOT_LEADER_OR_FOLLOWER,
        }
    }
}

impl PartitionError {
    /// The code of a batch the log refused (a producer check), `None` for failures.
    pub fn refusal_code(&self) -> Option<ErrorCode> {
        match self {
            PartitionError::Storage(e @ StorageError::Producer(_)) => Some(storage_error_code(e)),
            _ => None,
        }
    }
}

impl std::fmt::Display for PartitionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartitionError::Storage(e) => e.fmt(f),
            PartitionError::Gone => f.write_str("partition no longer hosted"),
            PartitionError::Offline => f.write_str("partition offline after a storage failure"),
            PartitionError::NotReplica => f.write_str("not a replica this node leads for"),
        }
    }
}

impl From<StorageError> for PartitionError {
    fn from(e: StorageError) -> Self {
        PartitionError::Storage(e)
    }
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
        StorageError::Corrupt(_) => ErrorCode::CORRUPT_MESSAGE,
        StorageError::OffsetsOutOfOrder { .. } => ErrorCode::INVALID_RECORD,
        StorageError::Producer(p) => match p {
            ProducerError::InvalidEpoch { .. } => ErrorCode::INVALID_PRODUCER_EPOCH,
            ProducerError::OutOfOrderSequence { .. } => ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER,
            ProducerError::DuplicateSequence { .. } => ErrorCode::DUPLICATE_SEQUENCE_NUMBER,
            ProducerError::NotTransactional { .. } => ErrorCode::INVALID_TXN_STATE,
        },
        _ => ErrorCode::KAFKA_STORAGE_ERROR,
    }
}

/// Whether a storage error means the disk failed (rather than a refused request, or a batch
/// that cannot be decoded, which concerns that request only).
pub(super) fn is_disk_failure(e: &StorageError) -> bool {
    matches!(e, StorageError::Io { .. })
}
