//! The one coordinator runtime: runs a coordinator state machine
//! (`kavka_coordinator::runtime::CoordinatorShard`) per partition of its internal topic. An
//! operation runs under its shard's lock; its records are appended to the shard's partition as
//! one batch (with the same `Partition::append` as produce), replayed, and only then are the
//! replies delivered, so nothing is acknowledged before it is in the log. Appends run where
//! blocking does not hold up other connections (they may fsync). A failed append takes the
//! shard out of service (COORDINATOR_NOT_AVAILABLE) with its state as of its last good append:
//! the replies of the failed operation are dropped, and the log, which holds only what was
//! appended, is the replay point a reload starts from (a failed shard is reloaded only when
//! the broker restarts). Deadlines run from a timer task (`tick`), off the async workers.
//!
//! The group coordinator and the transaction coordinator run on it.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use kavka_coordinator::runtime::{CoordinatorRecord, CoordinatorShard, Effects};
use kavka_protocol::batch::Compression;
use kavka_protocol::records::BatchBuilder;
use kavka_protocol::ErrorCode;

use crate::broker::now_ms;
use crate::replica_manager::Partition;

mod load;
mod replicated;

pub use replicated::{settle, ReadBarrier};

/// How long an operation that changed a replicated coordinator waits for its ISR.
const WRITE_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest an answer read from a coordinator's state waits for the ISR to hold what it read
/// (then COORDINATOR_NOT_AVAILABLE, retriable).
pub const READ_BARRIER_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a coordinator's replies go: the requests waiting on its shard.
pub trait Waiters<P>: Send {
    /// Delivers one reply to the request waiting for it (if it still waits).
    fn deliver(&mut self, reply: P);
    /// Drops every waiting request (they then answer COORDINATOR_NOT_AVAILABLE).
    fn clear(&mut self);
}

/// A shard's state, serialised by the shard's lock.
#[derive(Debug)]
pub struct ShardState<S, W> {
    /// The state machine.
    pub machine: S,
    /// Requests waiting for a reply.
    pub waiters: W,
    /// False until the partition has been replayed.
    loaded: bool,
    /// Set when an append failed: the shard serves nothing until reloaded.
    failed: bool,
    /// Replies waiting for the partition's ISR to hold their records (`replicated.rs`).
    deferred: replicated::Deferred<W>,
}

impl<S, W> ShardState<S, W> {
    /// Fails unless the shard serves.
    pub fn check_serving(&self) -> Result<(), ErrorCode> {
        if self.failed {
            Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
        } else if !self.loaded {
            Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
        } else {
            Ok(())
        }
    }
}

/// One shard: a partition and its state machine.
#[derive(Debug)]
pub struct Shard<S, W> {
    /// The partition the shard's records go to.
    pub partition: Arc<Partition>,
    /// Its state.
    state: Mutex<ShardState<S, W>>,
}

impl<S, W> Shard<S, W> {
    /// Locks the shard's state.
    pub fn lock(&self) -> MutexGuard<'_, ShardState<S, W>> {
        self.state.lock().expect("coordinator shard lock poisoned")
    }
}

/// A shard as the runtime and its callers share it.
type SharedShard<S, W> = Arc<Shard<S, W>>;

/// A shard of `partition` with a fresh machine.
fn new_shard<S, W>(
    partition: Arc<Partition>,
    loaded: bool,
    machine: &impl Fn() -> S,
    waiters: &impl Fn() -> W,
) -> SharedShard<S, W> {
    Arc::new(Shard {
        partition,
        state: Mutex::new(ShardState {
            machine: machine(),
            waiters: waiters(),
            loaded,
            failed: false,
            deferred: replicated::Deferred::default(),
        }),
    })
}

/// The runtime of one coordinator: its shards, by partition index.
#[derive(Debug)]
pub struct CoordinatorRuntime<S, W> {
    /// Shards by partition index (`None`: another broker hosts that partition); empty until
    /// the internal topic exists.
    shards: RwLock<Vec<Option<SharedShard<S, W>>>>,
    /// The internal topic, for logs.
    topic: &'static str,
}

impl<S, W> CoordinatorRuntime<S, W>
where
    S: CoordinatorShard + Send + 'static,
    S::Reply: Send + 'static,
    W: Waiters<S::Reply> + 'static,
{
    /// A runtime with no shards yet.
    pub fn new(topic: &'static str) -> Self {
        CoordinatorRuntime {
            shards: RwLock::new(Vec::new()),
            topic,
        }
    }

    /// Whether the shards exist.
    pub fn is_attached(&self) -> bool {
        !self.shards.read().expect("shards lock poisoned").is_empty()
    }

    /// Number of shards (partitions of the internal topic), 0 before it exists.
    pub fn shard_count(&self) -> usize {
        self.shards.read().expect("shards lock poisoned").len()
    }

    /// Takes the internal topic's partitions (in index order; `None` for those this node does
    /// not host), a fresh machine for each. `loaded` is true for a topic just created (nothing
    /// to replay); otherwise call `load`.
    pub fn attach(
        &self,
        partitions: Vec<Option<Arc<Partition>>>,
        loaded: bool,
        machine: impl Fn() -> S,
        waiters: impl Fn() -> W,
    ) {
        let shards = partitions
            .into_iter()
            .map(|partition| Some(new_shard(partition?, loaded, &machine, &waiters)))
            .collect();
        *self.shards.write().expect("shards lock poisoned") = shards;
    }

    /// Takes partition `index` as a shard of this node (it became the partition's leader: the
    /// shard serves once `load` replayed it), or gives the shard up (`None`: it no longer
    /// leads; requests get NOT_COORDINATOR, and those waiting COORDINATOR_NOT_AVAILABLE, so
    /// clients find the new coordinator). Nothing before the internal topic is attached.
    pub fn set_shard(
        &self,
        index: usize,
        partition: Option<Arc<Partition>>,
        machine: impl Fn() -> S,
        waiters: impl Fn() -> W,
    ) {
        let mut shards = self.shards.write().expect("shards lock poisoned");
        let Some(slot) = shards.get_mut(index) else {
            return;
        };
        if let Some(old) = slot.take() {
            let mut old = old.lock();
            old.deferred.clear();
            old.waiters.clear();
        }
        *slot = partition.map(|p| new_shard(p, false, &machine, &waiters));
        tracing::info!(
            topic = self.topic,
            partition = index,
            taken = slot.is_some(),
            "coordinator shard {}",
            if slot.is_some() {
                "taken (loading)"
            } else {
                "given up"
            }
        );
    }

    /// Whether a shard waits to be replayed.
    pub fn needs_load(&self) -> bool {
        self.shards().iter().any(|s| {
            let st = s.lock();
            !st.loaded && !st.failed
        })
    }

    /// The shard of `key` (a group or transactional id): Kafka's `abs(javaHash(key)) % count`.
    pub fn index_for(&self, key: &str) -> Result<usize, ErrorCode> {
        let count = self.shard_count();
        if count == 0 {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        Ok(kavka_coordinator::group::partition_for(key, count as i32) as usize)
    }

    /// Every shard this node hosts.
    pub fn shards(&self) -> Vec<Arc<Shard<S, W>>> {
        let shards = self.shards.read().expect("shards lock poisoned");
        shards.iter().flatten().cloned().collect()
    }

    /// The shard of partition `index`: NOT_COORDINATOR when another broker hosts it.
    fn shard(&self, index: usize) -> Result<Arc<Shard<S, W>>, ErrorCode> {
        match self.shards.read().expect("shards lock poisoned").get(index) {
            Some(Some(shard)) => Ok(shard.clone()),
            Some(None) => Err(ErrorCode::NOT_COORDINATOR),
            None => Err(ErrorCode::COORDINATOR_NOT_AVAILABLE),
        }
    }

    /// Runs `op` on the shard of partition `index` and applies its effects. On a replicated
    /// partition the answer then waits (blocking its thread, off the async workers) until
    /// the ISR holds everything the state reflects, that is the partition's log up to its end:
    /// the records `op` appended, those of an operation before it still in flight, a
    /// transaction marker, the log replayed at load. NOT_COORDINATOR when leadership moved
    /// meanwhile (what the operation wrote may be lost: the client retries on the new
    /// coordinator), COORDINATOR_NOT_AVAILABLE after `WRITE_WAIT_MAX` (Kafka's
    /// offsets.commit.timeout.ms default).
    pub fn run<T>(
        &self,
        index: usize,
        op: impl FnOnce(&mut ShardState<S, W>) -> (T, Effects<S::Record, S::Reply>),
    ) -> Result<T, ErrorCode> {
        let shard = self.shard(index)?;
        let mut state = shard.lock();
        state.check_serving()?;
        let (value, effects) = op(&mut state);
        self.apply(&shard, &mut state, effects)?;
        let barrier = replicated::ReadBarrier::needed(&shard.partition)?;
        drop(state);
        if let Some(barrier) = barrier {
            let code = barrier.wait_blocking(WRITE_WAIT_MAX);
            if code != ErrorCode::NONE {
                return Err(code);
            }
        }
        Ok(value)
    }

    /// Runs `op`, which reads the state of the shard of partition `index` and changes
    /// nothing, and returns what it read with the barrier its answer must pass: what the read
    /// saw may include records the partition's ISR does not hold yet (a commit just appended),
    /// so on a replicated partition the answer waits until the high watermark reaches the
    /// partition's log end (Kafka answers reads from committed state only).
    pub fn read<T>(
        &self,
        index: usize,
        op: impl FnOnce(&mut ShardState<S, W>) -> T,
    ) -> Result<(T, Option<replicated::ReadBarrier>), ErrorCode> {
        let shard = self.shard(index)?;
        let mut state = shard.lock();
        state.check_serving()?;
        let value = op(&mut state);
        let barrier = replicated::ReadBarrier::needed(&shard.partition)?;
        Ok((value, barrier))
    }

    /// Runs `op` on every shard this node hosts, as [`CoordinatorRuntime::read`] does on one:
    /// per shard what it read (or why it could not) and the barrier the answer must pass
    /// ([`replicated::settle`] waits for them).
    pub fn read_every<T>(
        &self,
        mut op: impl FnMut(&mut ShardState<S, W>) -> T,
    ) -> Vec<Result<(T, Option<replicated::ReadBarrier>), ErrorCode>> {
        self.shards()
            .into_iter()
            .map(|shard| {
                let mut state = shard.lock();
                state.check_serving()?;
                let value = op(&mut state);
                let barrier = replicated::ReadBarrier::needed(&shard.partition)?;
                Ok((value, barrier))
            })
            .collect()
    }

    /// Appends the records as one batch, replays them, then delivers the replies (once the
    /// ISR holds the batch, on a replicated partition).
    fn apply(
        &self,
        shard: &SharedShard<S, W>,
        state: &mut ShardState<S, W>,
        effects: Effects<S::Record, S::Reply>,
    ) -> Result<(), ErrorCode> {
        let partition = &shard.partition;
        let now = now_ms();
        let mut required = None;
        if !effects.records.is_empty() {
            let mut builder = BatchBuilder::new(Compression::None);
            if let Some((producer_id, epoch)) = effects.transactional {
                // No sequence (-1): the log checks the epoch only, as for Kafka's coordinator.
                builder = builder
                    .with_producer(producer_id, epoch, -1)
                    .transactional();
            }
            for r in &effects.records {
                builder.append(now, Some(&r.encode_key()), r.encode_value().as_deref(), &[]);
            }
            let appended = builder
                .build()
                .map_err(|e| e.to_string())
                .and_then(|batch| {
                    crate::handlers::blocking(|| partition.append(&batch, now))
                        .map_err(|e| e.to_string())
                });
            match appended {
                Ok((info, _)) => required = Some(info.last_offset + 1),
                Err(e) => {
                    tracing::error!(topic = self.topic, partition = partition.index, error = %e, "coordinator append failed: the shard stops serving");
                    state.failed = true;
                    state.deferred.clear();
                    state.waiters.clear();
                    return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
                }
            }
            for r in &effects.records {
                match effects.transactional {
                    Some((producer_id, _)) => state.machine.replay_in_txn(r, producer_id, now),
                    None => state.machine.replay(r, now),
                }
            }
        }
        let replies = effects.replies;
        match required {
            Some(required) if partition.is_replicated() && !replies.is_empty() => {
                let deliver = Box::new(move |waiters: &mut W| {
                    for reply in replies {
                        waiters.deliver(reply);
                    }
                });
                if state.deferred.push(required, deliver) {
                    replicated::watch(shard.clone());
                }
            }
            _ => {
                for reply in replies {
                    state.waiters.deliver(reply);
                }
            }
        }
        Ok(())
    }

    /// Runs the deadlines that have passed in every serving shard (blocking: call off the async
    /// workers).
    pub fn tick(&self) {
        let now = now_ms();
        for shard in self.shards() {
            let mut state = shard.lock();
            if state.check_serving().is_err()
                || state.machine.next_deadline_ms().is_none_or(|d| d > now)
            {
                continue;
            }
            let effects = state.machine.tick(now);
            let _ = self.apply(&shard, &mut state, effects);
        }
    }

    /// A transaction marker was written to partition `index`: the shard learns of it.
    pub fn marker_written(&self, index: usize, producer_id: i64, commit: bool) {
        if let Ok(shard) = self.shard(index) {
            shard
                .lock()
                .machine
                .replay_marker(producer_id, commit, now_ms());
        }
    }

    /// Runs `op` on every serving shard (a periodic pass such as offset expiry; blocking).
    pub fn for_each_shard(
        &self,
        mut op: impl FnMut(&mut S, i64) -> Effects<S::Record, S::Reply>,
    ) -> usize {
        let now = now_ms();
        let mut records = 0;
        for shard in self.shards() {
            let mut state = shard.lock();
            if state.check_serving().is_err() {
                continue;
            }
            let effects = op(&mut state.machine, now);
            records += effects.records.len();
            if !effects.is_empty() {
                let _ = self.apply(&shard, &mut state, effects);
            }
        }
        records
    }
}
