//! The group coordinator: the group state machines (`kavka_coordinator::group`) on the one
//! coordinator runtime, one shard per `__consumer_offsets` partition (a group lives on
//! `partition_for(group id)`). JoinGroup and SyncGroup wait here (on a oneshot) until the state
//! machine replies. A timer task runs the shards' deadlines and offset expiry; start-up replays
//! each partition before its shard serves (COORDINATOR_LOAD_IN_PROGRESS meanwhile).

use std::collections::HashMap;
use std::sync::Arc;

use kavka_coordinator::group::api::{
    CommitRequest, CommittedOffset, GroupDescription, GroupListing, HeartbeatRequest, JoinRequest,
    JoinResponse, LeavingMember, SyncRequest, SyncResponse,
};
use kavka_coordinator::group::{Effects, GroupConfig, GroupShard, JoinOutcome, Reply, SyncOutcome};
use kavka_protocol::ErrorCode;
use tokio::sync::oneshot;

use crate::broker::now_ms;
use crate::coordinator_runtime::{CoordinatorRuntime, ShardState, Waiters, READ_BARRIER_WAIT_MAX};
use crate::replica_manager::Partition;

mod timers;

pub use timers::run_timers;

/// The JoinGroup and SyncGroup requests waiting on a shard, by (group, member).
#[derive(Debug, Default)]
pub struct GroupWaiters {
    /// JoinGroups waiting.
    join: HashMap<(String, String), oneshot::Sender<JoinResponse>>,
    /// SyncGroups waiting.
    sync: HashMap<(String, String), oneshot::Sender<SyncResponse>>,
}

impl Waiters<Reply> for GroupWaiters {
    fn deliver(&mut self, reply: Reply) {
        match reply {
            Reply::Join {
                group_id,
                member_id,
                response,
            } => {
                if let Some(tx) = self.join.remove(&(group_id, member_id)) {
                    let _ = tx.send(response);
                }
            }
            Reply::Sync {
                group_id,
                member_id,
                response,
            } => {
                if let Some(tx) = self.sync.remove(&(group_id, member_id)) {
                    let _ = tx.send(response);
                }
            }
        }
    }

    fn clear(&mut self) {
        self.join.clear();
        self.sync.clear();
    }
}

/// A group shard's state under the runtime.
type GroupShardState = ShardState<GroupShard, GroupWaiters>;

/// The group coordinator of this node.
#[derive(Debug)]
pub struct GroupCoordinator {
    /// Settings.
    config: GroupConfig,
    /// The shards on the coordinator runtime.
    runtime: CoordinatorRuntime<GroupShard, GroupWaiters>,
    /// Random token making member ids unique across restarts.
    member_id_prefix: String,
}

impl GroupCoordinator {
    /// A coordinator with no shards yet.
    pub fn new(config: GroupConfig) -> GroupCoordinator {
        let token = uuid::Uuid::new_v4().simple().to_string();
        GroupCoordinator {
            config,
            runtime: CoordinatorRuntime::new(crate::controller::CONSUMER_OFFSETS_TOPIC),
            member_id_prefix: token[..12].to_string(),
        }
    }

    /// Whether the shards exist.
    pub fn is_attached(&self) -> bool {
        self.runtime.is_attached()
    }

    /// Takes the `__consumer_offsets` partitions (in index order). `loaded` is true for a
    /// topic just created (nothing to replay); otherwise call [`GroupCoordinator::load`].
    pub fn attach(&self, partitions: Vec<Option<Arc<Partition>>>, loaded: bool) {
        self.runtime.attach(
            partitions,
            loaded,
            || GroupShard::new(self.config.clone(), self.member_id_prefix.clone()),
            GroupWaiters::default,
        );
    }

    /// The `__consumer_offsets` partition of a group.
    pub fn partition_of(&self, group_id: &str) -> Result<i32, ErrorCode> {
        self.runtime.index_for(group_id).map(|i| i as i32)
    }

    /// Takes or gives up `__consumer_offsets` partition `index` (this node became or stopped
    /// being its leader); a shard taken serves once [`GroupCoordinator::load`] replayed it.
    pub fn set_shard(&self, index: usize, partition: Option<Arc<Partition>>) {
        self.runtime.set_shard(
            index,
            partition,
            || GroupShard::new(self.config.clone(), self.member_id_prefix.clone()),
            GroupWaiters::default,
        );
    }

    /// Whether a shard waits to be replayed.
    pub fn needs_load(&self) -> bool {
        self.runtime.needs_load()
    }

    /// Replays the partition of every shard not loaded yet (blocking). Returns the records
    /// replayed.
    pub fn load(&self) -> usize {
        self.runtime.load().0
    }

    /// Runs `op` on the group's shard and applies its effects.
    fn run<T>(
        &self,
        group_id: &str,
        op: impl FnOnce(&mut GroupShardState) -> (T, Effects),
    ) -> Result<T, ErrorCode> {
        let index = self.runtime.index_for(group_id)?;
        self.runtime.run(index, op)
    }

    /// Runs `op`, which reads the group's shard and changes nothing, then waits until what it
    /// read is committed: an answer never shows state a new leader could lose.
    async fn read<T>(
        &self,
        group_id: &str,
        op: impl FnOnce(&mut GroupShardState) -> T,
    ) -> Result<T, ErrorCode> {
        let index = self.runtime.index_for(group_id)?;
        let (value, barrier) = self.runtime.read(index, op)?;
        if let Some(barrier) = barrier {
            let code = barrier.wait(READ_BARRIER_WAIT_MAX).await;
            if code != ErrorCode::NONE {
                return Err(code);
            }
        }
        Ok(value)
    }

    /// JoinGroup: waits until the rebalance completes.
    pub async fn join(&self, req: JoinRequest) -> JoinResponse {
        let group_id = req.group_id.clone();
        let member_id = req.member_id.clone();
        let waiting = self.run(&group_id, |state| {
            let (outcome, effects) = state.machine.join(now_ms(), req);
            let rx = match outcome {
                JoinOutcome::Done(response) => Err(response),
                JoinOutcome::Pending { member_id } => {
                    let (tx, rx) = oneshot::channel();
                    state
                        .waiters
                        .join
                        .insert((group_id.clone(), member_id.clone()), tx);
                    Ok((rx, member_id))
                }
            };
            (rx, effects)
        });
        match waiting {
            Err(code) => JoinResponse::error(code, &member_id),
            Ok(Err(response)) => response,
            Ok(Ok((rx, member_id))) => rx.await.unwrap_or_else(|_| {
                JoinResponse::error(ErrorCode::COORDINATOR_NOT_AVAILABLE, &member_id)
            }),
        }
    }

    /// SyncGroup: a follower waits for the leader's assignment.
    pub async fn sync(&self, req: SyncRequest) -> SyncResponse {
        let key = (req.group_id.clone(), req.member_id.clone());
        let waiting = self.run(&req.group_id.clone(), |state| {
            let (outcome, effects) = state.machine.sync(now_ms(), req);
            let rx = match outcome {
                SyncOutcome::Done(response) => Err(response),
                SyncOutcome::Pending => {
                    let (tx, rx) = oneshot::channel();
                    state.waiters.sync.insert(key, tx);
                    Ok(rx)
                }
            };
            (rx, effects)
        });
        match waiting {
            Err(code) => SyncResponse::error(code),
            Ok(Err(response)) => response,
            Ok(Ok(rx)) => rx
                .await
                .unwrap_or_else(|_| SyncResponse::error(ErrorCode::COORDINATOR_NOT_AVAILABLE)),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(&self, req: &HeartbeatRequest) -> ErrorCode {
        self.run(&req.group_id, |state| {
            (state.machine.heartbeat(now_ms(), req), Effects::default())
        })
        .unwrap_or_else(|e| e)
    }

    /// LeaveGroup: each member's error, or the request's.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[LeavingMember],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.run(group_id, |state| {
            state.machine.leave(now_ms(), group_id, members)
        })?
    }

    /// OffsetCommit: each partition's error.
    pub fn commit_offsets(&self, req: &CommitRequest) -> Vec<ErrorCode> {
        self.run(&req.group_id, |state| {
            state.machine.commit_offsets(now_ms(), req)
        })
        .unwrap_or_else(|e| vec![e; req.partitions.len()])
    }

    /// TxnOffsetCommit: each partition's error; the offsets are pending until the marker.
    pub fn txn_commit_offsets(
        &self,
        req: &CommitRequest,
        producer_id: i64,
        epoch: i16,
    ) -> Vec<ErrorCode> {
        self.run(&req.group_id, |state| {
            state
                .machine
                .txn_commit_offsets(now_ms(), req, producer_id, epoch)
        })
        .unwrap_or_else(|e| vec![e; req.partitions.len()])
    }

    /// OffsetFetch (committed offsets only).
    pub async fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<CommittedOffset>, ErrorCode> {
        self.read(group_id, |state| {
            state.machine.fetch_offsets(group_id, partitions)
        })
        .await?
    }

    /// DescribeGroups of one group (None: no such group).
    pub async fn describe(&self, group_id: &str) -> Result<Option<GroupDescription>, ErrorCode> {
        self.read(group_id, |state| state.machine.describe(group_id))
            .await
    }

    /// ListGroups over every shard, each answered once its partition's ISR holds what it
    /// read; an error when a shard is not serving (still loading, or the ISR does not answer
    /// in time). A shard whose leadership moved meanwhile is left out: its groups are listed
    /// by their new coordinator (as Kafka's ListGroups skips NOT_COORDINATOR partitions).
    pub async fn list(&self) -> Result<Vec<GroupListing>, ErrorCode> {
        let reads = self.runtime.read_every(|state| state.machine.list());
        let mut out = Vec::new();
        for read in crate::coordinator_runtime::settle(reads, READ_BARRIER_WAIT_MAX).await {
            match read {
                Ok(listing) => out.extend(listing),
                Err(ErrorCode::NOT_COORDINATOR) => {}
                Err(code) => return Err(code),
            }
        }
        Ok(out)
    }

    /// DeleteGroups of one group.
    pub fn delete_group(&self, group_id: &str) -> ErrorCode {
        self.run(group_id, |state| state.machine.delete_group(group_id))
            .unwrap_or_else(|e| e)
    }

    /// OffsetDelete.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<ErrorCode>, ErrorCode> {
        self.run(group_id, |state| {
            state.machine.delete_offsets(group_id, partitions)
        })?
    }
}
