//! [`RaftNode`]: one voter of the metadata quorum, a state machine driven from outside: the
//! caller ticks it (its clock), steps it with messages from the other voters (its network), and
//! takes from [`RaftNode::advance`] the messages to send and the batches now committed. The
//! consensus itself is TiKV's `raft` crate; this type owns the ready loop and its durability
//! order: entries and hard state are on disk before the messages that acknowledge them leave.

use std::path::Path;

use kavka_metadata::{MetadataBatch, MetadataError, MetadataImage, MetadataRecord};
use raft::eraftpb::Message;
use raft::{RawNode, StateRole};

use super::store::{entry_data, entry_records, RaftStore};

/// Timing and identity of a voter.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This voter's id (the node id; never 0).
    pub id: u64,
    /// Every voter's id.
    pub voters: Vec<u64>,
    /// Ticks without a leader before a follower campaigns (the lowest of the random range).
    pub election_ticks: usize,
    /// Ticks above `election_ticks` the random election timeout may add (at least 1; 1 makes
    /// the timeout exact, for deterministic simulation).
    pub election_ticks_spread: usize,
    /// Ticks between a leader's heartbeats.
    pub heartbeat_ticks: usize,
}

/// What one [`RaftNode::advance`] produced.
#[derive(Debug, Default)]
pub struct Output {
    /// Messages for other voters.
    pub messages: Vec<Message>,
    /// Newly committed log content, in order.
    pub committed: Vec<Committed>,
}

/// Committed log content to apply.
#[derive(Debug)]
pub enum Committed {
    /// The next committed batch.
    Batch(MetadataBatch),
    /// A snapshot from the leader: replaces the image, up to `offset`.
    Snapshot {
        /// The last offset the image holds.
        offset: u64,
        /// The image.
        image: MetadataImage,
    },
}

/// Why a proposal was not taken.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    /// This voter is not the leader; `leader` is the one it knows of.
    #[error("not the leader (leader: {leader:?})")]
    NotLeader {
        /// The leader this voter knows, if any.
        leader: Option<u64>,
    },
    /// The records do not encode.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
}

/// One voter.
pub struct RaftNode {
    raw: RawNode<RaftStore>,
}

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("id", &self.raw.raft.id)
            .field("term", &self.raw.raft.term)
            .field("role", &self.raw.raft.state)
            .finish()
    }
}

impl RaftNode {
    /// Opens the voter's store in `dir` and starts it as a follower. Committed entries after
    /// the latest snapshot are produced again by the first [`RaftNode::advance`] calls, so the
    /// caller rebuilds its image from [`RaftNode::snapshot_image`] plus those.
    pub fn open(dir: &Path, config: &RaftConfig) -> Result<RaftNode, MetadataError> {
        let store = RaftStore::open(dir, &config.voters)?;
        let applied = store.snapshot_image()?.map_or(0, |(index, _)| index);
        RaftNode::start(dir, config, store, applied)
    }

    /// Opens the voter's store in `dir` as [`RaftNode::open`] does, but resumes after the
    /// commit index on disk: the caller replays [`RaftNode::committed_replay`] itself and
    /// [`RaftNode::advance`] hands out only what commits after it.
    pub fn open_at_commit(dir: &Path, config: &RaftConfig) -> Result<RaftNode, MetadataError> {
        let store = RaftStore::open(dir, &config.voters)?;
        let applied = store.commit();
        RaftNode::start(dir, config, store, applied)
    }

    fn start(
        dir: &Path,
        config: &RaftConfig,
        store: RaftStore,
        applied: u64,
    ) -> Result<RaftNode, MetadataError> {
        // The hard state names a commit index the log must hold; a log that ends before it
        // lost entries it acknowledged (a disk that did not keep what it fsynced).
        let last = raft::Storage::last_index(&store).unwrap_or(0);
        if store.commit() > last {
            return Err(MetadataError::Corrupt {
                path: dir.to_path_buf(),
                reason: format!(
                    "quorum-state says offset {} is committed but the metadata log ends at {last}: entries this voter acknowledged are gone (was the disk's write cache lost?)",
                    store.commit()
                ),
            });
        }
        let raft_config = raft::Config {
            id: config.id,
            election_tick: config.election_ticks,
            heartbeat_tick: config.heartbeat_ticks,
            min_election_tick: config.election_ticks,
            max_election_tick: config.election_ticks + config.election_ticks_spread.max(1),
            applied,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1024 * 1024,
            max_inflight_msgs: 256,
            ..Default::default()
        };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        let raw =
            RawNode::new(&raft_config, store, &logger).map_err(|e| MetadataError::Corrupt {
                path: dir.to_path_buf(),
                reason: format!("raft state does not start: {e}"),
            })?;
        Ok(RaftNode { raw })
    }

    /// The image of the latest snapshot and its offset, if any.
    pub fn snapshot_image(&self) -> Result<Option<(u64, MetadataImage)>, MetadataError> {
        self.raw.store().snapshot_image()
    }

    /// The latest snapshot and the committed batches after it, as on disk.
    pub fn committed_replay(&self) -> Result<kavka_metadata::Replay, MetadataError> {
        self.raw.store().committed_replay()
    }

    /// What an observer holding everything up to `after` fetches (see
    /// [`RaftStore::committed_after`]), up to this voter's commit index.
    pub fn committed_after(
        &self,
        after: u64,
        bytes_max: usize,
    ) -> Result<Vec<super::observer_wire::Fetched>, MetadataError> {
        self.raw
            .store()
            .committed_after(after, self.commit_index(), bytes_max)
    }

    /// Whether this voter leads its term and has committed an entry of that term (so every
    /// entry of earlier terms is committed too: its state is complete).
    pub fn leads_with_current_commit(&self) -> bool {
        let log = &self.raw.raft.raft_log;
        self.is_leader() && log.term(log.committed).ok() == Some(self.term())
    }

    /// The index of the last entry in this voter's log.
    pub fn last_index(&self) -> u64 {
        self.raw.raft.raft_log.last_index()
    }

    /// Advances the voter's clock by one tick.
    pub fn tick(&mut self) {
        self.raw.tick();
    }

    /// Gives the voter a message from another voter. Messages for another term or from an
    /// unknown voter are dropped by the protocol itself.
    pub fn step(&mut self, message: Message) {
        if let Err(e) = self.raw.step(message) {
            tracing::debug!(error = %e, "raft message dropped");
        }
    }

    /// Proposes `records` as one batch; committed later, if this voter stays leader.
    pub fn propose(&mut self, records: Vec<MetadataRecord>) -> Result<(), ProposeError> {
        if self.raw.raft.state != StateRole::Leader {
            return Err(ProposeError::NotLeader {
                leader: self.leader(),
            });
        }
        let data = entry_data(records)?;
        self.raw
            .propose(Vec::new(), data)
            .map_err(|_| ProposeError::NotLeader {
                leader: self.leader(),
            })
    }

    /// Proposes `records` whatever this voter's role: a follower forwards them to the leader it
    /// knows (raft-rs's proposal forwarding), with no word back on whether they commit; the
    /// caller watches the committed log for them. For writes the leader need not decide.
    pub fn forward(&mut self, records: Vec<MetadataRecord>) -> Result<(), ProposeError> {
        let data = entry_data(records)?;
        self.raw
            .propose(Vec::new(), data)
            .map_err(|_| ProposeError::NotLeader {
                leader: self.leader(),
            })
    }

    /// Each voter's id and the last index the leader knows it holds (the leader: its own
    /// last index); empty unless this voter leads.
    pub fn progress(&self) -> Vec<(u64, u64)> {
        if !self.is_leader() {
            return Vec::new();
        }
        let me = self.id();
        let mut voters: Vec<(u64, u64)> = self
            .raw
            .raft
            .prs()
            .iter()
            .map(|(&id, pr)| {
                (
                    id,
                    if id == me {
                        self.last_index()
                    } else {
                        pr.matched
                    },
                )
            })
            .collect();
        voters.sort_unstable();
        voters
    }

    /// This voter's id.
    pub fn id(&self) -> u64 {
        self.raw.raft.id
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.raw.raft.term
    }

    /// Whether this voter leads its term.
    pub fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// The leader this voter knows of.
    pub fn leader(&self) -> Option<u64> {
        Some(self.raw.raft.leader_id).filter(|&id| id != raft::INVALID_ID)
    }

    /// The commit index this voter knows.
    pub fn commit_index(&self) -> u64 {
        self.raw.raft.raft_log.committed
    }

    /// Snapshots `image`, the state after the applied batch at `offset`, and drops the log it
    /// covers.
    pub fn compact(&mut self, offset: u64, image: &MetadataImage) -> Result<(), MetadataError> {
        self.raw.mut_store().compact(offset, image)
    }

    /// Tells the leader whether a snapshot it sent to `to` was delivered (the transport knows;
    /// without the report the leader would wait for that voter forever after a lost one).
    pub fn report_snapshot(&mut self, to: u64, delivered: bool) {
        let status = if delivered {
            raft::SnapshotStatus::Finish
        } else {
            raft::SnapshotStatus::Failure
        };
        self.raw.report_snapshot(to, status);
    }

    /// Tells the leader `to` could not be reached, so it probes again instead of streaming.
    pub fn report_unreachable(&mut self, to: u64) {
        self.raw.report_unreachable(to);
    }

    /// Bytes of log after the latest snapshot.
    pub fn log_bytes(&self) -> u64 {
        self.raw.store().log_bytes()
    }

    /// Runs the ready loop once: persists what must be persisted, and returns the messages to
    /// send and what became committed. An error leaves the voter unusable (its disk failed).
    pub fn advance(&mut self) -> Result<Output, MetadataError> {
        let mut out = Output::default();
        if !self.raw.has_ready() {
            return Ok(out);
        }
        let mut ready = self.raw.ready();
        // Sent at once: a leader's appends go out while it persists its own copy.
        out.messages.extend(ready.take_messages());
        if !ready.snapshot().is_empty() {
            let (offset, _, image) = self.raw.mut_store().apply_snapshot(ready.snapshot())?;
            out.committed.push(Committed::Snapshot { offset, image });
        }
        committed(&mut out, ready.take_committed_entries())?;
        if !ready.entries().is_empty() {
            self.raw.mut_store().append(ready.entries())?;
        }
        if let Some(hs) = ready.hs() {
            self.raw.mut_store().set_hard_state(hs)?;
        }
        // These acknowledge what was just persisted.
        out.messages.extend(ready.take_persisted_messages());
        let mut light = self.raw.advance(ready);
        if let Some(commit) = light.commit_index() {
            self.raw.mut_store().set_commit(commit)?;
        }
        out.messages.extend(light.take_messages());
        committed(&mut out, light.take_committed_entries())?;
        self.raw.advance_apply();
        Ok(out)
    }
}

fn committed(out: &mut Output, entries: Vec<raft::eraftpb::Entry>) -> Result<(), MetadataError> {
    for e in entries {
        out.committed.push(Committed::Batch(MetadataBatch {
            offset: e.index,
            epoch: u32::try_from(e.term).expect("a Raft term fits the metadata log's epoch"),
            records: entry_records(&e)?,
        }));
    }
    Ok(())
}
