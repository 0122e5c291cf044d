//! The transaction coordinator: the transaction state machines
//! (`kavka_coordinator::txn::TxnShard`) on the one coordinator runtime, one shard per
//! `__transaction_state` partition (a transactional id lives on `partition_for(id)`, as in
//! Kafka). The machine's marker requests go to the marker writer (`markers.rs`), which writes
//! the COMMIT/ABORT markers through the same path as the WriteTxnMarkers API and then completes
//! the transaction.

use std::sync::{Arc, Mutex};

use kavka_coordinator::txn::{TxnConfig, TxnEffects, TxnReply, TxnShard};
use kavka_protocol::ErrorCode;
use tokio::sync::mpsc;

use crate::broker::now_ms;
use crate::coordinator_runtime::{CoordinatorRuntime, ShardState, Waiters};
use crate::replica_manager::Partition;

pub mod markers;

/// PRODUCER_FENCED (KIP-588) as a request version before `fenced_version` can read it: older
/// clients know only INVALID_PRODUCER_EPOCH for a fenced producer, as Kafka answers them.
pub fn fenced_for_version(code: ErrorCode, version: i16, fenced_version: i16) -> ErrorCode {
    if code == ErrorCode::PRODUCER_FENCED && version < fenced_version {
        ErrorCode::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

/// How long an operation waits for a previous transaction's markers before answering
/// CONCURRENT_TRANSACTIONS (see `run_after_markers`).
pub const CONCURRENT_WAIT_MS_MAX: u64 = 100;

/// The internal topic of transaction states.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// Hands a shard's marker requests to the marker writer.
#[derive(Debug)]
pub struct TxnWaiters {
    /// The writer's queue.
    markers: mpsc::UnboundedSender<TxnReply>,
}

impl Waiters<TxnReply> for TxnWaiters {
    fn deliver(&mut self, reply: TxnReply) {
        // The receiver lives as long as the broker; a closed one means shutting down.
        let _ = self.markers.send(reply);
    }

    fn clear(&mut self) {}
}

/// A transaction shard's state under the runtime.
type TxnShardState = ShardState<TxnShard, TxnWaiters>;

/// The transaction coordinator of this node.
#[derive(Debug)]
pub struct TxnCoordinator {
    /// Settings.
    config: TxnConfig,
    /// The shards on the coordinator runtime.
    runtime: CoordinatorRuntime<TxnShard, TxnWaiters>,
    /// Marker requests, to the writer.
    markers: mpsc::UnboundedSender<TxnReply>,
    /// The writer's end, taken by the marker task.
    markers_rx: Mutex<Option<mpsc::UnboundedReceiver<TxnReply>>>,
}

impl TxnCoordinator {
    /// A coordinator with no shards yet.
    pub fn new(config: TxnConfig) -> TxnCoordinator {
        let (tx, rx) = mpsc::unbounded_channel();
        TxnCoordinator {
            config,
            runtime: CoordinatorRuntime::new(TRANSACTION_STATE_TOPIC),
            markers: tx,
            markers_rx: Mutex::new(Some(rx)),
        }
    }

    /// Whether the shards exist.
    pub fn is_attached(&self) -> bool {
        self.runtime.is_attached()
    }

    /// Takes the `__transaction_state` partitions (in index order); `loaded` as for groups.
    pub fn attach(&self, partitions: Vec<Option<Arc<Partition>>>, loaded: bool) {
        let tx = self.markers.clone();
        self.runtime.attach(
            partitions,
            loaded,
            || TxnShard::new(self.config.clone()),
            || TxnWaiters {
                markers: tx.clone(),
            },
        );
    }

    /// Takes or gives up `__transaction_state` partition `index` (this node became or stopped
    /// being its leader); a shard taken serves once [`TxnCoordinator::load`] replayed it.
    pub fn set_shard(&self, index: usize, partition: Option<Arc<Partition>>) {
        let tx = self.markers.clone();
        self.runtime.set_shard(
            index,
            partition,
            || TxnShard::new(self.config.clone()),
            || TxnWaiters {
                markers: tx.clone(),
            },
        );
    }

    /// Whether a shard waits to be replayed.
    pub fn needs_load(&self) -> bool {
        self.runtime.needs_load()
    }

    /// Replays every shard not loaded yet (blocking), then asks again for the markers of
    /// their transactions that were prepared but not completed. Returns the records replayed.
    pub fn load(&self) -> usize {
        let (records, loaded) = self.runtime.load();
        for shard in loaded {
            for reply in shard.lock().machine.pending_markers() {
                let _ = self.markers.send(reply);
            }
        }
        records
    }

    /// The marker requests (for the marker task; once).
    pub fn take_marker_queue(&self) -> Option<mpsc::UnboundedReceiver<TxnReply>> {
        self.markers_rx
            .lock()
            .expect("markers lock poisoned")
            .take()
    }

    /// Puts a marker request back (a partition could not take it yet).
    pub fn retry_markers(&self, reply: TxnReply) {
        let _ = self.markers.send(reply);
    }

    /// Runs `op` on the shard of `transactional_id`.
    pub fn run<T>(
        &self,
        transactional_id: &str,
        op: impl FnOnce(&mut TxnShardState) -> (T, TxnEffects),
    ) -> Result<T, ErrorCode> {
        let index = self.runtime.index_for(transactional_id)?;
        self.runtime.run(index, op)
    }

    /// [`TxnCoordinator::run`] of an operation that fails with CONCURRENT_TRANSACTIONS while
    /// the previous transaction's markers are being written: retried for up to
    /// [`CONCURRENT_WAIT_MS_MAX`] before that answer goes back. The markers usually take a
    /// millisecond or two, while a client told CONCURRENT_TRANSACTIONS backs off for its
    /// `retry.backoff.ms` (librdkafka: 100 ms), which would stall back-to-back transactions.
    /// Blocking: call off the async workers.
    pub fn run_after_markers<T>(
        &self,
        transactional_id: &str,
        mut op: impl FnMut(&mut TxnShardState) -> (Result<T, ErrorCode>, TxnEffects),
    ) -> Result<T, ErrorCode> {
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_millis(CONCURRENT_WAIT_MS_MAX);
        loop {
            match self.run(transactional_id, &mut op) {
                Ok(Err(ErrorCode::CONCURRENT_TRANSACTIONS))
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Ok(result) => return result,
                Err(code) => return Err(code),
            }
        }
    }

    /// Transactions version 2: the partitions join the producer's transaction as its batches
    /// (Produce v12+) or offsets (TxnOffsetCommit v5) reach them, starting one if none is
    /// open. Waits for a previous transaction's markers as AddPartitionsToTxn does. Blocking.
    pub fn add_implicitly(
        &self,
        transactional_id: &str,
        (producer_id, epoch): (i64, i16),
        partitions: &[(String, i32)],
    ) -> Result<(), ErrorCode> {
        self.run_after_markers(transactional_id, |state| {
            state.machine.add_partitions_v2(
                now_ms(),
                transactional_id,
                producer_id,
                epoch,
                partitions,
            )
        })
    }

    /// The markers of a transaction are written: complete it.
    pub fn complete(&self, transactional_id: &str, producer_id: i64, epoch: i16) {
        let _ = self.run(transactional_id, |state| {
            (
                (),
                state
                    .machine
                    .complete(now_ms(), transactional_id, producer_id, epoch),
            )
        });
    }

    /// Runs the deadlines (timeouts, id expiry) of every shard (blocking).
    pub fn tick(&self) {
        self.runtime.tick();
    }

    /// Reads every shard (ListTransactions; see `CoordinatorRuntime::read_every`).
    pub fn read_every<T>(
        &self,
        op: impl FnMut(&mut ShardState<TxnShard, TxnWaiters>) -> T,
    ) -> Vec<Result<(T, Option<crate::coordinator_runtime::ReadBarrier>), ErrorCode>> {
        self.runtime.read_every(op)
    }

    /// Every shard (DescribeTransactions, ListTransactions).
    pub fn shards(&self) -> Vec<Arc<crate::coordinator_runtime::Shard<TxnShard, TxnWaiters>>> {
        self.runtime.shards()
    }

    /// The shard index of a transactional id.
    pub fn index_for(&self, transactional_id: &str) -> Result<usize, ErrorCode> {
        self.runtime.index_for(transactional_id)
    }
}
