//! Coordinators: the group coordinator (classic rebalance protocol and committed offsets), and
//! the traits every coordinator offers the broker's one coordinator runtime ([`runtime`]).
//!
//! Sits above `kavka-protocol`'s error codes only: no tokio, no files, no sockets. Each
//! coordinator is a state machine: an operation returns the records to append to its internal
//! topic plus a response, and the durable state (offsets, the outcome of each rebalance)
//! changes only by replaying those records. The broker appends the records to
//! `__consumer_offsets` and replays them; at start-up it replays the whole partition, which
//! rebuilds the same state.

pub mod group;
pub mod runtime;
pub mod txn;
