//! This node in a metadata quorum of several controllers: a voter
//! (`controller.quorum.voters` naming this node among several, or a controller-only node) or
//! an observer (a broker-only node).
//!
//! [`Quorum::open`] opens a voter's [`QuorumLog`] in the metadata directory, binds the
//! controller channel ([`channel`]: the inbound connections of the other voters, of observers,
//! and of brokers' controller requests) and connects out to each other voter ([`transport`]).
//! [`Quorum::open_observer`] opens an [`ObserverLog`] and its fetch thread ([`observer`]). The
//! broker writes through the log when this node leads and applies what it hands over, in
//! order, whoever wrote it.
//!
//! Raft ids are node ids plus one: Kafka allows node id 0, raft-rs reserves id 0 for "none".

pub mod channel;
pub mod observer;
pub mod transport;

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};

use kavka_metadata::{MetadataError, MetadataImage, MetadataLog, Replay};
use kavka_quorum::raft::observer_wire::{ObserverRequest, ObserverResponse};
use kavka_quorum::raft::{
    Committed, QuorumConfig, QuorumDriver, QuorumLog, QuorumStatus, RaftConfig,
};
use kavka_quorum::ObserverLog;

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

/// How this node takes part.
#[derive(Debug)]
enum Part {
    Voter {
        log: QuorumLog,
        /// Stops the driver thread when taken (shutdown).
        driver: Mutex<Option<QuorumDriver>>,
        channel: channel::Channel,
        /// Kept so the peer threads live as long as the voter.
        _transport: Arc<transport::TcpTransport>,
        /// Each voter's controller address by node id.
        voters: HashMap<i32, String>,
    },
    Observer(observer::Observer),
}

/// This node's part in the quorum.
#[derive(Debug)]
pub struct Quorum {
    part: Part,
    /// This node's hello for a question to the leader's controller listener.
    hello: Vec<u8>,
    /// What commits, for the broker's applier (taken once).
    committed: Mutex<Option<Receiver<Committed>>>,
}

fn voter_addresses(config: &BrokerConfig) -> HashMap<u64, String> {
    config
        .voters
        .iter()
        .map(|v| (raft_id(v.id), v.address()))
        .collect()
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
        let channel = channel::Channel::bind(
            &host,
            port,
            me,
            cluster_id,
            voter_addresses(config),
            log_cell.clone(),
        )?;
        let peers = config
            .voters
            .iter()
            .filter(|v| v.id != config.node_id)
            .map(|v| (raft_id(v.id), v.address()))
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
        let part = Part::Voter {
            log,
            driver: Mutex::new(Some(driver)),
            channel,
            _transport: transport,
            voters: config.voters.iter().map(|v| (v.id, v.address())).collect(),
        };
        Ok((
            Quorum {
                part,
                hello: observer::observer_hello(me, cluster_id),
                committed: Mutex::new(Some(rx)),
            },
            replay,
        ))
    }

    /// Opens this broker-only node's copy of the metadata log in `dir` and starts fetching
    /// from the controllers. Returns what the copy holds, to replay first.
    pub fn open_observer(
        config: &BrokerConfig,
        dir: &Path,
        cluster_id: &str,
    ) -> Result<(Quorum, Replay), BrokerError> {
        let (log, replay) = ObserverLog::open(dir, config.metadata_snapshot_bytes_min)?;
        let (tx, rx) = mpsc::channel();
        let bootstrap = config
            .quorum_bootstrap
            .iter()
            .map(|(h, p)| crate::config::host_port(h, *p))
            .collect();
        let observer = observer::Observer::start(
            raft_id(config.node_id),
            cluster_id,
            voter_addresses(config),
            bootstrap,
            log,
            tx,
        )
        .map_err(|e| BrokerError::Startup(format!("metadata fetch thread: {e}")))?;
        tracing::info!(
            controllers = ?config.voters.iter().map(|v| v.id).collect::<Vec<_>>(),
            "metadata quorum observer started"
        );
        Ok((
            Quorum {
                part: Part::Observer(observer),
                hello: observer::observer_hello(raft_id(config.node_id), cluster_id),
                committed: Mutex::new(Some(rx)),
            },
            replay,
        ))
    }

    /// The metadata log the broker's controller writes through.
    pub fn metadata_log(&self) -> Box<dyn MetadataLog> {
        match &self.part {
            Part::Voter { log, .. } => Box::new(log.clone()),
            Part::Observer(o) => Box::new(o.log()),
        }
    }

    /// Tells the log the broker applied everything up to `offset` (it may snapshot).
    pub fn applied(&self, offset: u64, image: &MetadataImage) -> Result<(), MetadataError> {
        self.metadata_log().applied(offset, image)
    }

    /// What this node knows of the quorum.
    pub fn status(&self) -> QuorumStatus {
        match &self.part {
            Part::Voter { log, .. } => log.status(),
            Part::Observer(o) => o.status(),
        }
    }

    /// The committed offset this node's image must reach before the node serves what the
    /// image says it leads: the leader's commit index at the first fetch for an observer, and
    /// for a voter its own commit index once it leads its term, else the leader's as the
    /// leader answers it (blocking). `None` until it is known.
    pub fn catch_up_target(&self, me: i32) -> Option<u64> {
        let log = match &self.part {
            Part::Observer(o) => return o.first_commit(),
            Part::Voter { log, .. } => log,
        };
        let status = log.status();
        if status.leader == Some(raft_id(me)) {
            return MetadataLog::writable(log).ok().map(|_| status.commit);
        }
        let address = self.controller_address(me)?;
        match observer::ask_once(&address, &self.hello, &ObserverRequest::Position) {
            Ok(ObserverResponse::Fetched { commit, .. }) => Some(commit),
            _ => None,
        }
    }

    /// The node id of the quorum's leader, if known.
    pub fn leader_node(&self) -> Option<i32> {
        self.status().leader.map(node_id)
    }

    /// The controller address of the quorum's leader when another node leads: where this
    /// node sends controller requests (in the Kafka protocol, on the leader's controller
    /// listener).
    pub fn controller_address(&self, me: i32) -> Option<String> {
        match &self.part {
            Part::Voter { log, voters, .. } => {
                let leader = log.status().leader.map(node_id)?;
                (leader != me)
                    .then(|| voters.get(&leader).cloned())
                    .flatten()
            }
            Part::Observer(o) => o.leader().map(|(_, address)| address),
        }
    }

    /// How long ago voter or observer `raft_id` was last heard from (on a voter; `None` on an
    /// observer, which hears from nobody but the leader).
    pub fn heard_from(&self, raft_id: u64) -> Option<std::time::Duration> {
        match &self.part {
            Part::Voter { log, .. } => log.heard_from(raft_id),
            Part::Observer(_) => None,
        }
    }

    /// Sets what serves Kafka-protocol connections on the controller listener (a voter's).
    pub fn set_kafka(&self, handoff: channel::KafkaHandoff) {
        if let Part::Voter { channel, .. } = &self.part {
            channel.set_kafka(handoff);
        }
    }

    /// The controller listener's bound address (a voter's).
    pub fn controller_listener(&self) -> Option<std::net::SocketAddr> {
        match &self.part {
            Part::Voter { channel, .. } => Some(channel.local_addr()),
            Part::Observer(_) => None,
        }
    }

    /// The committed batches, in order; `None` after the first call.
    pub fn take_committed(&self) -> Option<Receiver<Committed>> {
        self.committed.lock().expect("quorum lock poisoned").take()
    }

    /// Stops the voter or observer: no more ticks, messages, fetches or commits.
    pub fn stop(&self) {
        match &self.part {
            Part::Voter {
                channel, driver, ..
            } => {
                channel.stop();
                drop(driver.lock().expect("quorum lock poisoned").take());
            }
            Part::Observer(o) => o.stop(),
        }
    }
}
