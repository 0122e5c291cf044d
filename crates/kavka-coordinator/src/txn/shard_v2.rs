//! Transactions version 2 (KIP-890 part 2), beside version 1 on the same state machine.
//!
//! A version-2 producer never sends AddPartitionsToTxn or AddOffsetsToTxn: the broker adds a
//! partition when the producer's first transactional batch reaches it (Produce v12+) and the
//! group's offsets partition with TxnOffsetCommit v5 ([`TxnShard::add_partitions_v2`]). Every
//! EndTxn (v5+) bumps the producer epoch: the markers carry the new epoch, which fences any
//! late write of the finished transaction, and the answer tells the producer the epoch (and,
//! once the epoch is exhausted, the new producer id) of its next transaction. Kafka's
//! `TransactionCoordinator.endTransaction` rules, in [`TxnShard::end_txn_v2`]:
//!
//! | state          | commit, retry | commit | abort, retry | abort          |
//! |----------------|---------------|--------|--------------|----------------|
//! | Ongoing        | -             | prepare (bump) | -    | prepare (bump) |
//! | PrepareCommit  | CONCURRENT    | -      | INVALID_TXN_STATE | INVALID_TXN_STATE |
//! | PrepareAbort   | INVALID_TXN_STATE | INVALID_TXN_STATE | CONCURRENT | - |
//! | CompleteCommit | NONE          | INVALID_TXN_STATE | INVALID_TXN_STATE | empty abort (bump) |
//! | CompleteAbort  | INVALID_TXN_STATE | INVALID_TXN_STATE | NONE | empty abort (bump) |
//! | Empty          | -             | INVALID_TXN_STATE | - | empty abort (bump) |
//!
//! A retry is an EndTxn carrying the epoch just before the current one (the producer did not
//! get the answer of the bump), or the last epoch of the producer id the exhausted one was
//! replaced by. "-" cells are answered PRODUCER_FENCED: with version 2 the epoch alone tells a
//! retry from the next transaction's EndTxn.

use kavka_protocol::ErrorCode;

use super::{TxnEffects, TxnShard, EPOCH_MAX};
use crate::txn::records::{TxnLogValue, TxnStatus};

/// The `transaction.version` of a version-2 producer, stored in its records.
pub const TRANSACTION_VERSION_2: i16 = 2;

impl TxnShard {
    /// The version-2 add (Produce v12+, TxnOffsetCommit v5): as AddPartitionsToTxn, the
    /// partitions join the producer's transaction, starting one if none is open.
    pub fn add_partitions_v2(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> (Result<(), ErrorCode>, TxnEffects) {
        let (result, mut effects) =
            self.add_partitions(now_ms, transactional_id, producer_id, epoch, partitions);
        for record in &mut effects.records {
            if let Some(value) = &mut record.value {
                value.client_transaction_version = TRANSACTION_VERSION_2;
            }
        }
        (result, effects)
    }

    /// Whether the id's next EndTxn v5 needs a fresh producer id (its epoch is exhausted).
    pub fn epoch_exhausted(&self, transactional_id: &str) -> bool {
        self.txns
            .get(transactional_id)
            .is_some_and(|m| m.value.producer_epoch >= EPOCH_MAX)
    }

    /// EndTxn v5+: the transaction moves to PrepareCommit / PrepareAbort under a bumped epoch;
    /// an abort with nothing open still bumps it. Answers the producer id and epoch for the
    /// producer's next transaction (module doc for the rules). `fresh_producer_id` replaces
    /// the producer id when its epoch is exhausted (drawn beforehand by the caller, see
    /// [`TxnShard::epoch_exhausted`]); without one, that EndTxn is answered
    /// CONCURRENT_TRANSACTIONS, which the producer retries.
    pub fn end_txn_v2(
        &mut self,
        now_ms: i64,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        fresh_producer_id: Option<i64>,
    ) -> (Result<(i64, i16), ErrorCode>, TxnEffects) {
        let effects = TxnEffects::default();
        let Some(current) = self.txns.get(transactional_id).map(|m| m.value.clone()) else {
            return (Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING), effects);
        };
        let retry_on_overflow = current.previous_producer_id == producer_id
            && epoch == EPOCH_MAX
            && current.producer_epoch == 0;
        let retry_on_bump = i32::from(current.producer_epoch) == i32::from(epoch) + 1;
        let same_epoch = epoch == current.producer_epoch;
        let valid_epoch = match current.status {
            TxnStatus::Ongoing | TxnStatus::Empty | TxnStatus::Dead => same_epoch,
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence => {
                retry_on_bump
            }
            TxnStatus::CompleteCommit | TxnStatus::CompleteAbort => {
                retry_on_bump || retry_on_overflow || same_epoch
            }
        };
        let retry = retry_on_bump || retry_on_overflow;
        if current.producer_id != producer_id && !retry_on_overflow {
            return (Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING), effects);
        }
        if !valid_epoch {
            return (Err(ErrorCode::PRODUCER_FENCED), effects);
        }
        let answer_current = Ok((current.producer_id, current.producer_epoch));
        match (current.status, commit) {
            (TxnStatus::Ongoing, _) => self.prepare_bumped(
                now_ms,
                transactional_id,
                &current,
                commit,
                false,
                fresh_producer_id,
            ),
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) if retry => {
                (answer_current, effects)
            }
            (TxnStatus::CompleteCommit | TxnStatus::CompleteAbort | TxnStatus::Empty, false)
                if !retry =>
            {
                self.prepare_bumped(
                    now_ms,
                    transactional_id,
                    &current,
                    false,
                    true,
                    fresh_producer_id,
                )
            }
            (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
                (Err(ErrorCode::CONCURRENT_TRANSACTIONS), effects)
            }
            _ => (Err(ErrorCode::INVALID_TXN_STATE), effects),
        }
    }

    /// The PrepareCommit / PrepareAbort record of `current` under the next epoch (a new
    /// producer id waits in `next_producer_id` when the epoch is exhausted), and its markers.
    /// `empty`: an abort with no transaction open (no partition gets a marker).
    fn prepare_bumped(
        &self,
        now_ms: i64,
        transactional_id: &str,
        current: &TxnLogValue,
        commit: bool,
        empty: bool,
        fresh_producer_id: Option<i64>,
    ) -> (Result<(i64, i16), ErrorCode>, TxnEffects) {
        let mut value = current.clone();
        let answer = if current.producer_epoch >= EPOCH_MAX {
            let Some(fresh) = fresh_producer_id else {
                return (
                    Err(ErrorCode::CONCURRENT_TRANSACTIONS),
                    TxnEffects::default(),
                );
            };
            value.next_producer_id = fresh;
            (fresh, 0)
        } else {
            (current.producer_id, current.producer_epoch + 1)
        };
        value.producer_epoch = current.producer_epoch.saturating_add(1);
        value.client_transaction_version = TRANSACTION_VERSION_2;
        if empty {
            value.partitions.clear();
            value.start_ms = now_ms;
        }
        (
            Ok(answer),
            self.prepare(now_ms, transactional_id, &value, commit),
        )
    }
}
