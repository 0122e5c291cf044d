//! Producer state of one partition (Kafka's `ProducerStateManager`): for every idempotent
//! producer that wrote here, its epoch and the metadata of its last
//! [`PRODUCER_BATCHES_MAX`] batches. A produced batch is checked against it from the batch header
//! alone (records are never decoded):
//!
//! - a batch whose epoch and sequence range equal one of the retained batches is a retry of a
//!   batch already in the log: it is answered with the original offsets and not appended again;
//! - an epoch below the producer's is `INVALID_PRODUCER_EPOCH` (a zombie);
//! - a new epoch must start at sequence 0, the same epoch must continue at the last sequence + 1
//!   (wrapping from `i32::MAX` to 0), else `OUT_OF_ORDER_SEQUENCE_NUMBER`;
//! - a producer the partition does not know (new, or expired, or whose data was deleted before a
//!   restart) is accepted at any sequence, as Kafka 4 does (KIP-360).
//!
//! No I/O here: the log replays batch headers into it ([`ProducerStateManager::record`]) and
//! stores it in snapshot files (`producer_snapshot`).

use std::collections::{BTreeSet, HashMap, VecDeque};

use kavka_protocol::batch::{attributes, BatchHeader};

/// Batches retained per producer for duplicate detection: the most a producer keeps in flight
/// to one partition (`max.in.flight.requests.per.connection` ≤ 5 with idempotence).
pub const PRODUCER_BATCHES_MAX: usize = 5;

/// Producer id of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;

/// Where one batch of a producer landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of the first record.
    pub first_seq: i32,
    /// Sequence of the last record.
    pub last_seq: i32,
    /// Offset given to the first record.
    pub first_offset: i64,
    /// Offset given to the last record.
    pub last_offset: i64,
    /// The batch's max timestamp as stored (LogAppendTime when the topic stamps it).
    pub timestamp_ms: i64,
}

/// What a partition knows of one producer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The producer id.
    pub producer_id: i64,
    /// The latest epoch seen.
    pub epoch: i16,
    /// Its last batches of `epoch`, oldest first, at most [`PRODUCER_BATCHES_MAX`].
    pub batches: VecDeque<BatchMetadata>,
    /// Max timestamp of its last batch: the producer expires `producer.id.expiration.ms` later.
    pub last_timestamp_ms: i64,
    /// First offset of its open transaction, -1 when none.
    pub current_txn_first_offset: i64,
    /// Epoch of the transaction coordinator that wrote its last marker, -1 when none.
    pub coordinator_epoch: i32,
}

impl ProducerEntry {
    /// Sequence of the last record of the last batch, -1 when none is retained.
    pub fn last_seq(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_seq)
    }

    /// Offset of the last record of the last batch, -1 when none is retained.
    pub fn last_offset(&self) -> i64 {
        self.batches.back().map_or(-1, |b| b.last_offset)
    }
}

/// A producer batch as the log stores it: what the state needs from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    /// The producer id (not [`NO_PRODUCER_ID`]).
    pub producer_id: i64,
    /// The producer epoch.
    pub epoch: i16,
    /// Sequence of the first record.
    pub first_seq: i32,
    /// Sequence of the last record.
    pub last_seq: i32,
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The batch's max timestamp.
    pub timestamp_ms: i64,
    /// Whether the batch belongs to a transaction.
    pub transactional: bool,
}

impl ProducerBatch {
    /// The producer part of a batch header, `None` for a batch without a producer id. Control
    /// batches (transaction markers) carry no data sequence and are left out as well.
    pub fn from_header(header: &BatchHeader) -> Option<ProducerBatch> {
        if header.producer_id == NO_PRODUCER_ID || header.attributes & attributes::CONTROL != 0 {
            return None;
        }
        Some(ProducerBatch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            first_seq: header.base_sequence,
            last_seq: last_sequence(header.base_sequence, header.last_offset_delta),
            first_offset: header.base_offset,
            last_offset: header.last_offset(),
            timestamp_ms: header.max_timestamp,
            transactional: header.attributes & attributes::TRANSACTIONAL != 0,
        })
    }
}

/// Sequence of the last record of a batch: sequences wrap from `i32::MAX` to 0, as Kafka's
/// `DefaultRecordBatch.incrementSequence`.
pub fn last_sequence(base_seq: i32, last_offset_delta: i32) -> i32 {
    if base_seq < 0 {
        return base_seq;
    }
    let delta = last_offset_delta.max(0);
    if base_seq > i32::MAX - delta {
        delta - (i32::MAX - base_seq) - 1
    } else {
        base_seq + delta
    }
}

/// Why a producer's batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    /// The batch's epoch is older than the producer's latest (`INVALID_PRODUCER_EPOCH`).
    #[error("epoch {epoch} of producer {producer_id} is older than its current epoch {current}")]
    InvalidEpoch {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The latest epoch the partition has seen.
        current: i16,
    },
    /// A plain batch from a producer whose transaction is open, or a marker older than the
    /// producer's epoch's transaction (`INVALID_TXN_STATE`).
    #[error("producer {producer_id} has a transaction open at offset {first_offset}: expected a transactional batch")]
    NotTransactional {
        /// The producer.
        producer_id: i64,
        /// Where its transaction began.
        first_offset: i64,
    },
    /// The batch does not continue the producer's sequence (`OUT_OF_ORDER_SEQUENCE_NUMBER`).
    #[error("out of order sequence {first_seq} of producer {producer_id} (epoch {epoch}): expected {expected}")]
    OutOfOrderSequence {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The batch's first sequence.
        first_seq: i32,
        /// The sequence that would have been accepted.
        expected: i32,
    },
    /// One batch of a multi-batch append repeats an earlier one (`DUPLICATE_SEQUENCE_NUMBER`);
    /// only a payload that is exactly one batch is answered as a retry.
    #[error("batch with sequence {first_seq} of producer {producer_id} is a duplicate inside a multi-batch append")]
    DuplicateSequence {
        /// The producer.
        producer_id: i64,
        /// The batch's first sequence.
        first_seq: i32,
    },
}

/// What to do with a checked batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerCheck {
    /// Append it.
    Append,
    /// It is already in the log, here: answer with these offsets, append nothing.
    Duplicate(BatchMetadata),
}

/// A transaction that a marker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of the transaction's first record.
    pub first_offset: i64,
    /// Offset of the marker.
    pub last_offset: i64,
    /// ABORT (true) or COMMIT.
    pub aborted: bool,
}

/// The producer state of a partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    /// Producers by id.
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions as (first offset, producer id): the smallest first offset is the first
    /// unstable offset, where the last stable offset stops. (A set of pairs, so that a damaged
    /// snapshot naming one offset twice still round-trips.)
    ongoing: BTreeSet<(i64, i64)>,
}

impl ProducerStateManager {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state holding these entries (from a snapshot).
    pub fn from_entries(entries: impl IntoIterator<Item = ProducerEntry>) -> Self {
        let producers: HashMap<i64, ProducerEntry> =
            entries.into_iter().map(|e| (e.producer_id, e)).collect();
        let ongoing = producers
            .values()
            .filter(|e| e.current_txn_first_offset >= 0)
            .map(|e| (e.current_txn_first_offset, e.producer_id))
            .collect();
        ProducerStateManager { producers, ongoing }
    }

    /// The first offset of the oldest open transaction: reads at read_committed stop before it.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.ongoing.first().map(|&(offset, _)| offset)
    }

    /// Checks a COMMIT/ABORT marker of `producer_id` at `epoch` before it is written: an epoch
    /// older than the producer's is refused.
    pub fn check_marker(&self, producer_id: i64, epoch: i16) -> Result<(), ProducerError> {
        match self.producers.get(&producer_id) {
            Some(e) if epoch < e.epoch => Err(ProducerError::InvalidEpoch {
                producer_id,
                epoch,
                current: e.epoch,
            }),
            _ => Ok(()),
        }
    }

    /// Records a marker that is in the log at `offset`: the producer's open transaction (if
    /// any) ends; returns it.
    pub fn record_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        coordinator_epoch: i32,
        offset: i64,
        timestamp_ms: i64,
        aborted: bool,
    ) -> Option<CompletedTxn> {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_id,
                epoch,
                batches: VecDeque::new(),
                last_timestamp_ms: timestamp_ms,
                current_txn_first_offset: -1,
                coordinator_epoch,
            });
        if epoch != entry.epoch {
            entry.epoch = epoch;
            entry.batches.clear();
        }
        entry.coordinator_epoch = coordinator_epoch;
        entry.last_timestamp_ms = timestamp_ms;
        let first_offset = std::mem::replace(&mut entry.current_txn_first_offset, -1);
        if first_offset < 0 {
            return None;
        }
        self.ongoing.remove(&(first_offset, producer_id));
        Some(CompletedTxn {
            producer_id,
            first_offset,
            last_offset: offset,
            aborted,
        })
    }

    /// The entry of one producer.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &ProducerEntry> + '_ {
        self.producers.values()
    }

    /// Number of producers known.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is known.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Checks a client's batch (epoch, sequence and range from its header) before it is
    /// appended. Checking changes nothing: [`ProducerStateManager::record`] does, once the batch
    /// is in the log.
    pub fn check(&self, batch: &ProducerBatch) -> Result<ProducerCheck, ProducerError> {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            return Ok(ProducerCheck::Append);
        };
        if entry.current_txn_first_offset >= 0 && !batch.transactional && batch.epoch == entry.epoch
        {
            return Err(ProducerError::NotTransactional {
                producer_id: batch.producer_id,
                first_offset: entry.current_txn_first_offset,
            });
        }
        if batch.first_seq < 0 {
            // No sequence: a coordinator's transactional offset commit; only the epoch counts.
            return if batch.epoch < entry.epoch {
                Err(ProducerError::InvalidEpoch {
                    producer_id: batch.producer_id,
                    epoch: batch.epoch,
                    current: entry.epoch,
                })
            } else {
                Ok(ProducerCheck::Append)
            };
        }
        if batch.epoch == entry.epoch {
            let duplicate = entry
                .batches
                .iter()
                .find(|b| b.first_seq == batch.first_seq && b.last_seq == batch.last_seq);
            if let Some(original) = duplicate {
                return Ok(ProducerCheck::Duplicate(*original));
            }
        }
        if batch.epoch < entry.epoch {
            return Err(ProducerError::InvalidEpoch {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                current: entry.epoch,
            });
        }
        if batch.epoch == entry.epoch && entry.batches.is_empty() {
            // Known epoch but no batch retained (every batch compacted away): any sequence.
            return Ok(ProducerCheck::Append);
        }
        // A new epoch starts at 0; sequences wrap from i32::MAX to 0.
        let expected = if batch.epoch != entry.epoch || entry.last_seq() == i32::MAX {
            0
        } else {
            entry.last_seq() + 1
        };
        if batch.first_seq == expected {
            Ok(ProducerCheck::Append)
        } else {
            Err(ProducerError::OutOfOrderSequence {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                first_seq: batch.first_seq,
                expected,
            })
        }
    }

    /// Records a batch that is in the log (appended now, or replayed from the log at start-up):
    /// a newer epoch replaces the retained batches; the oldest batch beyond
    /// [`PRODUCER_BATCHES_MAX`] is forgotten.
    pub fn record(&mut self, batch: &ProducerBatch) {
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_id: batch.producer_id,
                epoch: batch.epoch,
                batches: VecDeque::with_capacity(PRODUCER_BATCHES_MAX),
                last_timestamp_ms: batch.timestamp_ms,
                current_txn_first_offset: -1,
                coordinator_epoch: -1,
            });
        if batch.epoch != entry.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == PRODUCER_BATCHES_MAX {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMetadata {
            first_seq: batch.first_seq,
            last_seq: batch.last_seq,
            first_offset: batch.first_offset,
            last_offset: batch.last_offset,
            timestamp_ms: batch.timestamp_ms,
        });
        entry.last_timestamp_ms = batch.timestamp_ms;
        if batch.transactional && entry.current_txn_first_offset < 0 {
            entry.current_txn_first_offset = batch.first_offset;
            self.ongoing.insert((batch.first_offset, batch.producer_id));
        }
    }

    /// Forgets producers whose last batch is at least `expiration_ms` older than `now_ms`
    /// (`producer.id.expiration.ms`), except those with a transaction open. Returns how many
    /// were removed.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset >= 0
                || now_ms.saturating_sub(e.last_timestamp_ms) < expiration_ms
        });
        before - self.producers.len()
    }
}

#[cfg(test)]
#[path = "producer_state_tests.rs"]
mod tests;
