//! Where delayed fetches wait: every append bumps a counter, and a fetch that has not yet
//! gathered `min_bytes` waits for the next bump or its `max_wait_ms`, then reads again.

use std::time::Duration;

use tokio::sync::watch;

/// Wake-ups for delayed operations.
#[derive(Debug)]
pub struct Purgatory {
    /// Counts appends (and topic deletions), so waiters never miss one.
    appends: watch::Sender<u64>,
}

impl Default for Purgatory {
    fn default() -> Self {
        Purgatory {
            appends: watch::channel(0).0,
        }
    }
}

/// A waiter's view of the append counter.
#[derive(Debug)]
pub struct Waiter {
    /// Receiver of the counter.
    rx: watch::Receiver<u64>,
}

impl Purgatory {
    /// Tells waiters that something changed.
    pub fn notify(&self) {
        self.appends.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Registers before the state is read, so that an append between the read and the wait
    /// still wakes the waiter.
    pub fn waiter(&self) -> Waiter {
        let mut rx = self.appends.subscribe();
        rx.mark_unchanged();
        Waiter { rx }
    }
}

impl Waiter {
    /// Waits for a change or the timeout; true when woken by a change.
    pub async fn wait(&mut self, timeout: Duration) -> bool {
        matches!(
            tokio::time::timeout(timeout, self.rx.changed()).await,
            Ok(Ok(()))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_notify_after_registering_wakes() {
        let p = Purgatory::default();
        let mut w = p.waiter();
        p.notify();
        assert!(w.wait(Duration::from_secs(5)).await);
        assert!(!w.wait(Duration::from_millis(20)).await);
    }
}
