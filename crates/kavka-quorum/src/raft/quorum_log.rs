//! [`QuorumLog`]: the [`MetadataLog`] of a voter in a quorum of several controllers.
//!
//! A driver thread owns the clock of the [`RaftNode`]: it ticks it every `tick_ms`, steps it
//! with the messages [`QuorumLog::receive`] queued, runs the ready loop, sends what it produced
//! through the [`RaftTransport`] (outside the lock) and hands every committed batch or
//! snapshot, in order, to the `committed` channel the node's applier reads. `append` proposes
//! and waits for its own batch to come out committed: with the term it was proposed in, or the
//! proposal was lost to a new leader ([`MetadataError::NotLeader`]); a batch not seen
//! committed within `commit_timeout_ms` is [`MetadataError::CommitTimeout`] (it may still
//! commit, as a Kafka controller's timed-out write may).

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kavka_metadata::{
    MetadataBatch, MetadataError, MetadataImage, MetadataLog, MetadataRecord, Replay,
};

use super::node::{Committed, ProposeError, RaftConfig, RaftNode};
use raft::eraftpb::Message;

/// Delivers Raft messages to other voters. Sending may drop a message (Raft resends); it must
/// not block for long, the driver calls it between ticks.
pub trait RaftTransport: Send + Sync + std::fmt::Debug {
    /// Sends `message` to voter `message.to`.
    fn send(&self, message: Message);
}

/// Timing of a quorum voter.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// Identity and tick counts of the voter.
    pub raft: RaftConfig,
    /// Milliseconds per tick.
    pub tick_ms: u64,
    /// How long `append` waits for its batch to commit.
    pub commit_timeout_ms: u64,
    /// Bytes of log after which an applied image is snapshotted.
    pub snapshot_bytes_min: u64,
}

/// A voter's metadata log; clones share the voter.
#[derive(Debug, Clone)]
pub struct QuorumLog {
    shared: Arc<Shared>,
    config: Arc<QuorumConfig>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the driver (a message, a proposal, stop).
    work: Condvar,
    /// Wakes appenders (something committed, or the driver failed).
    progress: Condvar,
}

#[derive(Debug)]
struct State {
    node: RaftNode,
    inbox: Vec<Message>,
    /// What the transport found out about deliveries, for the leader.
    reports: Vec<Delivery>,
    /// When a message from each other voter, or a fetch from each observer, last arrived.
    heard: HashMap<u64, Instant>,
    /// Each observer's last offset held and when it last fetched (ms since the Unix epoch).
    observers: HashMap<u64, (u64, i64)>,
    /// A proposal waits for the ready loop.
    proposed: bool,
    /// The last offset handed to the applier.
    handed: u64,
    /// Proposals waiting: offset -> (term proposed in, outcome once committed).
    waiting: HashMap<u64, (u64, Option<Result<MetadataBatch, MetadataError>>)>,
    /// Set when the voter's disk failed; the log refuses everything after.
    failed: Option<String>,
    stop: bool,
}

/// The driver thread; stops it when dropped.
#[derive(Debug)]
pub struct QuorumDriver {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl QuorumLog {
    /// Opens the voter's store in `dir` and starts its driver. The returned [`Replay`] is what
    /// was committed on disk; everything committed later goes to `committed`, in order.
    pub fn open(
        dir: &Path,
        config: QuorumConfig,
        transport: Arc<dyn RaftTransport>,
        committed: Sender<Committed>,
    ) -> Result<(QuorumLog, Replay, QuorumDriver), MetadataError> {
        let node = RaftNode::open_at_commit(dir, &config.raft)?;
        let replay = node.committed_replay()?;
        let handed = replay
            .batches
            .last()
            .map(|b| b.offset)
            .or(replay.snapshot.as_ref().map(|s| s.offset))
            .unwrap_or(0);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                node,
                inbox: Vec::new(),
                reports: Vec::new(),
                heard: HashMap::new(),
                observers: HashMap::new(),
                proposed: false,
                handed,
                waiting: HashMap::new(),
                failed: None,
                stop: false,
            }),
            work: Condvar::new(),
            progress: Condvar::new(),
        });
        let config = Arc::new(config);
        let thread = {
            let shared = shared.clone();
            let tick = Duration::from_millis(config.tick_ms.max(1));
            std::thread::Builder::new()
                .name("kavka-quorum".into())
                .spawn(move || drive(&shared, tick, transport.as_ref(), &committed))
                .map_err(MetadataError::io(dir))?
        };
        let driver = QuorumDriver {
            shared: shared.clone(),
            thread: Some(thread),
        };
        Ok((QuorumLog { shared, config }, replay, driver))
    }

    /// Queues a message from another voter.
    pub fn receive(&self, message: Message) {
        let mut st = self.lock();
        st.heard.insert(message.from, Instant::now());
        st.inbox.push(message);
        self.shared.work.notify_one();
    }

    /// How long ago a message from voter `id` last arrived (`None`: never since start). A
    /// leader hears from every live follower each heartbeat, so this is that voter's liveness.
    pub fn heard_from(&self, id: u64) -> Option<Duration> {
        self.lock().heard.get(&id).map(Instant::elapsed)
    }

    /// Sends `records` to the leader to append as they are (a follower forwards them); whether
    /// they commit shows in the committed log only. For writes that need no decision by the
    /// leader, such as a broker's registration.
    pub fn forward(&self, records: Vec<MetadataRecord>) -> Result<(), MetadataError> {
        let mut st = self.lock();
        match st.node.forward(records) {
            Ok(()) => {
                st.proposed = true;
                self.shared.work.notify_one();
                Ok(())
            }
            Err(ProposeError::NotLeader { leader }) => Err(MetadataError::NotLeader { leader }),
            Err(ProposeError::Metadata(e)) => Err(e),
        }
    }

    /// Tells the voter what became of a message it sent: a voter that cannot be reached is
    /// probed again rather than streamed to, and a snapshot's fate releases that voter.
    pub fn report(&self, delivery: Delivery) {
        let mut st = self.lock();
        st.reports.push(delivery);
        self.shared.work.notify_one();
    }

    /// This voter's id, term, leader and whether it leads, for DescribeQuorum.
    pub fn status(&self) -> QuorumStatus {
        let st = self.lock();
        QuorumStatus {
            id: st.node.id(),
            term: st.node.term(),
            leader: st.node.leader(),
            commit: st.node.commit_index(),
            last_index: st.node.last_index(),
            progress: st.node.progress(),
            observers: if st.node.is_leader() {
                let mut o: Vec<_> = st
                    .observers
                    .iter()
                    .map(|(&id, &(held, at))| (id, held, at))
                    .collect();
                o.sort_unstable();
                o
            } else {
                Vec::new()
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().expect("quorum lock poisoned")
    }
}

/// What the transport learnt about a message to another voter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Voter `to` could not be reached.
    Unreachable {
        /// The voter.
        to: u64,
    },
    /// A snapshot to voter `to` was written to its connection, or not.
    Snapshot {
        /// The voter.
        to: u64,
        /// Whether it was.
        delivered: bool,
    },
}

/// What a voter knows of its quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumStatus {
    /// This voter.
    pub id: u64,
    /// The current term (the metadata log's epoch).
    pub term: u64,
    /// The leader, if known.
    pub leader: Option<u64>,
    /// The commit index.
    pub commit: u64,
    /// The last index in this voter's log.
    pub last_index: u64,
    /// On the leader: each voter and the last index it is known to hold.
    pub progress: Vec<(u64, u64)>,
    /// On the leader: each observer that fetched from it, the last index it holds and when it
    /// last fetched (ms since the Unix epoch).
    pub observers: Vec<(u64, u64, i64)>,
}

fn drive(shared: &Shared, tick: Duration, transport: &dyn RaftTransport, sink: &Sender<Committed>) {
    let mut next_tick = Instant::now() + tick;
    loop {
        let mut st = shared.state.lock().expect("quorum lock poisoned");
        loop {
            let now = Instant::now();
            let pending = !st.inbox.is_empty() || !st.reports.is_empty() || st.proposed;
            if st.stop || pending || now >= next_tick {
                break;
            }
            st = shared
                .work
                .wait_timeout(st, next_tick - now)
                .expect("quorum lock poisoned")
                .0;
        }
        if st.stop {
            return;
        }
        if Instant::now() >= next_tick {
            st.node.tick();
            next_tick += tick;
            if next_tick < Instant::now() {
                next_tick = Instant::now() + tick;
            }
        }
        for m in std::mem::take(&mut st.inbox) {
            st.node.step(m);
        }
        for r in std::mem::take(&mut st.reports) {
            match r {
                Delivery::Unreachable { to } => st.node.report_unreachable(to),
                Delivery::Snapshot { to, delivered } => st.node.report_snapshot(to, delivered),
            }
        }
        st.proposed = false;
        let out = match st.node.advance() {
            Ok(out) => out,
            Err(e) => {
                tracing::error!(error = %e, "metadata quorum voter failed: its log cannot be written");
                st.failed = Some(e.to_string());
                shared.progress.notify_all();
                return;
            }
        };
        for c in &out.committed {
            settle(&mut st, c);
        }
        if !out.committed.is_empty() {
            shared.progress.notify_all();
        }
        drop(st);
        for m in out.messages {
            transport.send(m);
        }
        for c in out.committed {
            if sink.send(c).is_err() {
                return;
            }
        }
    }
}

/// Records what a committed item means for the proposals waiting.
fn settle(st: &mut State, c: &Committed) {
    match c {
        Committed::Batch(b) => {
            st.handed = b.offset;
            if let Some((term, outcome)) = st.waiting.get_mut(&b.offset) {
                *outcome = Some(if u64::from(b.epoch) == *term {
                    Ok(b.clone())
                } else {
                    Err(MetadataError::NotLeader { leader: None })
                });
            }
        }
        Committed::Snapshot { offset, .. } => {
            st.handed = *offset;
            for (&at, (_, outcome)) in st.waiting.iter_mut() {
                if at <= *offset && outcome.is_none() {
                    // Covered by a leader's snapshot: whether it is in it cannot be told here.
                    *outcome = Some(Err(MetadataError::NotLeader { leader: None }));
                }
            }
        }
    }
}

fn failed(reason: &str) -> MetadataError {
    MetadataError::Corrupt {
        path: "<metadata quorum>".into(),
        reason: format!("the voter stopped after a failure: {reason}"),
    }
}

impl MetadataLog for QuorumLog {
    fn append(&mut self, records: Vec<MetadataRecord>) -> Result<MetadataBatch, MetadataError> {
        let mut st = self.lock();
        if let Some(reason) = &st.failed {
            return Err(failed(reason));
        }
        match st.node.propose(records) {
            Ok(()) => {}
            Err(ProposeError::NotLeader { leader }) => {
                return Err(MetadataError::NotLeader { leader })
            }
            Err(ProposeError::Metadata(e)) => return Err(e),
        }
        let offset = st.node.last_index();
        let term = st.node.term();
        st.waiting.insert(offset, (term, None));
        st.proposed = true;
        self.shared.work.notify_one();
        let timeout = Duration::from_millis(self.config.commit_timeout_ms);
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((_, Some(_))) = st.waiting.get(&offset) {
                let (_, outcome) = st.waiting.remove(&offset).expect("just seen");
                return outcome.expect("just seen").map_err(|e| match e {
                    MetadataError::NotLeader { .. } => MetadataError::NotLeader {
                        leader: st.node.leader(),
                    },
                    e => e,
                });
            }
            if let Some(reason) = &st.failed {
                let e = failed(reason);
                st.waiting.remove(&offset);
                return Err(e);
            }
            let now = Instant::now();
            if now >= deadline {
                st.waiting.remove(&offset);
                return Err(MetadataError::CommitTimeout {
                    offset,
                    timeout_ms: self.config.commit_timeout_ms,
                });
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, deadline - now)
                .expect("quorum lock poisoned")
                .0;
        }
    }

    fn committed_offset(&self) -> u64 {
        self.lock().handed
    }

    fn epoch(&self) -> u32 {
        u32::try_from(self.lock().node.term()).unwrap_or(u32::MAX)
    }

    fn replay(&self) -> Result<Replay, MetadataError> {
        self.lock().node.committed_replay()
    }

    fn applied(&mut self, offset: u64, image: &MetadataImage) -> Result<(), MetadataError> {
        let mut st = self.lock();
        if st.node.log_bytes() < self.config.snapshot_bytes_min {
            return Ok(());
        }
        st.node.compact(offset, image)?;
        tracing::info!(offset, "metadata snapshot written, log prefix dropped");
        Ok(())
    }

    fn writable(&self) -> Result<u64, MetadataError> {
        let st = self.lock();
        if let Some(reason) = &st.failed {
            return Err(failed(reason));
        }
        if st.node.leads_with_current_commit() {
            // Every entry in the log, so a decision sees writes whose wait timed out too.
            Ok(st.node.last_index())
        } else {
            Err(MetadataError::NotLeader {
                leader: st.node.leader().filter(|&l| l != st.node.id()),
            })
        }
    }

    fn leader(&self) -> Option<u64> {
        self.lock().node.leader()
    }
}

#[path = "observe.rs"]
mod observe;

impl Drop for QuorumDriver {
    fn drop(&mut self) {
        if let Ok(mut st) = self.shared.state.lock() {
            st.stop = true;
        }
        self.shared.work.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
