//! The transaction coordinator of one `__transaction_state` partition, as a state machine
//! (after Kafka's `TransactionCoordinator` and `TransactionMetadata`; version 2 of KIP-890 in
//! `shard_v2.rs`):
//! every operation checks the request against the transactional id's state and returns the
//! [`TxnRecord`] that makes the change plus its answer; the state changes only by
//! [`TxnShard::replay`]. Writing the COMMIT/ABORT markers is asked of the runtime as a
//! [`TxnReply::WriteMarkers`]; once they are written it calls [`TxnShard::complete`].
//!
//! Life of a transactional id: InitProducerId → Empty (epoch bumped) → AddPartitionsToTxn /
//! AddOffsetsToTxn → Ongoing → EndTxn → PrepareCommit | PrepareAbort → (markers) →
//! CompleteCommit | CompleteAbort → the next AddPartitionsToTxn starts another transaction.
//! An Ongoing transaction older than its timeout is aborted under a bumped epoch (fencing the
//! producer); an id idle for `transactional.id.expiration.ms` is deleted (a tombstone).

use std::collections::{BTreeMap, BTreeSet};

use kavka_protocol::ErrorCode;

use super::records::{TxnLogValue, TxnRecord, TxnStatus};
use crate::runtime::Effects;

/// The coordinator's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the longest timeout a producer may ask for.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: an id idle this long (no transaction open) is removed.
    pub id_expiration_ms: i64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 604_800_000,
        }
    }
}

/// What the runtime must do besides appending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnReply {
    /// Write a COMMIT (or ABORT) marker with this producer id and epoch to every partition,
    /// then call [`TxnShard::complete`].
    WriteMarkers {
        /// The transactional id.
        transactional_id: String,
        /// The producer id.
        producer_id: i64,
        /// The epoch the markers carry.
        producer_epoch: i16,
        /// COMMIT (true) or ABORT.
        commit: bool,
        /// The partitions of the transaction.
        partitions: Vec<(String, i32)>,
    },
}

/// The shard's effects: records for `__transaction_state`, marker requests.
pub type TxnEffects = Effects<TxnRecord, TxnReply>;

/// In-memory state of one transactional id (what its last record says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The stored value.
    pub value: TxnLogValue,
}

impl TxnMetadata {
    /// The partitions of the current transaction.
    pub fn partitions(&self) -> BTreeSet<(String, i32)> {
        self.value
            .partitions
            .iter()
            .flat_map(|(t, ids)| ids.iter().map(move |&p| (t.clone(), p)))
            .collect()
    }
}

/// Groups partitions by topic, as the record stores them.
fn by_topic(partitions: &BTreeSet<(String, i32)>) -> Vec<(String, Vec<i32>)> {
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (t, p) in partitions {
        out.entry(t.clone()).or_default().push(*p);
    }
    out.into_iter().collect()
}

/// The transactional ids of one `__transaction_state` partition.
#[derive(Debug, Clone, Default)]
pub struct TxnShard {
    /// Settings.
    config: TxnConfig,
    /// State by transactional id.
    txns: BTreeMap<String, TxnMetadata>,
}

/// The highest epoch a producer id is used with; past it the id is replaced.
const EPOCH_MAX: i16 = i16::MAX - 1;

impl TxnShard {
    /// An empty shard.
    pub fn new(config: TxnConfig) -> TxnShard {
        TxnShard {
            config,
            txns: BTreeMap::new(),
        }
    }

    /// The state of a transactional id.
    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    /// Every transactional id, in order.
    pub fn all(&self) -> impl Iterator<Item = (&String, &TxnMetadata)> + '_ {
        self.txns.iter()
    }

    /// Applies a record that is in the log.
    pub fn replay(&mut self, record: &TxnRecord) {
        match &record.value {
            Some(value) => {
                self.txns.insert(
                    record.transactional_id.clone(),
                    TxnMetadata {
                        value: value.clone(),
                    },
                );
            }
            None => {
                self.txns.remove(&record.transactional_id);
            }
        }
    }

    fn record(id: &str, value: TxnLogValue) -> TxnRecord {
        TxnRecord {
            transactional_id: id.to_string(),
            value: Some(value),
        }
    }

    /// InitProducerId with a transactional id: the producer id and a bumped epoch, fencing
    /// earlier producers of the id. An open transaction is aborted first (the producer gets
    /// CONCURRENT_TRANSACTIONS and retries once the markers are written). `expected` is the
    /// producer id and epoch the client already has (v3+, KIP-360), `new_producer_id` draws a
    /// fresh id.
    pub fn init_producer_id(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        new_producer_id: &mut dyn FnMut() -> i64,
    ) -> (Result<(i64, i16), ErrorCode>, TxnEffects) {
        let mut effects = TxnEffects::default();
        if transactional_id.is_empty() {
            return (Err(ErrorCode::INVALID_REQUEST), effects);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return (Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT), effects);
        }
        let Some(current) = self.txns.get(transactional_id).map(|m| m.value.clone()) else {
            let value = TxnLogValue {
                producer_id: new_producer_id(),
                previous_producer_id: -1,
                next_producer_id: -1,
                producer_epoch: 0,
                timeout_ms,
                status: TxnStatus::Empty,
                partitions: Vec::new(),
                last_update_ms: now_ms,
                start_ms: -1,
                client_transaction_version: 0,
            };
            let answer = (value.producer_id, value.producer_epoch);
            effects.records.push(Self::record(transactional_id, value));
            return (Ok(answer), effects);
        };
        if let Some((pid, epoch)) = expected {
            // The current producer retrying, or the one a timeout fenced (epoch bumped once).
            let retry = pid == current.producer_id
                && (epoch == current.producer_epoch || epoch == current.producer_epoch - 1);
            let previous = pid == current.previous_producer_id;
            if !retry && !previous {
                return (Err(ErrorCode::PRODUCER_FENCED), effects);
            }
        }
        match current.status {
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence => {
                (Err(ErrorCode::CONCURRENT_TRANSACTIONS), effects)
            }
            TxnStatus::Ongoing => {
                // Fence the producer and abort what it left open; the client retries.
                effects.extend(self.abort_fenced(now_ms, transactional_id, &current));
                (Err(ErrorCode::CONCURRENT_TRANSACTIONS), effects)
            }
            TxnStatus::Empty
            | TxnStatus::CompleteCommit
            | TxnStatus::CompleteAbort
            | TxnStatus::Dead => {
                let mut value = current.clone();
                if current.producer_epoch >= EPOCH_MAX {
                    value.previous_producer_id = current.producer_id;
                    value.producer_id = new_producer_id();
                    value.producer_epoch = 0;
                } else {
                    value.producer_epoch = current.producer_epoch + 1;
                }
                value.timeout_ms = timeout_ms;
                value.status = TxnStatus::Empty;
                value.partitions.clear();
                value.last_update_ms = now_ms;
                value.start_ms = -1;
                let answer = (value.producer_id, value.producer_epoch);
                effects.records.push(Self::record(transactional_id, value));
                (Ok(answer), effects)
            }
        }
    }

    /// Checks that `producer_id`/`epoch` is the id's current producer.
    fn current_producer(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<&TxnLogValue, ErrorCode> {
        let value = &self
            .txns
            .get(transactional_id)
            .ok_or(ErrorCode::INVALID_PRODUCER_ID_MAPPING)?
            .value;
        if value.producer_id != producer_id {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if value.producer_epoch != epoch {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        Ok(value)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets`
    /// partition): the partitions join the transaction, which becomes Ongoing.
    pub fn add_partitions(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> (Result<(), ErrorCode>, TxnEffects) {
        let mut effects = TxnEffects::default();
        let current = match self.current_producer(transactional_id, producer_id, epoch) {
            Ok(v) => v.clone(),
            Err(e) => return (Err(e), effects),
        };
        if matches!(
            current.status,
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence
        ) {
            return (Err(ErrorCode::CONCURRENT_TRANSACTIONS), effects);
        }
        let mut set = TxnMetadata {
            value: current.clone(),
        }
        .partitions();
        if current.status != TxnStatus::Ongoing {
            set.clear();
        }
        let before = set.len();
        set.extend(partitions.iter().cloned());
        if current.status == TxnStatus::Ongoing && set.len() == before {
            return (Ok(()), effects);
        }
        let mut value = current.clone();
        if current.status != TxnStatus::Ongoing {
            value.start_ms = now_ms;
        }
        value.status = TxnStatus::Ongoing;
        value.partitions = by_topic(&set);
        value.last_update_ms = now_ms;
        effects.records.push(Self::record(transactional_id, value));
        (Ok(()), effects)
    }

    /// Whether `partitions` are all in the id's open transaction (KIP-890's verification).
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<Vec<bool>, ErrorCode> {
        let value = self.current_producer(transactional_id, producer_id, epoch)?;
        let set = TxnMetadata {
            value: value.clone(),
        }
        .partitions();
        let ongoing = value.status == TxnStatus::Ongoing;
        Ok(partitions
            .iter()
            .map(|p| ongoing && set.contains(p))
            .collect())
    }

    /// EndTxn: an Ongoing transaction moves to PrepareCommit / PrepareAbort and its markers
    /// are asked for. Retries of a finished EndTxn succeed; the opposite decision is refused.
    pub fn end_txn(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> (Result<(), ErrorCode>, TxnEffects) {
        let mut effects = TxnEffects::default();
        let current = match self.current_producer(transactional_id, producer_id, epoch) {
            Ok(v) => v.clone(),
            Err(e) => return (Err(e), effects),
        };
        let result = match (current.status, commit) {
            (TxnStatus::Ongoing, _) => {
                effects.extend(self.prepare(now_ms, transactional_id, &current, commit));
                Ok(())
            }
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => Ok(()),
            (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
                Err(ErrorCode::CONCURRENT_TRANSACTIONS)
            }
            _ => Err(ErrorCode::INVALID_TXN_STATE),
        };
        (result, effects)
    }

    /// The PrepareCommit / PrepareAbort record of `current`, and its markers.
    fn prepare(
        &self,
        now_ms: i64,
        transactional_id: &str,
        current: &TxnLogValue,
        commit: bool,
    ) -> TxnEffects {
        let mut value = current.clone();
        value.status = if commit {
            TxnStatus::PrepareCommit
        } else {
            TxnStatus::PrepareAbort
        };
        value.last_update_ms = now_ms;
        let partitions = TxnMetadata {
            value: value.clone(),
        }
        .partitions()
        .into_iter()
        .collect();
        let mut effects = TxnEffects::default();
        effects.replies.push(TxnReply::WriteMarkers {
            transactional_id: transactional_id.to_string(),
            producer_id: value.producer_id,
            producer_epoch: value.producer_epoch,
            commit,
            partitions,
        });
        effects.records.push(Self::record(transactional_id, value));
        effects
    }

    /// Aborts `current` (Ongoing) under a bumped epoch, so its producer is fenced.
    fn abort_fenced(
        &self,
        now_ms: i64,
        transactional_id: &str,
        current: &TxnLogValue,
    ) -> TxnEffects {
        let mut bumped = current.clone();
        if current.producer_epoch < EPOCH_MAX {
            bumped.producer_epoch += 1;
        }
        self.prepare(now_ms, transactional_id, &bumped, false)
    }

    /// The markers of a prepared transaction are written: CompleteCommit / CompleteAbort.
    /// Anything else (a stale call) changes nothing.
    pub fn complete(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> TxnEffects {
        let mut effects = TxnEffects::default();
        let Some(current) = self.txns.get(transactional_id).map(|m| m.value.clone()) else {
            return effects;
        };
        let status = match current.status {
            TxnStatus::PrepareCommit => TxnStatus::CompleteCommit,
            TxnStatus::PrepareAbort => TxnStatus::CompleteAbort,
            _ => return effects,
        };
        if current.producer_id != producer_id || current.producer_epoch != epoch {
            return effects;
        }
        let mut value = current;
        value.status = status;
        if value.client_transaction_version >= v2::TRANSACTION_VERSION_2
            && value.next_producer_id != -1
        {
            // Version 2 with the epoch exhausted: the next transaction uses the new id.
            value.previous_producer_id = value.producer_id;
            value.producer_id = value.next_producer_id;
            value.next_producer_id = -1;
            value.producer_epoch = 0;
        }
        value.partitions.clear();
        value.last_update_ms = now_ms;
        effects.records.push(Self::record(transactional_id, value));
        effects
    }

    /// The markers still to write (prepared transactions, e.g. after a restart).
    pub fn pending_markers(&self) -> Vec<TxnReply> {
        self.txns
            .iter()
            .filter(|(_, m)| {
                matches!(
                    m.value.status,
                    TxnStatus::PrepareCommit | TxnStatus::PrepareAbort
                )
            })
            .map(|(id, m)| TxnReply::WriteMarkers {
                transactional_id: id.clone(),
                producer_id: m.value.producer_id,
                producer_epoch: m.value.producer_epoch,
                commit: m.value.status == TxnStatus::PrepareCommit,
                partitions: m.partitions().into_iter().collect(),
            })
            .collect()
    }

    /// The earliest time [`TxnShard::tick`] has work: a transaction timing out, or an id
    /// expiring.
    pub fn next_deadline_ms(&self) -> Option<i64> {
        self.txns
            .values()
            .filter_map(|m| match m.value.status {
                TxnStatus::Ongoing => Some(
                    m.value
                        .start_ms
                        .saturating_add(i64::from(m.value.timeout_ms)),
                ),
                TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort => Some(
                    m.value
                        .last_update_ms
                        .saturating_add(self.config.id_expiration_ms),
                ),
                _ => None,
            })
            .min()
    }

    /// Aborts transactions open longer than their timeout (fencing their producers) and
    /// deletes ids idle for `transactional.id.expiration.ms`.
    pub fn tick(&mut self, now_ms: i64) -> TxnEffects {
        let mut effects = TxnEffects::default();
        for (id, m) in &self.txns {
            let v = &m.value;
            match v.status {
                TxnStatus::Ongoing
                    if v.start_ms.saturating_add(i64::from(v.timeout_ms)) <= now_ms =>
                {
                    effects.extend(self.abort_fenced(now_ms, id, v));
                }
                TxnStatus::Empty | TxnStatus::CompleteCommit | TxnStatus::CompleteAbort
                    if v.last_update_ms
                        .saturating_add(self.config.id_expiration_ms)
                        <= now_ms =>
                {
                    effects.records.push(TxnRecord {
                        transactional_id: id.clone(),
                        value: None,
                    });
                }
                _ => {}
            }
        }
        effects
    }
}

impl crate::runtime::CoordinatorShard for TxnShard {
    type Record = TxnRecord;
    type Reply = TxnReply;

    fn replay(&mut self, record: &TxnRecord, _now_ms: i64) {
        TxnShard::replay(self, record)
    }

    fn next_deadline_ms(&self) -> Option<i64> {
        TxnShard::next_deadline_ms(self)
    }

    fn tick(&mut self, now_ms: i64) -> TxnEffects {
        TxnShard::tick(self, now_ms)
    }
}

#[path = "shard_v2.rs"]
mod v2;
pub use v2::TRANSACTION_VERSION_2;

#[cfg(test)]
#[path = "shard_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "shard_v2_tests.rs"]
mod v2_tests;
