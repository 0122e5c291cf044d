//! kavka-quorum: the metadata log on disk, and its replication among the controllers.
//!
//! Place in the crate graph: depends on `kavka-metadata` only; `kavka-broker` opens a
//! [`LocalLog`] and uses it through `kavka_metadata::MetadataLog`.
//!
//! - [`journal`]: [`Journal`], the append-only file of batches with offsets and epochs:
//!   torn-tail recovery, suffix truncation, prefix drop behind a snapshot.
//! - [`snapshots`]: `<offset>-<epoch>.checkpoint` files of the image.
//! - [`local`]: [`LocalLog`], the log of a single voter (committed once durable), with
//!   snapshots every `metadata.log.max.record.bytes.between.snapshots` bytes.
//! - [`raft`]: a voter of the Raft quorum over TiKV's `raft` crate: [`raft::RaftStore`]
//!   (journal, snapshot files and `quorum-state` as `raft::Storage`) and [`raft::RaftNode`]
//!   (tick, step, propose, and the ready loop with its durability order), checked by a seeded
//!   simulation (`tests/raft_sim.rs`), and [`raft::QuorumLog`], the `MetadataLog` of a voter
//!   among several that the broker opens when `controller.quorum.voters` names several.
//! - [`observer`]: [`ObserverLog`], a broker-only node's durable copy of the committed log
//!   it pulls from the leader (KRaft's observer; [`raft::observer_wire`] is what they say).
//! - `legacy`: the one-time conversion of the journal format without offsets.

pub mod journal;
pub mod local;
pub mod observer;
pub mod raft;
pub mod snapshots;

mod legacy;

pub use journal::Journal;
pub use legacy::LEGACY_FILE_NAME;
pub use local::{LocalLog, SNAPSHOT_BYTES_MIN_DEFAULT};
pub use observer::ObserverLog;

#[cfg(test)]
mod test_support;
