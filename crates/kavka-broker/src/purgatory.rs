//! Delayed fetches, keyed by partition (Kafka's fetch purgatory): a fetch that has not yet
//! gathered `min_bytes` is registered with every partition it reads, and a partition wakes the
//! fetches registered with it when it changes, then forgets them. A woken fetch plans again
//! (registering again), or answers at `max_wait_ms`. An append to one partition wakes only the
//! fetches reading it.
//!
//! A waiter says what it waits for ([`WaitFor`]): followers read to the log end and are woken
//! by appends; consumers, acks=all produces and coordinators' replies wait for the high
//! watermark and are woken when it moves (on a partition of one replica, at every append), not
//! by an append that only followers can see yet. Any other change (a transaction marker, a new
//! leader epoch or ISR, a truncation, the partition's removal or failure) wakes both.
//!
//! Every wake, and every change no waiter waits for (a new log start offset), also counts in
//! the partition's change count ([`FetchWatchers::changes`]): a fetch that found nothing to send
//! in a partition, and finds the count unchanged later, would find nothing again and skips it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::Notify;

/// Registrations kept before dead ones (fetches that answered on their timeout) are pruned;
/// pruning then runs each time the list doubles.
const WATCHERS_PRUNE_MIN: usize = 32;

/// What a waiter waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// New records at the log end (a follower).
    LogEnd,
    /// A move of the high watermark (a consumer, an acks=all produce, a coordinator).
    HighWatermark,
}

/// The fetches waiting on one partition.
#[derive(Debug, Default)]
pub struct FetchWatchers {
    /// Waiting for appends.
    log_end: Watchers,
    /// Waiting for the high watermark.
    high_watermark: Watchers,
    /// Changes so far: counted after the state changed, before the waiters are woken.
    changes: AtomicU64,
}

/// One list of waiters.
#[derive(Debug, Default)]
struct Watchers {
    watchers: Mutex<Vec<Weak<Notify>>>,
}

/// One fetch request's waker, registered with each partition it reads.
#[derive(Debug, Default)]
pub struct DelayedFetch {
    woken: Arc<Notify>,
}

impl FetchWatchers {
    /// Registers `fetch` waiting for `what`, before the partition's state is read: a change
    /// between the read and the wait still wakes it.
    pub fn watch(&self, fetch: &DelayedFetch, what: WaitFor) {
        match what {
            WaitFor::LogEnd => self.log_end.watch(fetch),
            WaitFor::HighWatermark => self.high_watermark.watch(fetch),
        }
    }

    /// Wakes every registered waiter and forgets them (any change of the partition's state).
    pub fn wake(&self) {
        self.touch();
        self.log_end.wake();
        self.high_watermark.wake();
    }

    /// Wakes the waiters of appends (followers).
    pub fn wake_appended(&self) {
        self.touch();
        self.log_end.wake();
    }

    /// Wakes the waiters of the high watermark.
    pub fn wake_high_watermark(&self) {
        self.touch();
        self.high_watermark.wake();
    }

    /// Counts a change that wakes nobody (a fetch reading the partition again sees it).
    pub fn touch(&self) {
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// The changes counted so far. Read before the partition's state: a change that completes
    /// after the read counts after it.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// How many registrations are kept (live or not).
    pub fn len(&self) -> usize {
        self.log_end.len() + self.high_watermark.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Watchers {
    fn watch(&self, fetch: &DelayedFetch) {
        let mut watchers = self.lock();
        if watchers
            .last()
            .is_some_and(|w| w.as_ptr() == Arc::as_ptr(&fetch.woken))
        {
            return;
        }
        if watchers.len() >= WATCHERS_PRUNE_MIN && watchers.len().is_power_of_two() {
            watchers.retain(|w| w.strong_count() > 0);
        }
        watchers.push(Arc::downgrade(&fetch.woken));
    }

    fn wake(&self) {
        let mut watchers = self.lock();
        for w in watchers.drain(..) {
            if let Some(woken) = w.upgrade() {
                woken.notify_one();
            }
        }
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Notify>>> {
        // The list holds no invariant a panic could break.
        self.watchers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl DelayedFetch {
    /// A fetch's waker.
    pub fn new() -> DelayedFetch {
        DelayedFetch::default()
    }

    /// Waits until a partition it is registered with changes (or changed since it registered),
    /// or `timeout`; true when woken.
    pub async fn wait(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.woken.notified())
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_change_wakes_the_fetches_registered_before_it() {
        let (a, b) = (FetchWatchers::default(), FetchWatchers::default());
        let fetch = DelayedFetch::new();
        a.watch(&fetch, WaitFor::LogEnd);
        b.watch(&fetch, WaitFor::LogEnd);
        // A change between registering and waiting is not missed.
        b.wake();
        assert!(fetch.wait(Duration::from_secs(5)).await);
        assert!(b.is_empty(), "a wake forgets its fetches");
        assert!(
            !fetch.wait(Duration::from_millis(20)).await,
            "nothing changed since"
        );
        // Another partition's change does not wake a fetch that is not registered with it.
        let other = DelayedFetch::new();
        b.watch(&other, WaitFor::LogEnd);
        a.wake();
        assert!(!other.wait(Duration::from_millis(20)).await);
        b.wake();
        assert!(other.wait(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn an_append_wakes_followers_and_a_high_watermark_move_wakes_consumers() {
        let w = FetchWatchers::default();
        let (follower, consumer) = (DelayedFetch::new(), DelayedFetch::new());
        w.watch(&follower, WaitFor::LogEnd);
        w.watch(&consumer, WaitFor::HighWatermark);
        w.wake_appended();
        assert!(follower.wait(Duration::from_secs(5)).await);
        assert!(
            !consumer.wait(Duration::from_millis(20)).await,
            "not yet visible to it"
        );
        w.wake_high_watermark();
        assert!(consumer.wait(Duration::from_secs(5)).await);
        w.watch(&follower, WaitFor::LogEnd);
        w.watch(&consumer, WaitFor::HighWatermark);
        w.wake();
        assert!(follower.wait(Duration::from_secs(5)).await);
        assert!(consumer.wait(Duration::from_secs(5)).await);
        assert!(w.is_empty());
    }

    #[test]
    fn every_wake_and_touch_counts_a_change() {
        let w = FetchWatchers::default();
        let start = w.changes();
        w.wake_appended();
        w.wake_high_watermark();
        w.wake();
        w.touch();
        assert_eq!(w.changes(), start + 4);
    }

    #[test]
    fn registrations_of_finished_fetches_are_pruned() {
        let watchers = FetchWatchers::default();
        let live = DelayedFetch::new();
        watchers.watch(&live, WaitFor::HighWatermark);
        watchers.watch(&live, WaitFor::HighWatermark);
        assert_eq!(watchers.len(), 1, "the same fetch twice in a row");
        for _ in 0..1000 {
            watchers.watch(&DelayedFetch::new(), WaitFor::HighWatermark);
        }
        assert!(
            watchers.len() <= 2 * WATCHERS_PRUNE_MIN,
            "{}",
            watchers.len()
        );
    }
}
