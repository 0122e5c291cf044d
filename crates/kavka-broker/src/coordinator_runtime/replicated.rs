//! A coordinator on a replicated internal partition answers only what its ISR holds: the
//! replies of an operation whose records were appended wait (as an acks=all produce does)
//! until the partition's high watermark passes the batch, then go out in order. One watcher
//! task per shard waits for the partition's changes while replies are pending; replies of a
//! shard given up (its leadership moved) are dropped with its waiters, and the requests then
//! answer COORDINATOR_NOT_AVAILABLE so that clients find the new coordinator. A partition with
//! one replica delivers at once. Answers given directly (an offset commit, an EndTxn, an
//! OffsetFetch) pass a `ReadBarrier`: they go out once the high watermark reaches the log end
//! seen with the state, so no answer shows state a new leader could lose.

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

/// What an answer from a coordinator's state waits for: the partition's high watermark
/// reaching the log end seen with the state (the shard's lock held: every record the state
/// reflects is below it; a marker appended after the read only makes the wait stricter).
#[derive(Debug)]
pub struct ReadBarrier {
    partition: Arc<crate::replica_manager::Partition>,
    required: i64,
}

impl ReadBarrier {
    /// The barrier of an answer from the state of `partition`'s shard (its lock held), if it
    /// must wait; COORDINATOR_NOT_AVAILABLE when the log cannot be read.
    pub(super) fn needed(
        partition: &Arc<crate::replica_manager::Partition>,
    ) -> Result<Option<ReadBarrier>, ErrorCode> {
        if !partition.is_replicated() {
            return Ok(None);
        }
        let required = partition
            .offsets()
            .map_err(|_| ErrorCode::COORDINATOR_NOT_AVAILABLE)?
            .log_end_offset;
        let barrier = ReadBarrier {
            partition: partition.clone(),
            required,
        };
        Ok((barrier.passed() != Some(ErrorCode::NONE)).then_some(barrier))
    }

    /// NONE once the high watermark passes, NOT_COORDINATOR once this node stops leading the
    /// partition (what was read may be lost), None while it waits.
    fn passed(&self) -> Option<ErrorCode> {
        match self.partition.acks_all_state(self.required, 1)? {
            ErrorCode::NONE => Some(ErrorCode::NONE),
            _ => Some(ErrorCode::NOT_COORDINATOR),
        }
    }

    /// Waits until [`ReadBarrier::passed`] answers, or `timeout` (COORDINATOR_NOT_AVAILABLE,
    /// retriable).
    pub async fn wait(self, timeout: Duration) -> ErrorCode {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let delayed = DelayedFetch::new();
            self.partition
                .watch(&delayed, crate::purgatory::WaitFor::HighWatermark);
            if let Some(code) = self.passed() {
                return code;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return ErrorCode::COORDINATOR_NOT_AVAILABLE;
            }
            delayed.wait(deadline - now).await;
        }
    }

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
                    if let Some(code) = self.passed() {
                        return code;
                    }
                    if std::time::Instant::now() >= deadline {
                        return ErrorCode::COORDINATOR_NOT_AVAILABLE;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
}

/// What reads of several shards ([`super::CoordinatorRuntime::read_every`]) saw, each once
/// its barrier passed, all within `timeout`: per shard the value or why there is none.
pub async fn settle<T>(
    reads: Vec<Result<(T, Option<ReadBarrier>), ErrorCode>>,
    timeout: Duration,
) -> Vec<Result<T, ErrorCode>> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut settled = Vec::with_capacity(reads.len());
    for read in reads {
        settled.push(match read {
            Err(code) => Err(code),
            Ok((value, None)) => Ok(value),
            Ok((value, Some(barrier))) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                match barrier.wait(left).await {
                    ErrorCode::NONE => Ok(value),
                    code => Err(code),
                }
            }
        });
    }
    settled
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
