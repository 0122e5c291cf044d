//! The sparse offset index (`.index`): entries of (relative offset u32, file position u32),
//! big-endian as in Kafka, one each time `index.interval.bytes` have been appended.
//!
//! An entry `(r, p)` says the batch with base offset `base + r` starts at byte `p`. A lookup
//! returns the position of the last entry at or below the target; the reader then walks batch
//! headers forward from there.

use crate::index_file::{IndexEntry, IndexFile};

/// Size of one offset index entry.
pub(crate) const OFFSET_ENTRY_BYTES: usize = 8;

/// One offset index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    /// Base offset of the indexed batch minus the segment's base offset.
    pub(crate) relative_offset: u32,
    /// Byte position of that batch in the segment file.
    pub(crate) position: u32,
}

impl IndexEntry for OffsetEntry {
    const BYTES: usize = OFFSET_ENTRY_BYTES;

    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }

    fn decode(b: &[u8]) -> Self {
        OffsetEntry {
            relative_offset: u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            position: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// The offset index of one segment.
pub(crate) type OffsetIndex = IndexFile<OffsetEntry>;

impl IndexFile<OffsetEntry> {
    /// Position to start walking from to find `relative_offset`: the position of the last entry
    /// whose offset is at or below it, else 0.
    pub(crate) fn lookup(&self, relative_offset: u64) -> u32 {
        let entries = self.entries();
        let after = entries.partition_point(|e| u64::from(e.relative_offset) <= relative_offset);
        if after == 0 {
            0
        } else {
            entries[after - 1].position
        }
    }

    /// Adds an entry; offsets and positions must grow.
    pub(crate) fn append(&mut self, relative_offset: u32, position: u32) {
        if let Some(last) = self.entries().last() {
            assert!(
                relative_offset > last.relative_offset && position > last.position,
                "offset index must grow: {last:?} then ({relative_offset}, {position})"
            );
        }
        self.push(OffsetEntry {
            relative_offset,
            position,
        });
    }

    /// Checks the loaded entries against the segment: strictly increasing, positions inside the
    /// log file, offsets below `relative_end` (the segment's next offset, when known).
    pub(crate) fn sanity_check(
        &self,
        log_bytes: u64,
        relative_end: Option<u64>,
    ) -> Result<(), String> {
        for pair in self.entries().windows(2) {
            if pair[1].relative_offset <= pair[0].relative_offset
                || pair[1].position <= pair[0].position
            {
                return Err(format!(
                    "entries out of order: {:?}, {:?}",
                    pair[0], pair[1]
                ));
            }
        }
        if let Some(last) = self.entries().last() {
            if u64::from(last.position) >= log_bytes {
                return Err(format!(
                    "entry {last:?} points past the log end ({log_bytes} bytes)"
                ));
            }
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

    fn index_with(entries: &[(u32, u32)]) -> (tempfile::TempDir, OffsetIndex) {
        let dir = tempfile::tempdir().unwrap();
        let (mut index, _) = OffsetIndex::open(&dir.path().join("0.index")).unwrap();
        for &(r, p) in entries {
            index.append(r, p);
        }
        (dir, index)
    }

    #[test]
    fn lookup_returns_floor_position() {
        let (_dir, index) = index_with(&[(10, 100), (20, 200), (30, 300)]);
        assert_eq!(index.lookup(0), 0);
        assert_eq!(index.lookup(9), 0);
        assert_eq!(index.lookup(10), 100);
        assert_eq!(index.lookup(25), 200);
        assert_eq!(index.lookup(u64::MAX), 300);
    }

    #[test]
    fn sanity_check_catches_bad_entries() {
        let (_dir, index) = index_with(&[(10, 100), (20, 200)]);
        assert!(index.sanity_check(201, Some(21)).is_ok());
        assert!(index.sanity_check(200, Some(21)).is_err());
        assert!(index.sanity_check(201, Some(20)).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        std::fs::write(&path, [0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 10]).unwrap();
        let (index, _) = OffsetIndex::open(&path).unwrap();
        assert!(index.sanity_check(100, None).is_err());
    }

    #[test]
    #[should_panic(expected = "offset index must grow")]
    fn appending_backwards_is_a_bug() {
        index_with(&[(10, 100), (5, 200)]);
    }
}
