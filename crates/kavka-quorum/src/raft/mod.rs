//! The metadata quorum: the controllers replicate the metadata log with Raft.
//!
//! Consensus is TiKV's `raft` crate (raft-rs): a pure state machine (tick, step, ready) with no
//! threads, timers or sockets of its own, which is what lets a seeded simulation drive a whole
//! quorum deterministically (tests/raft_sim.rs). This module gives it Kavka's storage
//! ([`RaftStore`]: the journal, snapshot files and the hard state file) and a ready loop
//! ([`RaftNode`]) that keeps the durability order, and [`QuorumLog`], the `MetadataLog` a broker
//! uses: a driver thread with the voter's clock, a transport for its messages, and the
//! committed batches handed to the node's applier in order.

mod hard_state;
mod node;
pub mod observer_wire;
mod quorum_log;
mod store;
pub mod wire;

pub use hard_state::HARD_STATE_FILE_NAME;
pub use node::{Committed, Output, ProposeError, RaftConfig, RaftNode};
pub use quorum_log::{
    Delivery, QuorumConfig, QuorumDriver, QuorumLog, QuorumStatus, RaftTransport,
};
pub use raft::eraftpb::{Message, MessageType};

pub use store::RaftStore;
