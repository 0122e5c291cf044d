//! The per-batch decision of a clean: which records of a batch survive, and how the batch is
//! written back (as it was, rebuilt, or not at all).

use std::cell::RefCell;

use bytes::Bytes;
use kavka_protocol::batch::{attributes, BatchView};
use kavka_protocol::records::{decode_records, rebuild_batch, Record};

use super::offset_map::OffsetMap;
use super::txn::TxnTracker;
use super::CleanStats;
use crate::error::StorageError;

/// What a clean knows when it filters a batch.
#[derive(Debug)]
pub(crate) struct FilterContext<'a> {
    /// Key -> last offset over the mapped part of the dirty section.
    pub(crate) map: &'a OffsetMap,
    /// First offset the map does not cover: records from here on are kept as they are.
    pub(crate) map_end_offset: i64,
    /// The clean's clock.
    pub(crate) now_ms: i64,
    /// `delete.retention.ms`.
    pub(crate) delete_retention_ms: i64,
    /// Transactions met so far in the pass (batches are filtered in offset order).
    pub(crate) txns: RefCell<TxnTracker>,
}

/// How a batch goes to the cleaned segment.
#[derive(Debug)]
pub(crate) enum Filtered {
    /// Unchanged: copy its bytes.
    Keep,
    /// Some records removed, or a delete horizon set: these bytes replace it.
    Rebuilt(Bytes),
    /// Nothing of it survives.
    Drop,
}

/// The batch's KIP-534 delete horizon, if it carries one (in its base timestamp).
pub(crate) fn delete_horizon(view: &BatchView<'_>) -> Option<i64> {
    (view.attributes() & attributes::DELETE_HORIZON != 0).then(|| view.base_timestamp())
}

/// A tombstone the cleaner may eventually remove: keyed, null value (committed transactional
/// ones included; aborted data never gets this far).
fn is_removable_tombstone(record: &Record) -> bool {
    record.key.is_some() && record.value.is_none()
}

impl FilterContext<'_> {
    /// Filters one batch; updates `stats` and raises `latest_horizon_ms` to the horizon of a
    /// batch that keeps removable tombstones.
    pub(crate) fn filter(
        &self,
        view: &BatchView<'_>,
        stats: &mut CleanStats,
        latest_horizon_ms: &mut i64,
    ) -> Result<Filtered, StorageError> {
        let count = u64::try_from(view.record_count()).unwrap_or(0);
        stats.records_read += count;
        if view.base_offset() >= self.map_end_offset {
            // What the map does not cover is kept as it is.
            stats.records_kept += count;
            return Ok(Filtered::Keep);
        }
        if view.is_control() {
            let removable = self.txns.borrow_mut().on_marker(view);
            return self.filter_marker(view, removable, stats, latest_horizon_ms);
        }
        if self.txns.borrow_mut().on_data_batch(view) {
            stats.aborted_records_dropped += count;
            if !self.is_producers_latest(view) {
                return Ok(Filtered::Drop);
            }
            return self
                .rebuild(view, &[], delete_horizon(view))
                .map(Filtered::Rebuilt);
        }
        let records = decode_records(view).map_err(|e| {
            StorageError::Corrupt(format!(
                "batch at offset {} does not decode: {e}",
                view.base_offset()
            ))
        })?;
        let horizon = delete_horizon(view);
        let horizon_passed = horizon.is_some_and(|h| self.now_ms >= h);
        let total = records.len();
        let mut keeps_tombstones = false;
        let mut retained = Vec::with_capacity(total);
        for record in records {
            let keep = match &record.key {
                _ if record.offset >= self.map_end_offset => true,
                None => true,
                Some(key) => match self.map.get(key) {
                    Some(last) if last > record.offset => false,
                    _ => {
                        record.value.is_some()
                            || !is_removable_tombstone(&record)
                            || !horizon_passed
                    }
                },
            };
            if keep {
                keeps_tombstones |= is_removable_tombstone(&record);
                retained.push(record);
            } else if record.value.is_none() {
                stats.tombstones_dropped += 1;
            }
        }
        stats.records_kept += retained.len() as u64;
        let new_horizon = match horizon {
            Some(h) => Some(h),
            None if keeps_tombstones => {
                Some(self.now_ms.saturating_add(self.delete_retention_ms.max(0)))
            }
            None => None,
        };
        if keeps_tombstones {
            if let Some(h) = new_horizon {
                *latest_horizon_ms = (*latest_horizon_ms).max(h);
            }
        }
        if retained.len() == total && new_horizon == horizon {
            return Ok(Filtered::Keep);
        }
        if retained.is_empty() && !self.is_producers_latest(view) {
            return Ok(Filtered::Drop);
        }
        self.rebuild(view, &retained, new_horizon)
            .map(Filtered::Rebuilt)
    }

    /// A transaction marker: kept while its transaction has data in the log (or it is its
    /// producer's latest entry); then given a delete horizon, and dropped once it has passed.
    fn filter_marker(
        &self,
        view: &BatchView<'_>,
        removable: bool,
        stats: &mut CleanStats,
        latest_horizon_ms: &mut i64,
    ) -> Result<Filtered, StorageError> {
        let count = u64::try_from(view.record_count()).unwrap_or(0);
        if !removable {
            stats.records_kept += count;
            return Ok(Filtered::Keep);
        }
        match delete_horizon(view) {
            Some(h) if self.now_ms >= h => {
                stats.markers_dropped += 1;
                Ok(Filtered::Drop)
            }
            Some(h) => {
                *latest_horizon_ms = (*latest_horizon_ms).max(h);
                stats.records_kept += count;
                Ok(Filtered::Keep)
            }
            None => {
                let h = self.now_ms.saturating_add(self.delete_retention_ms.max(0));
                *latest_horizon_ms = (*latest_horizon_ms).max(h);
                stats.records_kept += count;
                let records = decode_records(view).map_err(|e| {
                    StorageError::Corrupt(format!(
                        "marker at offset {} does not decode: {e}",
                        view.base_offset()
                    ))
                })?;
                self.rebuild(view, &records, Some(h)).map(Filtered::Rebuilt)
            }
        }
    }

    fn rebuild(
        &self,
        view: &BatchView<'_>,
        retained: &[Record],
        horizon: Option<i64>,
    ) -> Result<Bytes, StorageError> {
        rebuild_batch(view, retained, horizon).map_err(|e| {
            StorageError::Corrupt(format!(
                "batch at offset {} cannot be rebuilt: {e}",
                view.base_offset()
            ))
        })
    }

    /// A batch emptied by the clean is kept (empty) if it is the latest data batch of an active
    /// producer, as Kafka keeps it, so that the producer's last sequence number survives.
    fn is_producers_latest(&self, view: &BatchView<'_>) -> bool {
        self.txns.borrow().is_latest_data_of_producer(view)
    }
}
