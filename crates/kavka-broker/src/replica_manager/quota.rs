//! Replication throttles (Kafka's replication quotas, set by `kafka-reassign-partitions.sh
//! --throttle`): a leader serves the replicas its topics list in
//! `leader.replication.throttled.replicas` at most `leader.replication.throttled.rate` bytes
//! per second over all of them, and a follower fetches the replicas listed in
//! `follower.replication.throttled.replicas` at most `follower.replication.throttled.rate`;
//! replicas in the ISR are never throttled. As in Kafka, a throttled partition is left out of
//! a fetch (answered empty by the leader, not asked for by the follower) while the bytes of
//! the throttled replicas over the last seconds exceed the rate, so the rate is held on
//! average, one fetch at a time.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// How many one-second samples the rate is measured over (Kafka's `quota.window.num` 11,
/// less the sample being filled).
const WINDOW_SAMPLES: u64 = 10;
/// The length of one sample.
const SAMPLE_MS: u64 = 1000;

/// One direction's throttle on this node.
#[derive(Debug)]
pub struct ReplicationQuota {
    /// The rate limit in bytes per second; `u64::MAX`: none.
    rate_bytes_per_s: AtomicU64,
    /// Bytes recorded per sample (sample start in ms, bytes), oldest first.
    samples: Mutex<VecDeque<(u64, u64)>>,
}

impl Default for ReplicationQuota {
    fn default() -> Self {
        ReplicationQuota {
            rate_bytes_per_s: AtomicU64::new(u64::MAX),
            samples: Mutex::new(VecDeque::new()),
        }
    }
}

impl ReplicationQuota {
    /// Sets the rate (`None`: unlimited).
    pub fn set_rate(&self, rate_bytes_per_s: Option<u64>) {
        self.rate_bytes_per_s
            .store(rate_bytes_per_s.unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The rate, if limited.
    pub fn rate(&self) -> Option<u64> {
        let r = self.rate_bytes_per_s.load(Ordering::Relaxed);
        (r != u64::MAX).then_some(r)
    }

    fn samples(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, u64)>> {
        self.samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `bytes` of throttled replicas sent (or fetched) at `now_ms`.
    pub fn record(&self, bytes: u64, now_ms: u64) {
        if bytes == 0 {
            return;
        }
        let start = now_ms - now_ms % SAMPLE_MS;
        let mut samples = self.samples();
        match samples.back_mut() {
            Some((s, b)) if *s == start => *b += bytes,
            _ => samples.push_back((start, bytes)),
        }
        while samples
            .front()
            .is_some_and(|(s, _)| *s + WINDOW_SAMPLES * SAMPLE_MS <= start)
        {
            samples.pop_front();
        }
    }

    /// Whether the bytes recorded over the window (from its oldest sample to now, at least one
    /// sample long) exceed the rate.
    pub fn is_exceeded(&self, now_ms: u64) -> bool {
        let Some(rate) = self.rate() else {
            return false;
        };
        let samples = self.samples();
        let horizon = now_ms.saturating_sub(WINDOW_SAMPLES * SAMPLE_MS);
        let mut total = 0u64;
        let mut oldest = now_ms;
        for &(start, bytes) in samples.iter().filter(|(s, _)| *s + SAMPLE_MS > horizon) {
            total += bytes;
            oldest = oldest.min(start);
        }
        let elapsed_ms = (now_ms - oldest).max(SAMPLE_MS);
        total.saturating_mul(1000) > rate.saturating_mul(elapsed_ms)
    }
}

/// Whether a throttled-replicas config (`*`, or `partition:broker,...`) names replica `broker`
/// of partition `partition`.
pub fn lists(config: &str, partition: i32, broker: i32) -> bool {
    let config = config.trim();
    if config == "*" {
        return true;
    }
    config.split(',').any(|entry| {
        let mut parts = entry.trim().split(':');
        let p = parts.next().and_then(|p| p.trim().parse::<i32>().ok());
        let b = parts.next().and_then(|b| b.trim().parse::<i32>().ok());
        p == Some(partition) && b == Some(broker) && parts.next().is_none()
    })
}

/// Why a throttled-replicas config is malformed, in Kafka's words.
pub fn check_list(value: &str) -> Result<(), String> {
    let v = value.trim();
    let pair = |e: &str| {
        let mut parts = e.trim().split(':');
        let ok = |x: Option<&str>| x.is_some_and(|x| x.trim().parse::<u32>().is_ok());
        ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
    };
    if v.is_empty() || v == "*" || v.split(',').all(pair) {
        return Ok(());
    }
    Err("must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_held_over_the_window() {
        let q = ReplicationQuota::default();
        q.record(10_000_000, 5_000);
        assert!(!q.is_exceeded(5_000), "no rate: never exceeded");
        q.set_rate(Some(1_000_000));
        assert!(q.is_exceeded(5_500), "10 MB within a second");
        // Ten seconds later, 10 MB over 10 s is 1 MB/s: not above the rate.
        assert!(!q.is_exceeded(15_000));
        q.record(600_000, 14_000);
        assert!(q.is_exceeded(14_100));
        // The old sample ages out of the window.
        assert!(!q.is_exceeded(20_000));
        q.set_rate(None);
        assert!(!q.is_exceeded(15_100));
    }

    #[test]
    fn throttled_replica_lists_are_parsed_as_kafka_writes_them() {
        assert!(lists("*", 4, 2));
        assert!(lists("0:1,1:2", 1, 2));
        assert!(!lists("0:1,1:2", 1, 1));
        assert!(!lists("", 0, 1));
        assert!(check_list("0:1, 1:2").is_ok());
        assert!(check_list("*").is_ok());
        assert!(check_list("").is_ok());
        assert!(check_list("0-1").is_err());
        assert!(check_list("0:1:2").is_err());
    }
}
