//! kavka-broker: the network layer and the node's roles.
//!
//! Place in the crate graph: above kavka-protocol (wire format), kavka-storage (partition logs)
//! and kavka-metadata (metadata records, image, log); below the `kavka` binary.
//!
//! - [`server`]: listener, connection tasks, background flush, ordered shutdown.
//! - [`connection`]: framing and the request loop of one client connection.
//! - [`handlers`]: one file per API and the table of served versions.
//! - [`broker`]: shared node state; metadata changes are committed as records and published.
//! - [`controller`]: checks topic changes and answers with the records that make them.
//! - [`coordinator_runtime`]: runs a coordinator state machine per partition of its internal
//!   topic (append, replay, answer; timers; loading).
//! - [`group_coordinator`]: the group coordinator on that runtime, over `__consumer_offsets`.
//! - [`txn_coordinator`]: the transaction coordinator on that runtime, over
//!   `__transaction_state`, and the marker writer.
//! - [`fetch_session`]: fetch sessions (KIP-227), so that a fetcher of many partitions names
//!   and hears of only those that changed.
//! - [`replica_manager`] / [`purgatory`]: hosted partitions, and delayed fetches waiting on the
//!   partitions they read.
//! - [`retention`] / [`cleaner`]: background deletion of old segments and log compaction.
//! - [`replica_fetcher`]: followers copying their leaders' logs; ISR changes in `broker/isr.rs`.
//! - [`forward`]: controller requests a non-leader passes on to the quorum's leader.
//! - [`quorum`]: this node as a voter of a metadata quorum of several controllers: the
//!   controller channel (TCP) and the voter's log.
//! - [`producer_ids`]: producer id blocks in the metadata log, handed out by InitProducerId.
//! - [`log_manager`]: data directories, `meta.properties`, the clean-shutdown marker.
//! - [`config`] / [`topic_config`]: broker and topic configuration in Kafka's words.

pub mod active_controller;
pub mod broker;
pub mod cleaner;
pub mod config;
pub mod connection;
pub mod controller;
pub mod coordinator_runtime;
pub mod error;
pub mod fetch_session;
pub mod forward;
pub mod group_coordinator;
pub mod handlers;
pub mod log_manager;
pub mod observe;
pub mod producer_ids;
pub mod purgatory;
pub mod quorum;
pub mod replica_fetcher;
pub mod replica_manager;
pub mod retention;
pub mod server;
pub mod storage_tool;
pub mod topic_config;
pub mod txn_coordinator;

pub use config::BrokerConfig;
pub use error::BrokerError;
pub use server::{start, RunningBroker};
