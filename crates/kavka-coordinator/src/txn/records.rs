//! Records of `__transaction_state`, byte-compatible with Kafka's `TransactionLogKey` /
//! `TransactionLogValue` (so Kafka's tools read the topic, and a log written by Kafka reads
//! back):
//!
//! ```text
//! key      = version i16 (0) | transactional_id string (i16 length)
//! value v0 = version i16 (0) | producer_id i64 | producer_epoch i16 | timeout_ms i32
//!            | status i8 | partitions (nullable i32 count) [topic string | ids i32 count, i32*]
//!            | last_update_ms i64 | start_ms i64
//! value v1 = the same fields, flexible: compact strings and arrays, a tag section after each
//!            partition entry and at the end, with tags 0 previous_producer_id i64,
//!            1 next_producer_id i64, 2 client_transaction_version i16
//! ```
//!
//! A null value (tombstone) deletes the transactional id. Values are written as v1 when a
//! field only v1 carries is set (a client on transactions version 2, or producer ids being
//! rotated), else as v0, which every Kafka version reads. Decoding never panics and allocates no
//! more than the bytes can hold.

use bytes::Bytes;

use crate::group::records::RecordDecodeError;
use crate::group::wire::{Reader, Writer};

/// Known value versions.
const VALUE_VERSION_MAX: i16 = 1;
/// Smallest encoding of one partition entry (non-flexible: empty topic, no ids).
const PARTITION_ENTRY_BYTES_MIN: usize = 2;

/// Kafka's `TransactionState` of a transactional id, with its wire ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxnStatus {
    /// No transaction in progress (0).
    Empty,
    /// Partitions added, records may be written (1).
    Ongoing,
    /// EndTxn(commit) accepted; markers being written (2).
    PrepareCommit,
    /// EndTxn(abort), or a timeout; markers being written (3).
    PrepareAbort,
    /// Markers written: committed (4).
    CompleteCommit,
    /// Markers written: aborted (5).
    CompleteAbort,
    /// Expired and removed (6).
    Dead,
    /// A timed-out transaction's epoch is bumped before it is aborted (7).
    PrepareEpochFence,
}

impl TxnStatus {
    /// The wire id.
    pub fn id(self) -> i8 {
        match self {
            TxnStatus::Empty => 0,
            TxnStatus::Ongoing => 1,
            TxnStatus::PrepareCommit => 2,
            TxnStatus::PrepareAbort => 3,
            TxnStatus::CompleteCommit => 4,
            TxnStatus::CompleteAbort => 5,
            TxnStatus::Dead => 6,
            TxnStatus::PrepareEpochFence => 7,
        }
    }

    /// The status of a wire id.
    pub fn from_id(id: i8) -> Option<TxnStatus> {
        Some(match id {
            0 => TxnStatus::Empty,
            1 => TxnStatus::Ongoing,
            2 => TxnStatus::PrepareCommit,
            3 => TxnStatus::PrepareAbort,
            4 => TxnStatus::CompleteCommit,
            5 => TxnStatus::CompleteAbort,
            6 => TxnStatus::Dead,
            7 => TxnStatus::PrepareEpochFence,
            _ => return None,
        })
    }

    /// Kafka's name (`kafka-transactions.sh` and ListTransactions state filters use it).
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// The stored state of one transactional id (Kafka's `TransactionLogValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnLogValue {
    /// The producer id in use.
    pub producer_id: i64,
    /// The previous producer id (v1 tag 0), -1 when none.
    pub previous_producer_id: i64,
    /// The next producer id, once the epoch is exhausted (v1 tag 1), -1 when none.
    pub next_producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The transaction timeout.
    pub timeout_ms: i32,
    /// The state.
    pub status: TxnStatus,
    /// Partitions in the transaction, by topic (ids in order); empty when none.
    pub partitions: Vec<(String, Vec<i32>)>,
    /// Last change of the state.
    pub last_update_ms: i64,
    /// Start of the current transaction, -1 when none.
    pub start_ms: i64,
    /// The transactions version the client uses (v1 tag 2; 0 = unknown / version 1).
    pub client_transaction_version: i16,
}

/// One record of `__transaction_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The transactional id (the record key).
    pub transactional_id: String,
    /// Its state; `None` (a tombstone) removes the id.
    pub value: Option<TxnLogValue>,
}

impl TxnLogValue {
    /// Whether only v1 can carry this value.
    fn needs_v1(&self) -> bool {
        self.previous_producer_id != -1
            || self.next_producer_id != -1
            || self.client_transaction_version != 0
    }
}

impl TxnRecord {
    /// The key bytes.
    pub fn encode_key(&self) -> Bytes {
        let mut w = Writer::new(false);
        w.buf.extend_from_slice(&0i16.to_be_bytes());
        w.string(&self.transactional_id);
        w.finish()
    }

    /// The value bytes, `None` for a tombstone.
    pub fn encode_value(&self) -> Option<Bytes> {
        let v = self.value.as_ref()?;
        let version: i16 = if v.needs_v1() { 1 } else { 0 };
        let flexible = version >= 1;
        let mut w = Writer::new(flexible);
        w.buf.extend_from_slice(&version.to_be_bytes());
        w.buf.extend_from_slice(&v.producer_id.to_be_bytes());
        w.buf.extend_from_slice(&v.producer_epoch.to_be_bytes());
        w.buf.extend_from_slice(&v.timeout_ms.to_be_bytes());
        w.buf.push(v.status.id() as u8);
        // Kafka writes no partition list (null) for an Empty transaction.
        if v.status == TxnStatus::Empty && v.partitions.is_empty() {
            w.null_array();
        } else {
            w.length(v.partitions.len());
        }
        for (topic, ids) in &v.partitions {
            w.string(topic);
            w.length(ids.len());
            for id in ids {
                w.buf.extend_from_slice(&id.to_be_bytes());
            }
            w.tagged_fields();
        }
        w.buf.extend_from_slice(&v.last_update_ms.to_be_bytes());
        w.buf.extend_from_slice(&v.start_ms.to_be_bytes());
        if flexible {
            let previous = v.previous_producer_id.to_be_bytes();
            let next = v.next_producer_id.to_be_bytes();
            let ctv = v.client_transaction_version.to_be_bytes();
            let mut tags: Vec<(u32, &[u8])> = Vec::new();
            if v.previous_producer_id != -1 {
                tags.push((0, &previous));
            }
            if v.next_producer_id != -1 {
                tags.push((1, &next));
            }
            if v.client_transaction_version != 0 {
                tags.push((2, &ctv));
            }
            w.tag_section(&tags);
        }
        Some(w.finish())
    }

    /// Decodes a record (`value` `None` = tombstone). `Ok(None)` for a key version this build
    /// does not know.
    pub fn decode(
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Option<TxnRecord>, RecordDecodeError> {
        let mut r = Reader::new(key, false);
        if r.i16("key version")? != 0 {
            return Ok(None);
        }
        let transactional_id = r.string("transactional_id")?;
        r.finish("key")?;
        let value = value.map(decode_value).transpose()?;
        Ok(Some(TxnRecord {
            transactional_id,
            value,
        }))
    }
}

fn decode_value(bytes: &[u8]) -> Result<TxnLogValue, RecordDecodeError> {
    let mut r = Reader::new(bytes, false);
    let version = r.i16("value version")?;
    if !(0..=VALUE_VERSION_MAX).contains(&version) {
        return Err(RecordDecodeError::UnknownValueVersion {
            record: "TransactionLogValue",
            version,
        });
    }
    r.set_flexible(version >= 1);
    let producer_id = r.i64("producer_id")?;
    let producer_epoch = r.i16("producer_epoch")?;
    let timeout_ms = r.i32("transaction_timeout_ms")?;
    let status_id = r.i8("transaction_status")?;
    let status = TxnStatus::from_id(status_id).ok_or(RecordDecodeError::InvalidLength {
        field: "transaction_status",
        len: i64::from(status_id),
    })?;
    let count = r.nullable_array_len("transaction_partitions", PARTITION_ENTRY_BYTES_MIN)?;
    let mut partitions = Vec::with_capacity(count.unwrap_or(0));
    for _ in 0..count.unwrap_or(0) {
        let topic = r.string("topic")?;
        let n = r.array_len("partition_ids", 4)?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(r.i32("partition_id")?);
        }
        r.tagged_fields("partition tags")?;
        partitions.push((topic, ids));
    }
    let last_update_ms = r.i64("transaction_last_update_timestamp_ms")?;
    let start_ms = r.i64("transaction_start_timestamp_ms")?;
    let mut value = TxnLogValue {
        producer_id,
        previous_producer_id: -1,
        next_producer_id: -1,
        producer_epoch,
        timeout_ms,
        status,
        partitions,
        last_update_ms,
        start_ms,
        client_transaction_version: 0,
    };
    if version >= 1 {
        for (tag, field) in r.tag_section("tags")? {
            let bad = || RecordDecodeError::InvalidLength {
                field: "tagged field",
                len: field.len() as i64,
            };
            match tag {
                0 => {
                    value.previous_producer_id =
                        i64::from_be_bytes(field.try_into().map_err(|_| bad())?)
                }
                1 => {
                    value.next_producer_id =
                        i64::from_be_bytes(field.try_into().map_err(|_| bad())?)
                }
                2 => {
                    value.client_transaction_version =
                        i16::from_be_bytes(field.try_into().map_err(|_| bad())?)
                }
                _ => {} // unknown tags are skipped, as Kafka does
            }
        }
    }
    r.finish("TransactionLogValue")?;
    Ok(value)
}

impl crate::runtime::CoordinatorRecord for TxnRecord {
    fn encode_key(&self) -> Bytes {
        TxnRecord::encode_key(self)
    }

    fn encode_value(&self) -> Option<Bytes> {
        TxnRecord::encode_value(self)
    }

    fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<Option<Self>, String> {
        TxnRecord::decode(key, value).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
