//! What a clean knows of transactions (Kafka's `CleanedTransactionMetadata` rules).
//!
//! The cleaned range lies below the last stable offset, so every transactional batch in it
//! belongs to a transaction that has ended; it was aborted exactly when an aborted transaction
//! entry of its producer covers its offset.
//!
//! - Batches of aborted transactions never enter the offset map and are removed.
//! - Committed transactional records are compacted like any other (they enter the map, and
//!   their tombstones go after the delete horizon).
//! - A marker stays while any batch of its transaction is still in the log. Once none is, it is
//!   removable: it gets a delete horizon (`now + delete.retention.ms`), and the first clean
//!   after the horizon removes it, so a consumer that read the data before the clean still sees
//!   the marker. An ABORT marker's aborted-transaction entry is forgotten as soon as the marker
//!   becomes removable: no data of the transaction is left for a read_committed fetch to skip.
//! - An active producer's latest data batch is kept, emptied if need be (it holds the
//!   producer's last sequence), and so is the marker of a producer whose latest entry it is
//!   (no data batch at its epoch): it holds the producer's last epoch. Kafka keeps both. A
//!   transaction whose batch is kept that way keeps its marker too.

use std::collections::{HashMap, HashSet};

use kavka_protocol::batch::BatchView;
use kavka_protocol::records::read_marker;

use crate::log::AbortedTxn;

/// An active producer as the clean sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ActiveProducer {
    /// Its epoch.
    pub(crate) epoch: i16,
    /// Last offset of its latest data batch still remembered, if any.
    pub(crate) last_data_offset: Option<i64>,
}

/// The transaction state of one clean's pass over the log, in offset order.
#[derive(Debug, Default)]
pub(crate) struct TxnTracker {
    /// Producer id -> (first offset, marker offset) of its aborted transactions, by offset.
    aborted: HashMap<i64, Vec<(i64, i64)>>,
    /// Active producers at the time of the task.
    active: HashMap<i64, ActiveProducer>,
    /// Aborted transactions (producer id, marker offset) with a batch seen in this pass.
    aborted_seen: HashSet<(i64, i64)>,
    /// Producers with a committed transactional batch seen since their last marker.
    committed_seen: HashSet<i64>,
    /// Aborted transactions whose marker became removable: their entries are forgotten.
    forgotten: Vec<(i64, i64)>,
}

impl TxnTracker {
    /// A tracker over the log's aborted transactions and its active producers.
    pub(crate) fn new(
        aborted: &[AbortedTxn],
        active: impl IntoIterator<Item = (i64, ActiveProducer)>,
    ) -> Self {
        let mut by_producer: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for t in aborted {
            by_producer
                .entry(t.producer_id)
                .or_default()
                .push((t.first_offset, t.last_offset));
        }
        for ranges in by_producer.values_mut() {
            ranges.sort_unstable();
        }
        TxnTracker {
            aborted: by_producer,
            active: active.into_iter().collect(),
            ..TxnTracker::default()
        }
    }

    /// The marker offset of the aborted transaction holding `view`, if it belongs to one.
    fn aborted_txn_of(&self, view: &BatchView<'_>) -> Option<i64> {
        if !view.is_transactional() || view.is_control() {
            return None;
        }
        let ranges = self.aborted.get(&view.producer_id())?;
        let offset = view.base_offset();
        let i = ranges.partition_point(|&(first, _)| first <= offset);
        let (first, last) = *ranges.get(i.checked_sub(1)?)?;
        (first <= offset && offset < last).then_some(last)
    }

    /// Whether the data batch belongs to an aborted transaction (no state change).
    pub(crate) fn is_aborted(&self, view: &BatchView<'_>) -> bool {
        self.aborted_txn_of(view).is_some()
    }

    /// A data batch read by the clean: whether it is aborted data, to be removed.
    pub(crate) fn on_data_batch(&mut self, view: &BatchView<'_>) -> bool {
        if !view.is_transactional() {
            return false;
        }
        match self.aborted_txn_of(view) {
            Some(marker) => {
                self.aborted_seen.insert((view.producer_id(), marker));
                true
            }
            None => {
                self.committed_seen.insert(view.producer_id());
                false
            }
        }
    }

    /// A control batch read by the clean: whether the marker may go (no batch of its
    /// transaction is left, and it is not its producer's latest entry).
    pub(crate) fn on_marker(&mut self, view: &BatchView<'_>) -> bool {
        let producer_id = view.producer_id();
        let removable = match read_marker(view) {
            Some((false, _)) => {
                let key = (producer_id, view.base_offset());
                let removable = !self.aborted_seen.remove(&key);
                let has_entry = self
                    .aborted
                    .get(&producer_id)
                    .is_some_and(|r| r.iter().any(|&(_, last)| last == key.1));
                if removable && has_entry {
                    self.forgotten.push(key);
                }
                removable
            }
            Some((true, _)) => !self.committed_seen.remove(&producer_id),
            // An emptied or unreadable control batch: keep it as it is.
            None => false,
        };
        removable && !self.is_latest_of_producer(view)
    }

    /// Whether a data batch is the latest of its (active) producer.
    pub(crate) fn is_latest_data_of_producer(&self, view: &BatchView<'_>) -> bool {
        view.producer_id() >= 0
            && self
                .active
                .get(&view.producer_id())
                .is_some_and(|p| p.last_data_offset == Some(view.last_offset()))
    }

    fn is_latest_of_producer(&self, view: &BatchView<'_>) -> bool {
        self.active
            .get(&view.producer_id())
            .is_some_and(|p| p.last_data_offset.is_none() && p.epoch == view.producer_epoch())
    }

    /// Aborted transactions (producer id, marker offset) to forget once the clean installs.
    pub(crate) fn into_forgotten(self) -> Vec<(i64, i64)> {
        self.forgotten
    }
}
