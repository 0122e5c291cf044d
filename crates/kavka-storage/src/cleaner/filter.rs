//! The per-batch decision of a clean: which records of a batch survive, and how the batch is
//! written back (as it was, rebuilt, or not at all).

use std::collections::HashMap;

use bytes::Bytes;
use kavka_protocol::batch::{attributes, BatchView};
use kavka_protocol::records::{decode_records, rebuild_batch, Record};

use super::offset_map::OffsetMap;
use super::CleanStats;
use crate::error::StorageError;

/// What a clean knows when it filters a batch.
#[derive(Debug)]
pub(crate) struct FilterContext<'a> {
    /// Key -> last offset over the mapped part of the dirty section.
    pub(crate) map: &'a OffsetMap,
    /// First offset the map does not cover: records from here on are kept as they are.
    pub(crate) map_end_offset: i64,
    /// Base offset of the last batch seen for each producer id in the mapped section: a batch
    /// emptied by the clean is kept (empty) if it may be its producer's last, as Kafka does, so
    /// that the producer's last sequence number survives.
    pub(crate) last_batch_of_producer: &'a HashMap<i64, i64>,
    /// The clean's clock.
    pub(crate) now_ms: i64,
    /// `delete.retention.ms`.
    pub(crate) delete_retention_ms: i64,
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

/// A tombstone the cleaner may eventually remove: keyed, null value, outside transactions.
///
/// Without a transaction index the cleaner cannot tell committed transactional records from
/// aborted ones, so transactional records never enter the offset map (they cannot shadow
/// anything) and their tombstones are never removed for age; both are removed only when a
/// later non-transactional record of the same key supersedes them.
fn is_removable_tombstone(record: &Record, transactional: bool) -> bool {
    record.key.is_some() && record.value.is_none() && !transactional
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
        if view.is_control() || view.base_offset() >= self.map_end_offset {
            // Transaction markers are kept as they are; so is what the map does not cover.
            stats.records_read += count;
            stats.records_kept += count;
            return Ok(Filtered::Keep);
        }
        let records = decode_records(view).map_err(|e| {
            StorageError::Corrupt(format!(
                "batch at offset {} does not decode: {e}",
                view.base_offset()
            ))
        })?;
        let transactional = view.is_transactional();
        let horizon = delete_horizon(view);
        let horizon_passed = horizon.is_some_and(|h| self.now_ms >= h);
        let total = records.len();
        let mut keeps_tombstones = false;
        let mut retained = Vec::with_capacity(total);
        for record in records {
            stats.records_read += 1;
            let keep = match &record.key {
                _ if record.offset >= self.map_end_offset => true,
                None => true,
                Some(key) => match self.map.get(key) {
                    Some(last) if last > record.offset => false,
                    _ => {
                        record.value.is_some()
                            || !is_removable_tombstone(&record, transactional)
                            || !horizon_passed
                    }
                },
            };
            if keep {
                keeps_tombstones |= is_removable_tombstone(&record, transactional);
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
        if retained.is_empty() && !self.may_be_producers_last(view) {
            return Ok(Filtered::Drop);
        }
        let rebuilt = rebuild_batch(view, &retained, new_horizon).map_err(|e| {
            StorageError::Corrupt(format!(
                "batch at offset {} cannot be rebuilt: {e}",
                view.base_offset()
            ))
        })?;
        Ok(Filtered::Rebuilt(rebuilt))
    }

    fn may_be_producers_last(&self, view: &BatchView<'_>) -> bool {
        view.producer_id() >= 0
            && self
                .last_batch_of_producer
                .get(&view.producer_id())
                .is_none_or(|&last| last <= view.base_offset())
    }
}
