//! Request times, recorded on the request path without a lock or an allocation and without
//! the worker threads sharing a cache line: log-linear buckets (8 per doubling, so a reported
//! time is within 9 % of the true one) of microseconds, one set per thread stripe. Quantiles
//! cover the last one to two upkeep periods (two generations of buckets, the older cleared at
//! each upkeep, as Kafka's histograms favour the recent past); the count and the sum cover
//! everything since start, as Prometheus expects of a summary's `_count` and `_sum`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::counter::{stripe, STRIPES};
use super::Striped;

/// Sub-buckets per doubling.
const SUB_BITS: u32 = 3;
const SUBS: usize = 1 << SUB_BITS;
/// Buckets: up to 2^43 µs (100 days); longer durations share the last.
const BUCKETS: usize = 41 * SUBS;

/// One generation's counts: a bucket array per stripe.
#[derive(Debug)]
struct Generation {
    counts: Box<[AtomicU64]>,
}

impl Generation {
    fn new() -> Self {
        Generation {
            counts: (0..STRIPES * BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn clear(&self) {
        for c in self.counts.iter() {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// A histogram of durations.
#[derive(Debug)]
pub struct TimeHistogram {
    generations: [Generation; 2],
    /// The generation recorded into.
    current: AtomicUsize,
    count: Striped,
    sum_micros: Striped,
}

impl Default for TimeHistogram {
    fn default() -> Self {
        TimeHistogram {
            generations: [Generation::new(), Generation::new()],
            current: AtomicUsize::new(0),
            count: Striped::default(),
            sum_micros: Striped::default(),
        }
    }
}

/// The bucket of `micros`: its power of two, then which eighth of that octave.
fn bucket(micros: u64) -> usize {
    if micros < SUBS as u64 {
        return micros as usize;
    }
    let octave = 63 - micros.leading_zeros(); // >= SUB_BITS
    let sub = (micros >> (octave - SUB_BITS)) as usize & (SUBS - 1);
    ((octave - SUB_BITS + 1) as usize * SUBS + sub).min(BUCKETS - 1)
}

/// The largest value bucket `b` holds (what a quantile in it reports).
fn upper_micros(b: usize) -> u64 {
    if b < SUBS {
        return b as u64;
    }
    let octave = (b / SUBS) as u32 + SUB_BITS - 1;
    let sub = (b % SUBS) as u64;
    let base = 1u64 << octave;
    base + (sub + 1) * (base >> SUB_BITS) - 1
}

impl TimeHistogram {
    /// Records one duration of `micros` microseconds.
    pub fn record(&self, micros: u64) {
        let g = &self.generations[self.current.load(Ordering::Relaxed)];
        g.counts[stripe() * BUCKETS + bucket(micros)].fetch_add(1, Ordering::Relaxed);
        self.count.add(1);
        self.sum_micros.add(micros);
    }

    /// Starts a new generation: quantiles forget what is older than the one now ending.
    pub fn rotate(&self) {
        let next = 1 - self.current.load(Ordering::Relaxed);
        self.generations[next].clear();
        self.current.store(next, Ordering::Relaxed);
    }

    /// The value (µs) at each quantile of the recent durations; `None` when none is recent.
    pub fn quantiles_micros(&self, quantiles: &[f64]) -> Option<Vec<u64>> {
        let mut merged = vec![0u64; BUCKETS];
        for g in &self.generations {
            for (i, c) in g.counts.iter().enumerate() {
                merged[i % BUCKETS] += c.load(Ordering::Relaxed);
            }
        }
        let total: u64 = merged.iter().sum();
        if total == 0 {
            return None;
        }
        let values = quantiles
            .iter()
            .map(|q| {
                let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
                let mut seen = 0;
                let at = merged
                    .iter()
                    .position(|&c| {
                        seen += c;
                        seen >= rank
                    })
                    .unwrap_or(BUCKETS - 1);
                upper_micros(at)
            })
            .collect();
        Some(values)
    }

    /// Durations recorded since start.
    pub fn count(&self) -> u64 {
        self.count.get()
    }

    /// Their sum, in microseconds.
    pub fn sum_micros(&self) -> u64 {
        self.sum_micros.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_a_bucket_whose_bound_is_within_an_eighth_above_it() {
        for v in (0..5_000u64).chain([1 << 20, (1 << 20) + 12_345, 1 << 39, u64::MAX / 2]) {
            let b = bucket(v);
            let upper = upper_micros(b);
            assert!(
                upper >= v.min(upper_micros(BUCKETS - 1)),
                "{v} -> bucket {b} up to {upper}"
            );
            if v < 1 << 39 {
                assert!(upper as f64 <= (v as f64) * 1.125 + 1.0, "{v} -> {upper}");
            }
            if b > 0 && v < 1 << 39 {
                assert!(upper_micros(b - 1) < v, "{v} -> bucket {b}");
            }
        }
    }

    #[test]
    fn quantiles_come_from_the_recent_generations_and_counts_from_all_time() {
        let h = TimeHistogram::default();
        for v in 1..=1000u64 {
            h.record(v * 10); // 10 µs .. 10 ms
        }
        let q = h.quantiles_micros(&[0.5, 0.99]).unwrap();
        assert!((4_700..=5_700).contains(&q[0]), "{q:?}");
        assert!((9_500..=11_300).contains(&q[1]), "{q:?}");
        assert_eq!((h.count(), h.sum_micros()), (1000, 10 * 1000 * 1001 / 2));
        h.rotate();
        h.record(7);
        assert!(
            h.quantiles_micros(&[0.5]).unwrap()[0] > 1000,
            "the older generation counts"
        );
        h.rotate();
        assert_eq!(h.quantiles_micros(&[0.5, 0.999]).unwrap(), vec![7, 7]);
        h.rotate();
        assert_eq!(h.quantiles_micros(&[0.5]), None);
        assert_eq!(h.count(), 1001);
    }
}
