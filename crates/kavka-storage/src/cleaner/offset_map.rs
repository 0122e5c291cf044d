//! The cleaner's offset map: key -> offset of the key's last record in the dirty section,
//! in a fixed memory budget (Kafka's `SkimpyOffsetMap`).
//!
//! As in Kafka an entry is 24 bytes: a 16-byte hash of the key stands for the key, plus the
//! 8-byte offset. Kafka uses MD5; here two SipHash-1-3 hashes with random keys drawn for each
//! map give the 128 bits, so that collisions (which would drop a record of another key) are as
//! unlikely as with MD5 and cannot be provoked by choosing keys. The table is open addressing
//! with linear probing, filled at most to Kafka's load factor of 0.9; when full, the caller
//! stops and cleans only the part of the log it has mapped.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Bytes of one entry: a 16-byte key hash and an 8-byte offset (Kafka's figure).
pub(crate) const ENTRY_BYTES: usize = 24;
/// Fraction of the slots that may be used (Kafka's `log.cleaner.io.buffer.load.factor`).
const LOAD_FACTOR: f64 = 0.9;

/// A bounded map from key hash to offset.
#[derive(Debug)]
pub(crate) struct OffsetMap {
    /// The two hash functions (random keys per map).
    hashers: [RandomState; 2],
    /// Two words per slot; `[_, 0]` marks an empty slot (the second word always has bit 0 set).
    hashes: Vec<u64>,
    /// The offset of each occupied slot.
    offsets: Vec<i64>,
    /// Number of slots.
    slots: usize,
    /// Occupied slots.
    len: usize,
    /// Most slots that may be occupied.
    entries_max: usize,
}

impl OffsetMap {
    /// A map using at most `memory_bytes` (at least room for one key).
    pub(crate) fn new(memory_bytes: usize) -> OffsetMap {
        let slots = (memory_bytes / ENTRY_BYTES).max(2);
        let entries_max = ((slots as f64 * LOAD_FACTOR) as usize).clamp(1, slots - 1);
        OffsetMap {
            hashers: [RandomState::new(), RandomState::new()],
            // Zeroed allocations: the OS provides the pages lazily, so a large budget costs
            // only the pages the keys touch.
            hashes: vec![0; slots * 2],
            offsets: vec![0; slots],
            slots,
            len: 0,
            entries_max,
        }
    }

    fn hash(&self, key: &[u8]) -> [u64; 2] {
        let mut words = [0u64; 2];
        for (word, hasher) in words.iter_mut().zip(&self.hashers) {
            let mut h = hasher.build_hasher();
            h.write(key);
            *word = h.finish();
        }
        words[1] |= 1;
        words
    }

    /// The slot holding `hash`, or the empty slot where it would go.
    fn find(&self, hash: [u64; 2]) -> usize {
        let mut slot = ((u128::from(hash[0]) * self.slots as u128) >> 64) as usize;
        loop {
            let stored = [self.hashes[slot * 2], self.hashes[slot * 2 + 1]];
            if stored == hash || stored[1] == 0 {
                return slot;
            }
            slot += 1;
            if slot == self.slots {
                slot = 0;
            }
        }
    }

    /// Records `offset` as the last offset of `key` (offsets are inserted in increasing order).
    /// Returns false, changing nothing, when the key is new and the map is full.
    pub(crate) fn insert(&mut self, key: &[u8], offset: i64) -> bool {
        let hash = self.hash(key);
        let slot = self.find(hash);
        if self.hashes[slot * 2 + 1] == 0 {
            if self.len >= self.entries_max {
                return false;
            }
            self.hashes[slot * 2] = hash[0];
            self.hashes[slot * 2 + 1] = hash[1];
            self.len += 1;
        }
        self.offsets[slot] = offset;
        true
    }

    /// The last offset recorded for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        let slot = self.find(self.hash(key));
        (self.hashes[slot * 2 + 1] != 0).then(|| self.offsets[slot])
    }

    /// Number of keys.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_offset_and_refuses_new_keys_when_full() {
        let mut map = OffsetMap::new(10 * ENTRY_BYTES);
        assert_eq!(map.entries_max, 9);
        for i in 0..9u32 {
            assert!(map.insert(&i.to_be_bytes(), i64::from(i)));
        }
        assert!(!map.insert(b"new", 100), "full");
        assert!(
            map.insert(&3u32.to_be_bytes(), 50),
            "an existing key still updates"
        );
        assert_eq!(map.get(&3u32.to_be_bytes()), Some(50));
        assert_eq!(map.get(&8u32.to_be_bytes()), Some(8));
        assert_eq!(map.get(b"new"), None);
        assert_eq!(map.len(), 9);
    }

    #[test]
    fn many_keys_and_a_tiny_budget() {
        let mut map = OffsetMap::new(1 << 20);
        for i in 0..20_000u32 {
            assert!(map.insert(format!("key-{i}").as_bytes(), i64::from(i)));
        }
        for i in 0..20_000u32 {
            assert_eq!(map.get(format!("key-{i}").as_bytes()), Some(i64::from(i)));
        }
        let mut tiny = OffsetMap::new(0);
        assert!(tiny.insert(b"a", 1));
        assert!(!tiny.insert(b"b", 2));
        assert_eq!(tiny.get(b"a"), Some(1));
    }
}
