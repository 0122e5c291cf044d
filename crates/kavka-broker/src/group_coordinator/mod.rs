//! Runs the group coordinator's shards (`kavka_coordinator::group`) against the
//! `__consumer_offsets` partitions: each operation runs under its shard's lock, its records are
//! appended to the shard's partition and replayed, then the waiting requests are answered.
//! JoinGroup and SyncGroup wait here (on a oneshot) until the state machine replies. A timer
//! task runs the shards' deadlines; start-up replays each partition before its shard serves
//! (COORDINATOR_LOAD_IN_PROGRESS meanwhile).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use kavka_coordinator::group::api::{
    CommitRequest, CommittedOffset, GroupDescription, GroupListing, HeartbeatRequest, JoinRequest,
    JoinResponse, LeavingMember, SyncRequest, SyncResponse,
};
use kavka_coordinator::group::{
    partition_for, Effects, GroupConfig, GroupShard, JoinOutcome, Reply, SyncOutcome,
};
use kavka_protocol::batch::Compression;
use kavka_protocol::records::BatchBuilder;
use kavka_protocol::ErrorCode;
use tokio::sync::oneshot;

use crate::broker::now_ms;
use crate::purgatory::Purgatory;
use crate::replica_manager::Partition;

mod load;
mod timers;

pub use timers::run_timers;

/// A shard and the requests waiting on it.
#[derive(Debug)]
struct ShardState {
    /// The state machine.
    machine: GroupShard,
    /// False until the partition has been replayed.
    loaded: bool,
    /// Set when an append failed: the shard's partition is offline and it serves nothing.
    failed: bool,
    /// JoinGroups waiting, by (group, member).
    join_waiters: HashMap<(String, String), oneshot::Sender<JoinResponse>>,
    /// SyncGroups waiting, by (group, member).
    sync_waiters: HashMap<(String, String), oneshot::Sender<SyncResponse>>,
}

/// One shard: a `__consumer_offsets` partition and the groups hashed to it.
#[derive(Debug)]
struct Shard {
    /// The partition the shard's records go to.
    partition: Arc<Partition>,
    /// State, serialised by this lock.
    state: Mutex<ShardState>,
}

/// The group coordinator of this node.
#[derive(Debug)]
pub struct GroupCoordinator {
    /// Settings.
    config: GroupConfig,
    /// Shards by partition index; empty until `__consumer_offsets` exists.
    shards: RwLock<Vec<Arc<Shard>>>,
    /// Random token making member ids unique across restarts.
    member_id_prefix: String,
    /// Wakes fetches waiting on `__consumer_offsets` when records are appended (the same
    /// purgatory as produce's).
    appends: Arc<Purgatory>,
}

impl ShardState {
    /// Appends the records, replays them, and answers the waiting requests. On a failed append
    /// the shard stops serving (its waiters are dropped: they answer COORDINATOR_NOT_AVAILABLE).
    fn apply(
        &mut self,
        partition: &Partition,
        appends: &Purgatory,
        effects: Effects,
    ) -> Result<(), ErrorCode> {
        let now = now_ms();
        if !effects.records.is_empty() {
            let mut builder = BatchBuilder::new(Compression::None);
            for r in &effects.records {
                let key = r.encode_key();
                let value = r.encode_value();
                builder.append(now, Some(&key), value.as_deref(), &[]);
            }
            let appended = builder
                .build()
                .map_err(|e| e.to_string())
                .and_then(|batch| partition.append(&batch, now).map_err(|e| format!("{e:?}")));
            if let Err(e) = appended {
                tracing::error!(partition = partition.index, error = %e, "cannot append to __consumer_offsets: the shard stops serving");
                self.failed = true;
                self.join_waiters.clear();
                self.sync_waiters.clear();
                return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
            }
            appends.notify();
            for r in &effects.records {
                self.machine.replay(r, now);
            }
        }
        for reply in effects.replies {
            match reply {
                Reply::Join {
                    group_id,
                    member_id,
                    response,
                } => {
                    if let Some(tx) = self.join_waiters.remove(&(group_id, member_id)) {
                        let _ = tx.send(response);
                    }
                }
                Reply::Sync {
                    group_id,
                    member_id,
                    response,
                } => {
                    if let Some(tx) = self.sync_waiters.remove(&(group_id, member_id)) {
                        let _ = tx.send(response);
                    }
                }
            }
        }
        Ok(())
    }
}

impl GroupCoordinator {
    /// A coordinator with no shards yet; `appends` is woken after each append.
    pub fn new(config: GroupConfig, appends: Arc<Purgatory>) -> GroupCoordinator {
        let token = uuid::Uuid::new_v4().simple().to_string();
        GroupCoordinator {
            config,
            shards: RwLock::new(Vec::new()),
            member_id_prefix: token[..12].to_string(),
            appends,
        }
    }

    /// Whether the shards exist.
    pub fn is_attached(&self) -> bool {
        !self.shards.read().expect("shards lock poisoned").is_empty()
    }

    /// Takes the `__consumer_offsets` partitions (in index order). `loaded` is true for a
    /// topic just created (nothing to replay); otherwise call [`GroupCoordinator::load`].
    pub fn attach(&self, partitions: Vec<Arc<Partition>>, loaded: bool) {
        let shards = partitions
            .into_iter()
            .map(|partition| {
                Arc::new(Shard {
                    partition,
                    state: Mutex::new(ShardState {
                        machine: GroupShard::new(
                            self.config.clone(),
                            self.member_id_prefix.clone(),
                        ),
                        loaded,
                        failed: false,
                        join_waiters: HashMap::new(),
                        sync_waiters: HashMap::new(),
                    }),
                })
            })
            .collect();
        *self.shards.write().expect("shards lock poisoned") = shards;
    }

    fn shard(&self, group_id: &str) -> Result<Arc<Shard>, ErrorCode> {
        let shards = self.shards.read().expect("shards lock poisoned");
        if shards.is_empty() {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        let index = partition_for(group_id, shards.len() as i32) as usize;
        Ok(shards[index].clone())
    }

    /// Runs `op` on the group's shard and applies its effects.
    fn run<T>(
        &self,
        group_id: &str,
        op: impl FnOnce(&mut ShardState) -> (T, Effects),
    ) -> Result<T, ErrorCode> {
        let shard = self.shard(group_id)?;
        let mut state = shard.state.lock().expect("shard lock poisoned");
        check_serving(&state)?;
        let (value, effects) = op(&mut state);
        state.apply(&shard.partition, &self.appends, effects)?;
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
                        .join_waiters
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
                    state.sync_waiters.insert(key, tx);
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

    /// OffsetFetch.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        partitions: Option<&[(String, i32)]>,
    ) -> Result<Vec<CommittedOffset>, ErrorCode> {
        self.run(group_id, |state| {
            (
                state.machine.fetch_offsets(group_id, partitions),
                Effects::default(),
            )
        })?
    }

    /// DescribeGroups of one group (None: no such group).
    pub fn describe(&self, group_id: &str) -> Result<Option<GroupDescription>, ErrorCode> {
        self.run(group_id, |state| {
            (state.machine.describe(group_id), Effects::default())
        })
    }

    /// ListGroups over every shard; an error when a shard is not serving.
    pub fn list(&self) -> Result<Vec<GroupListing>, ErrorCode> {
        let shards = self.shards.read().expect("shards lock poisoned").clone();
        let mut out = Vec::new();
        for shard in shards {
            let state = shard.state.lock().expect("shard lock poisoned");
            check_serving(&state)?;
            out.extend(state.machine.list());
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

fn check_serving(state: &ShardState) -> Result<(), ErrorCode> {
    if state.failed {
        Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)
    } else if !state.loaded {
        Err(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS)
    } else {
        Ok(())
    }
}
