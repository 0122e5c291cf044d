//! The time index (`.timeindex`): entries of (timestamp i64, relative offset u32), big-endian.
//!
//! As in Kafka, an entry `(t, r)` means "the largest timestamp among the records up to offset
//! `base + r` is `t`": an entry is added (at the same moments as an offset index entry) only when
//! the segment's max timestamp grew past the last entry, and a final entry is added when the
//! segment is rolled or closed, so the last entry holds the segment's max timestamp. Timestamps
//! therefore increase strictly even though record timestamps need not.

use crate::index_file::{IndexEntry, IndexFile};

/// Size of one time index entry.
pub(crate) const TIME_ENTRY_BYTES: usize = 12;

/// One time index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    /// The segment's max timestamp up to `relative_offset`.
    pub(crate) timestamp: i64,
    /// Offset (relative to the segment base) of the record carrying `timestamp`, or of the last
    /// record of its batch when the header does not tell which record carries it.
    pub(crate) relative_offset: u32,
}

impl IndexEntry for TimeEntry {
    const BYTES: usize = TIME_ENTRY_BYTES;

    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.relative_offset.to_be_bytes());
    }

    fn decode(b: &[u8]) -> Self {
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[..8]);
        TimeEntry {
            timestamp: i64::from_be_bytes(ts),
            relative_offset: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        }
    }
}

/// The time index of one segment.
pub(crate) type TimeIndex = IndexFile<TimeEntry>;

impl IndexFile<TimeEntry> {
    /// Timestamp of the last entry, -1 (Kafka's "no timestamp") when empty.
    pub(crate) fn last_timestamp(&self) -> i64 {
        self.entries().last().map_or(-1, |e| e.timestamp)
    }

    /// Adds `(timestamp, relative_offset)` if `timestamp` is larger than the last entry's (so a
    /// timestamp of -1 or below never gets an entry, as in Kafka).
    pub(crate) fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) {
        if timestamp > self.last_timestamp() {
            if let Some(last) = self.entries().last() {
                assert!(
                    relative_offset >= last.relative_offset,
                    "time index offsets must not go back: {last:?} then {relative_offset}"
                );
            }
            self.push(TimeEntry {
                timestamp,
                relative_offset,
            });
        }
    }

    /// The relative offset of the last entry whose timestamp is below `timestamp`: every record
    /// up to and including it is older than `timestamp`.
    pub(crate) fn last_offset_before(&self, timestamp: i64) -> Option<u32> {
        let entries = self.entries();
        let below = entries.partition_point(|e| e.timestamp < timestamp);
        (below > 0).then(|| entries[below - 1].relative_offset)
    }

    /// Checks the loaded entries: timestamps strictly increasing, offsets not decreasing and
    /// below `relative_end` (the segment's next offset, when known).
    pub(crate) fn sanity_check(&self, relative_end: Option<u64>) -> Result<(), String> {
        for pair in self.entries().windows(2) {
            if pair[1].timestamp <= pair[0].timestamp
                || pair[1].relative_offset < pair[0].relative_offset
            {
                return Err(format!(
                    "entries out of order: {:?}, {:?}",
                    pair[0], pair[1]
                ));
            }
        }
        if let Some(last) = self.entries().last() {
            if relative_end.is_some_and(|end| u64::from(last.relative_offset) >= end) {
                return Err(format!(
                    "entry {last:?} lies past the segment's last offset"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_growing_timestamps_are_indexed_and_lookup_is_strict() {
        let dir = tempfile::tempdir().unwrap();
        let (mut index, _) = TimeIndex::open(&dir.path().join("0.timeindex")).unwrap();
        index.maybe_append(-1, 0);
        index.maybe_append(100, 3);
        index.maybe_append(90, 5);
        index.maybe_append(100, 6);
        index.maybe_append(200, 9);
        assert_eq!(index.entries().len(), 2);
        assert_eq!(index.last_offset_before(100), None);
        assert_eq!(index.last_offset_before(101), Some(3));
        assert_eq!(index.last_offset_before(i64::MAX), Some(9));
        assert!(index.sanity_check(Some(10)).is_ok());
        assert!(index.sanity_check(Some(9)).is_err());
    }
}
