//! The leader epoch cache of a partition: the offset at which each leader epoch's first batch
//! was appended (Kafka's `LeaderEpochFileCache`), kept in the `leader-epoch-checkpoint` file in
//! Kafka's text layout (a version line `0`, an entry count, then `epoch start_offset` per
//! line). It answers OffsetForLeaderEpoch ("where does my epoch end on your log?"), which a
//! replica or a consumer uses after a leader change to find where its log diverged.
//!
//! Pure: the log (`log/epochs.rs`) reads and writes the file through `checkpoint`.

use crate::error::StorageError;

/// Name of the checkpoint in the partition directory (Kafka's).
pub const LEADER_EPOCH_CHECKPOINT_FILE: &str = "leader-epoch-checkpoint";
/// The layout version Kafka writes.
const CHECKPOINT_VERSION: i64 = 0;
/// Kafka's "no epoch" and "no offset" answers.
pub const UNDEFINED_EPOCH: i32 = -1;
/// See [`UNDEFINED_EPOCH`].
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;
/// Most entries a checkpoint file may declare (a corrupt count must not allocate).
const ENTRIES_MAX: usize = 1 << 20;

/// One epoch's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// The offset of its first batch.
    pub start_offset: i64,
}

/// The epochs of a log, by increasing epoch and start offset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaderEpochCache {
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// The entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The latest epoch, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.epoch)
    }

    /// Records that a batch of `epoch` was appended at `offset`: a new entry when `epoch` is
    /// newer than the latest (true then: the checkpoint must be rewritten). An older epoch or a
    /// negative one (batches written before leader epochs were kept) changes nothing. A latest
    /// epoch that holds no batch (a leader that appended nothing) is replaced by a newer one
    /// starting at the same offset.
    pub fn assign(&mut self, epoch: i32, offset: i64) -> bool {
        if epoch < 0 {
            return false;
        }
        match self.entries.last() {
            Some(last) if epoch <= last.epoch || offset < last.start_offset => false,
            _ => {
                if self
                    .entries
                    .last()
                    .is_some_and(|l| l.start_offset == offset)
                {
                    self.entries.pop();
                }
                self.entries.push(EpochEntry {
                    epoch,
                    start_offset: offset,
                });
                true
            }
        }
    }

    /// Where `requested` ends on this log whose end offset is `log_end_offset`, as
    /// OffsetForLeaderEpoch answers: `(epoch, end_offset)` where `epoch` is the largest epoch
    /// at or below `requested` and `end_offset` the start of the next epoch (the log end for the
    /// latest); a requested epoch older than every entry gets itself and the first entry's
    /// start; one newer than the latest, or an empty cache, gets `(UNDEFINED_EPOCH,
    /// UNDEFINED_EPOCH_OFFSET)`.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        let undefined = (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        if requested < 0 {
            return undefined;
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return undefined;
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => (floor.epoch, higher.start_offset),
            None => (requested, higher.start_offset),
        }
    }

    /// Forgets the epochs that start at or after `end_offset` (the log was truncated there);
    /// true when something changed.
    pub fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end_offset);
        self.entries.len() != before
    }

    /// Forgets the epochs wholly below `start_offset` (the log start moved there); the epoch
    /// holding it now starts there. True when something changed.
    pub fn truncate_from_start(&mut self, start_offset: i64) -> bool {
        let keep_from = self
            .entries
            .iter()
            .rposition(|e| e.start_offset <= start_offset);
        let Some(keep_from) = keep_from else {
            return false;
        };
        let moved = self.entries[keep_from].start_offset != start_offset;
        self.entries.drain(..keep_from);
        self.entries[0].start_offset = start_offset;
        keep_from > 0 || moved
    }

    /// The checkpoint file's text.
    pub fn encode(&self) -> String {
        let mut text = format!("{CHECKPOINT_VERSION}\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        text
    }

    /// Parses a checkpoint file's text: [`StorageError::Corrupt`] for anything but Kafka's
    /// layout with epochs and offsets increasing.
    pub fn decode(text: &str) -> Result<LeaderEpochCache, StorageError> {
        let corrupt =
            |why: &str| StorageError::Corrupt(format!("{LEADER_EPOCH_CHECKPOINT_FILE}: {why}"));
        let mut lines = text.lines();
        let mut number = |what: &str| -> Result<i64, StorageError> {
            lines
                .next()
                .and_then(|l| l.trim().parse().ok())
                .ok_or_else(|| corrupt(&format!("no {what}")))
        };
        if number("version")? != CHECKPOINT_VERSION {
            return Err(corrupt("unknown version"));
        }
        let count = usize::try_from(number("entry count")?)
            .ok()
            .filter(|&c| c <= ENTRIES_MAX)
            .ok_or_else(|| corrupt("bad entry count"))?;
        let mut cache = LeaderEpochCache::default();
        for line in lines.by_ref().take(count) {
            let mut fields = line.split_whitespace();
            let (Some(epoch), Some(offset), None) = (fields.next(), fields.next(), fields.next())
            else {
                return Err(corrupt("an entry is not `epoch offset`"));
            };
            let epoch: i32 = epoch.parse().map_err(|_| corrupt("bad epoch"))?;
            let offset: i64 = offset.parse().map_err(|_| corrupt("bad offset"))?;
            if epoch < 0 || offset < 0 || !cache.assign(epoch, offset) {
                return Err(corrupt("epochs and offsets must increase"));
            }
        }
        if cache.entries.len() != count || lines.any(|l| !l.trim().is_empty()) {
            return Err(corrupt("entry count does not match the entries"));
        }
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: &[(i32, i64)]) -> LeaderEpochCache {
        let mut c = LeaderEpochCache::default();
        for &(epoch, offset) in entries {
            assert!(c.assign(epoch, offset));
        }
        c
    }

    #[test]
    fn only_newer_epochs_make_entries() {
        let mut c = cache(&[(0, 0), (2, 10)]);
        assert!(!c.assign(2, 15), "the same epoch");
        assert!(!c.assign(1, 20), "an older epoch");
        assert!(!c.assign(3, 5), "an offset going back");
        assert!(!c.assign(-1, 30), "a batch without an epoch");
        assert!(c.assign(5, 30));
        assert_eq!(c.latest_epoch(), Some(5));
        assert!(c.assign(6, 30), "a newer epoch at the same offset");
        assert_eq!(c.entries().len(), 3, "replaces the one that holds nothing");
        assert_eq!(c.latest_epoch(), Some(6));
    }

    #[test]
    fn end_offsets_follow_kafkas_rules() {
        let c = cache(&[(2, 10), (4, 25), (7, 40)]);
        assert_eq!(c.end_offset_for(7, 55), (7, 55), "the latest: the log end");
        assert_eq!(c.end_offset_for(4, 55), (4, 40));
        assert_eq!(c.end_offset_for(5, 55), (4, 40), "between: the floor epoch");
        assert_eq!(c.end_offset_for(1, 55), (1, 10), "older than all");
        assert_eq!(
            c.end_offset_for(8, 55),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        assert_eq!(
            c.end_offset_for(-1, 55),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
        let empty = LeaderEpochCache::default();
        assert_eq!(
            empty.end_offset_for(0, 0),
            (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
        );
    }

    #[test]
    fn truncation_at_either_end() {
        let mut c = cache(&[(2, 10), (4, 25), (7, 40)]);
        assert!(c.truncate_from_end(40));
        assert_eq!(c, cache(&[(2, 10), (4, 25)]));
        assert!(!c.truncate_from_end(41), "nothing starts that late");
        assert!(c.truncate_from_start(30));
        assert_eq!(c, cache(&[(4, 30)]));
        assert!(!c.truncate_from_start(30));
        assert!(!c.truncate_from_start(5), "below every entry");
        assert!(c.truncate_from_end(0));
        assert!(c.entries().is_empty());
    }

    #[test]
    fn the_checkpoint_round_trips_and_refuses_damage() {
        let c = cache(&[(0, 0), (3, 17)]);
        assert_eq!(c.encode(), "0\n2\n0 0\n3 17\n");
        assert_eq!(LeaderEpochCache::decode(&c.encode()).unwrap(), c);
        assert_eq!(
            LeaderEpochCache::decode("0\n0\n").unwrap(),
            LeaderEpochCache::default()
        );
        for bad in [
            "",
            "1\n0\n",
            "0\n2\n0 0\n",
            "0\n1\n0 0\n1 5\n",
            "0\n2\n3 0\n1 5\n",
            "0\n1\nx 0\n",
            "0\n1\n0 0 0\n",
            "0\n99999999999\n",
            "0\n-1\n",
        ] {
            assert!(LeaderEpochCache::decode(bad).is_err(), "{bad:?}");
        }
    }
}
