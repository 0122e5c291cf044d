//! The group coordinator for the classic rebalance protocol (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup) and committed offsets.
//!
//! The coordinator is split in shards, one per `__consumer_offsets` partition: a group lives in
//! the shard its id hashes to ([`partition_for`]), and a shard changes only through its
//! operations and [`GroupShard::replay`]. An operation returns [`Effects`]: records to append to
//! the shard's partition and replies to requests that were waiting (a JoinGroup waits until the
//! rebalance completes, a follower's SyncGroup until the leader sends the assignment). The
//! caller appends the records, replays them, then delivers the replies — so every reply that
//! depends on a record is sent only once the record is in the log.
//!
//! What is durable, and changes only by replay: committed offsets, and the outcome of each
//! rebalance (generation, protocol, leader, members and their assignments — Kafka's
//! GroupMetadata record). What is not: the progress of a rebalance in flight (who has rejoined,
//! who awaits a SyncGroup) and the session deadlines; after a restart groups come back Stable
//! with their last assignment and members that no longer heartbeat expire.
//!
//! Time is passed in (`now_ms`) and deadlines are handled by [`GroupShard::tick`], so tests
//! drive the clock.

mod admin;
pub mod api;
mod classic;
mod join;
mod membership;
mod offsets;
mod rebalance;
pub mod records;
mod shard;
mod txn_offsets;
pub(crate) mod wire;

pub use classic::GroupState;
pub use join::JoinOutcome;
pub use membership::SyncOutcome;
pub use shard::{Effects, GroupShard, Reply};

/// Broker settings of the group coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members.
    pub initial_rebalance_delay_ms: i64,
    /// `group.max.size`.
    pub group_size_max: usize,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_bytes_max: usize,
    /// `offsets.retention.minutes`, in ms.
    pub offsets_retention_ms: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            group_size_max: i32::MAX as usize,
            offset_metadata_bytes_max: 4096,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
        }
    }
}

/// The `__consumer_offsets` partition of a group: Java's `String.hashCode` of the id, made
/// non-negative as Kafka's `Utils.abs` does, modulo the partition count — so a group lands on
/// the same partition number as in Kafka.
pub fn partition_for(group_id: &str, partition_count: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in group_id.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    let non_negative = if h == i32::MIN { 0 } else { h.abs() };
    non_negative % partition_count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_matches_java_hash() {
        // "test-group".hashCode() == 627841412 in Java.
        assert_eq!(partition_for("test-group", 50), 12);
        // A negative hash: "polygenelubricants".hashCode() == Integer.MIN_VALUE maps to 0.
        assert_eq!(partition_for("polygenelubricants", 50), 0);
        assert_eq!(partition_for("", 50), 0);
        assert_eq!(partition_for("a", 50), 97 % 50);
    }
}

#[cfg(test)]
#[path = "shard_tests.rs"]
mod shard_tests;
