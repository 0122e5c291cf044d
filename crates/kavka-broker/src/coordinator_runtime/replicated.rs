//! A coordinator on a replicated internal partition answers only what its ISR holds: the
//! replies of an operation whose records were appended wait (as an acks=all produce does)
//! until the partition's high watermark passes the batch, then go out in order. One watcher
//! task per shard waits for the partition's changes while replies are pending; replies of a
//! shard given up (its leadership moved) are dropped with its waiters, and the requests then
//! answer COORDINATOR_NOT_AVAILABLE so that clients find the new coordinator. A partition with
//! one replica delivers at once. Answers given directly (an offset commit, an EndTxn, an
//! OffsetFetch) pass a `ReadBarrier`: they go out once the high watermark reaches the end of
//! the shard's last append (or of the log replayed at load), so no answer shows state a new
//! leader could lose.

use std::sync::Arc;
use std::time::Duration;

use kavka_coordinator::runtime::CoordinatorShard;
use kavka_protocol::ErrorCode;

use super::{Shard, ShardState, Waiters};
use crate::purgatory::DelayedFetch;

/// Longest a watcher sleeps without a change of its partition before it looks again.
const WATCH_INTERVAL_MS: u64 = 1_000;

/// Delivers an operation's replies to the shard's waiters.
type Deliver<W> = Box<dyn FnOnce(&mut W) + Send>;

/// Replies delivered once the high watermark reaches their offset.
pub(super) struct Deferred<W> {
    pending: Vec<(i64, Deliver<W>)>,
    /// A watcher task runs for this shard.
    watched: bool,
}

impl<W> Default for Deferred<W> {
    fn default() -> Self {
        Deferred {
            pending: Vec::new(),
            watched: false,
        }
    }
}

impl<W> std::fmt::Debug for Deferred<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("pending", &self.pending.len())
            .field("watched", &self.watched)
            .finish()
    }
}

impl<W> Deferred<W> {
    /// Keeps `deliver` until the high watermark reaches `required`; whether a watcher must be
    /// started.
    pub(super) fn push(&mut self, required: i64, deliver: Deliver<W>) -> bool {
        self.pending.push((required, deliver));
        !std::mem::replace(&mut self.watched, true)
    }

    /// Drops every pending reply.
    pub(super) fn clear(&mut self) {
        self.pending.clear();
    }
}

/// What a read of a coordinator's state waits for before it answers: the partition's high
/// watermark reaching the end of the shard's last append.
#[derive(Debug)]
pub struct ReadBarrier {
    partition: Arc<crate::replica_manager::Partition>,
    required: i64,
}

impl ReadBarrier {
    /// The barrier of a read that saw state appended up to `appended_end`, if it must wait.
    pub(super) fn needed(
        partition: &Arc<crate::replica_manager::Partition>,
        appended_end: i64,
    ) -> Option<ReadBarrier> {
        let barrier = ReadBarrier {
            partition: partition.clone(),
            required: appended_end,
        };
        (partition.is_replicated() && !barrier.passed().is_some_and(|c| c == ErrorCode::NONE))
            .then_some(barrier)
    }

    fn passed(&self) -> Option<ErrorCode> {
        self.partition.acks_all_state(self.required, 1)
    }

    /// Waits until the high watermark passes (NONE), this node stops leading the partition
    /// (NOT_COORDINATOR: what was read may be lost), or `timeout` (COORDINATOR_NOT_AVAILABLE,
    /// retriable).
    pub async fn wait(self, timeout: Duration) -> ErrorCode {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let delayed = DelayedFetch::new();
            self.partition
                .watch(&delayed, crate::purgatory::WaitFor::HighWatermark);
            match self.passed() {
                Some(ErrorCode::NONE) => return ErrorCode::NONE,
                Some(_) => return ErrorCode::NOT_COORDINATOR,
                None => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return ErrorCode::COORDINATOR_NOT_AVAILABLE;
            }
            delayed.wait(deadline - now).await;
        }
    }
}

impl ReadBarrier {
    /// [`ReadBarrier::wait`] from synchronous code: on a multi-threaded runtime the thread
    /// leaves the async workers while it waits; elsewhere it polls.
    pub fn wait_blocking(self, timeout: Duration) -> ErrorCode {
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| handle.block_on(self.wait(timeout)))
            }
            _ => {
                let deadline = std::time::Instant::now() + timeout;
                loop {
                    match self.passed() {
                        Some(ErrorCode::NONE) => return ErrorCode::NONE,
                        Some(_) => return ErrorCode::NOT_COORDINATOR,
                        None if std::time::Instant::now() >= deadline => {
                            return ErrorCode::COORDINATOR_NOT_AVAILABLE
                        }
                        None => std::thread::sleep(Duration::from_millis(1)),
                    }
                }
            }
        }
    }
}

/// Delivers the replies of `state` the high watermark has passed (in order); whether some
/// still wait.
fn deliver_ready<S, W>(shard: &Shard<S, W>, state: &mut ShardState<S, W>) -> bool
where
    S: CoordinatorShard,
    W: Waiters<S::Reply>,
{
    while let Some((required, _)) = state.deferred.pending.first() {
        match shard.partition.acks_all_state(*required, 1) {
            None => return true,
            Some(ErrorCode::NONE) => {
                let (_, deliver) = state.deferred.pending.remove(0);
                deliver(&mut state.waiters);
            }
            // Not the leader any more: the requests go unanswered here.
            Some(_) => {
                state.deferred.pending.clear();
                state.waiters.clear();
            }
        }
    }
    false
}

/// Watches `shard`'s partition until its pending replies are delivered.
pub(super) fn watch<S, W>(shard: Arc<Shard<S, W>>)
where
    S: CoordinatorShard + Send + 'static,
    W: Waiters<S::Reply> + 'static,
{
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::error!("no runtime to wait for a coordinator's replication on");
        return;
    };
    runtime.spawn(async move {
        loop {
            let delayed = DelayedFetch::new();
            // Before its state is read: a change from now on wakes the watcher.
            shard
                .partition
                .watch(&delayed, crate::purgatory::WaitFor::HighWatermark);
            {
                let mut state = shard.lock();
                if !deliver_ready(&shard, &mut state) {
                    state.deferred.watched = false;
                    return;
                }
            }
            delayed.wait(Duration::from_millis(WATCH_INTERVAL_MS)).await;
        }
    });
}
