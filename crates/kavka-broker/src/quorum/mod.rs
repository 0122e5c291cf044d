//! This node as a voter of a metadata quorum of several controllers
//! (`controller.quorum.voters` naming more than this node).
//!
//! [`Quorum::open`] opens the voter's [`QuorumLog`] in the metadata directory, binds the
//! controller channel ([`channel`]: the inbound connections of the other voters) and connects
//! out to each of them ([`transport`]). The broker writes through the log when this node leads
//! and applies what it hands over, in order, whoever wrote it.
//!
//! Raft ids are node ids plus one: Kafka allows node id 0, raft-rs reserves id 0 for "none".

pub mod channel;
pub mod transport;

use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};

use kavka_metadata::Replay;
use kavka_quorum::raft::{
    Committed, QuorumConfig, QuorumDriver, QuorumLog, QuorumStatus, RaftConfig,
};

use crate::config::BrokerConfig;
use crate::error::BrokerError;

/// Milliseconds per tick of the voter's clock.
const TICK_MS: u64 = 50;
/// Ticks between a leader's heartbeats.
const HEARTBEAT_TICKS: usize = 3;

/// The Raft id of a node.
pub fn raft_id(node_id: i32) -> u64 {
    u64::try_from(node_id).unwrap_or(0) + 1
}

/// The node id of a Raft id.
pub fn node_id(raft_id: u64) -> i32 {
    i32::try_from(raft_id.saturating_sub(1)).unwrap_or(-1)
}

/// This node's voter, its channel and its connections to the others.
#[derive(Debug)]
pub struct Quorum {
    log: QuorumLog,
    /// Stops the driver thread when taken (shutdown).
    driver: Mutex<Option<QuorumDriver>>,
    channel: channel::Channel,
    /// Kept so the peer threads live as long as the voter.
    _transport: Arc<transport::TcpTransport>,
    /// What commits, for the broker's applier (taken once).
    committed: Mutex<Option<Receiver<Committed>>>,
}

impl Quorum {
    /// Opens the voter in `dir` for `config` and binds its controller channel. Returns what
    /// was committed on disk, to replay before anything else.
    pub fn open(
        config: &BrokerConfig,
        dir: &Path,
        cluster_id: &str,
    ) -> Result<(Quorum, Replay), BrokerError> {
        let me = raft_id(config.node_id);
        let (host, port) = config
            .controller_bind
            .clone()
            .ok_or_else(|| BrokerError::Startup("no controller channel address".into()))?;
        let log_cell = Arc::new(OnceLock::new());
        let channel = channel::Channel::bind(&host, port, me, cluster_id, log_cell.clone())?;
        let peers = config
            .voters
            .iter()
            .filter(|v| v.id != config.node_id)
            .map(|v| (raft_id(v.id), format!("{}:{}", v.host, v.port)))
            .collect();
        let transport = Arc::new(transport::TcpTransport::start(
            me,
            cluster_id,
            peers,
            log_cell.clone(),
        ));
        let election_ticks =
            (config.quorum_election_timeout_ms / TICK_MS).max(HEARTBEAT_TICKS as u64 + 2);
        let quorum_config = QuorumConfig {
            raft: RaftConfig {
                id: me,
                voters: config.voters.iter().map(|v| raft_id(v.id)).collect(),
                election_ticks: election_ticks as usize,
                election_ticks_spread: election_ticks as usize,
                heartbeat_ticks: HEARTBEAT_TICKS,
            },
            tick_ms: TICK_MS,
            commit_timeout_ms: config.quorum_request_timeout_ms,
            snapshot_bytes_min: config.metadata_snapshot_bytes_min,
        };
        let (tx, rx) = mpsc::channel();
        let (log, replay, driver) = QuorumLog::open(dir, quorum_config, transport.clone(), tx)?;
        let _ = log_cell.set(log.clone());
        tracing::info!(
            controller.channel = %channel.local_addr(),
            voters = ?config.voters.iter().map(|v| v.id).collect::<Vec<_>>(),
            "metadata quorum voter started"
        );
        Ok((
            Quorum {
                log,
                driver: Mutex::new(Some(driver)),
                channel,
                _transport: transport,
                committed: Mutex::new(Some(rx)),
            },
            replay,
        ))
    }

    /// The voter's log (clones share it).
    pub fn log(&self) -> QuorumLog {
        self.log.clone()
    }

    /// What the voter knows of the quorum.
    pub fn status(&self) -> QuorumStatus {
        self.log.status()
    }

    /// The node id of the quorum's leader, if known.
    pub fn leader_node(&self) -> Option<i32> {
        self.log.status().leader.map(node_id)
    }

    /// The committed batches, in order; `None` after the first call.
    pub fn take_committed(&self) -> Option<Receiver<Committed>> {
        self.committed.lock().expect("quorum lock poisoned").take()
    }

    /// Stops the voter: no more ticks, messages or commits.
    pub fn stop(&self) {
        self.channel.stop();
        drop(self.driver.lock().expect("quorum lock poisoned").take());
    }
}
