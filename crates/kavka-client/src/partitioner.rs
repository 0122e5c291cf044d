//! Choosing a record's partition as the Java producer does: keyed records by the murmur2 hash
//! of the key (so keys land on the same partitions as with Kafka's clients), unkeyed records on
//! a "sticky" partition that changes once a batch's worth of bytes went to it (KIP-794's
//! `BuiltInPartitioner`, without its load-based weighting).

use std::collections::HashMap;

/// Kafka's `Utils.murmur2`: 32-bit murmur2 with seed `0x9747b28c`, little-endian words.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of a keyed record: `(murmur2(key) & 0x7fffffff) % partition_count`, as the
/// Java client's `BuiltInPartitioner.partitionForKey`.
pub fn partition_for_key(key: &[u8], partition_count: i32) -> i32 {
    assert!(partition_count > 0, "a topic has at least one partition");
    (murmur2(key) & 0x7fff_ffff) % partition_count
}

/// The sticky partition of unkeyed records, per topic.
#[derive(Debug)]
pub(crate) struct StickyPartitioner {
    /// Per topic: the current partition and the bytes produced to it since it was chosen.
    current: HashMap<String, (i32, usize)>,
    /// xorshift64 state for the random choices.
    state: u64,
}

impl StickyPartitioner {
    /// A partitioner seeded from the clock.
    pub(crate) fn new() -> StickyPartitioner {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        StickyPartitioner {
            current: HashMap::new(),
            state: nanos | 1,
        }
    }

    fn random(&mut self, bound: i32) -> i32 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state % bound as u64) as i32
    }

    /// The partition for an unkeyed record of `record_bytes`: stays on the topic's partition
    /// until `batch_size` bytes went to it, then moves to another one at random. Also returns
    /// the partition left, when it moved (its open batch will get no more of these records).
    pub(crate) fn partition(
        &mut self,
        topic: &str,
        partition_count: i32,
        record_bytes: usize,
        batch_size: usize,
    ) -> (i32, Option<i32>) {
        assert!(partition_count > 0, "a topic has at least one partition");
        let mut left = None;
        let chosen = match self.current.get(topic) {
            Some(&(p, produced)) if p < partition_count && produced < batch_size => p,
            previous => {
                left = previous.map(|&(p, _)| p);
                let previous = previous.map(|&(p, _)| p);
                let mut p = self.random(partition_count);
                if partition_count > 1 && Some(p) == previous {
                    p = (p + 1 + self.random(partition_count - 1)) % partition_count;
                }
                self.current.insert(topic.to_string(), (p, 0));
                p
            }
        };
        let entry = self.current.get_mut(topic).expect("just set");
        entry.1 += record_bytes;
        (chosen, left.filter(|&p| p != chosen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's UtilsTest.testMurmur2 vectors.
    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (data, expected) in cases {
            assert_eq!(murmur2(data), *expected, "{:?}", std::str::from_utf8(data));
        }
    }

    #[test]
    fn keys_map_to_partitions_like_the_java_client() {
        // (murmur2("foobar") & 0x7fffffff) % n
        let positive = -790_332_482i32 & 0x7fff_ffff;
        for n in 1..20 {
            assert_eq!(partition_for_key(b"foobar", n), positive % n);
        }
    }

    #[test]
    fn sticky_partition_moves_after_a_batch_of_bytes() {
        let mut s = StickyPartitioner::new();
        let (first, left) = s.partition("t", 4, 10, 100);
        assert_eq!(left, None);
        for _ in 0..9 {
            assert_eq!(s.partition("t", 4, 10, 100), (first, None));
        }
        let (next, left) = s.partition("t", 4, 10, 100);
        assert_ne!(next, first);
        assert_eq!(left, Some(first));
        assert_eq!(s.partition("one", 1, 1_000, 10), (0, None));
        assert_eq!(s.partition("one", 1, 1_000, 10), (0, None));
    }
}
