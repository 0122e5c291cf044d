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
mod quorum_log;
mod store;

pub use hard_state::HARD_STATE_FILE_NAME;
pub use node::{Committed, Output, ProposeError, RaftConfig, RaftNode};
pub use quorum_log::{QuorumConfig, QuorumDriver, QuorumLog, QuorumStatus, RaftTransport};
pub use raft::eraftpb::Message;

/// Encodes a Raft message for the wire (protobuf, raft-rs's own encoding).
pub fn encode_message(message: &Message) -> Vec<u8> {
    use protobuf::Message as _;
    message.write_to_bytes().unwrap_or_default()
}

/// Decodes a Raft message from the wire; `None` for bytes that are not one.
pub fn decode_message(bytes: &[u8]) -> Option<Message> {
    use protobuf::Message as _;
    Message::parse_from_bytes(bytes).ok()
}
pub use store::RaftStore;
