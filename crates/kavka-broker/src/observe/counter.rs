//! A counter bumped from every worker thread without the threads fighting over one cache
//! line: each thread adds to a stripe of its own (threads are dealt stripes in turn), and a
//! scrape sums the stripes.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Stripes per counter: enough for the broker's worker threads on the machines it runs on
/// (more threads than stripes share them, which stays correct).
pub(super) const STRIPES: usize = 8;

/// One stripe, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe(AtomicU64);

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Striped {
    stripes: [Stripe; STRIPES],
}

/// Hands each thread its stripe.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

/// This thread's stripe.
pub(super) fn stripe() -> usize {
    MY_STRIPE.with(|s| *s)
}

impl Striped {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.stripes[stripe()].0.fetch_add(n, Ordering::Relaxed);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_from_many_threads_sum_up() {
        let c = std::sync::Arc::new(Striped::default());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        c.add(3);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.get(), 12 * 1000 * 3);
    }
}
