//! kavka-client: a Kafka client library (admin, producer, consumer with classic consumer
//! groups), speaking the protocol through kavka-protocol.
//!
//! Place in the crate graph: above kavka-protocol only; it never touches the broker's crates,
//! and it works with any Kafka broker speaking the versions it knows.
//!
//! - [`Client`] ([`client`], [`cluster`], [`connection`]): bootstrap, a pool of connections per
//!   broker (ApiVersions on each new one; per API the highest version both sides support),
//!   the metadata cache, request routing to partition leaders and group coordinators.
//! - [`Admin`] ([`admin`]): topics, configs, offsets, records, cluster and groups.
//! - [`Producer`] ([`producer`], [`partitioner`]): batching by size and linger, compression,
//!   murmur2 key partitioning identical to the Java client's, acks, retries.
//! - [`Consumer`] ([`consumer`], [`group`], [`assignor`], [`consumer_protocol`]): assign, seek,
//!   fetch, and classic group membership with the range and roundrobin assignors.
//! - [`ClientError`] / [`KafkaError`] ([`error`]): typed errors naming the Kafka error.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kavka_client::ClientError> {
//! use kavka_client::*;
//! let client = Client::connect(ClientConfig {
//!     bootstrap_servers: vec!["localhost:9092".into()],
//!     ..ClientConfig::default()
//! })
//! .await?;
//! Admin::new(client.clone()).create_topic("events", 3, -1, &[], false).await?;
//! let producer = Producer::new(client.clone(), ProducerConfig::default()).await?;
//! let delivery = producer
//!     .send(ProducerRecord::new("events", Some("key".into()), Some("value".into())))
//!     .await?;
//! println!("written at offset {}", delivery.await?.offset);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod admin;
pub mod assignor;
pub mod client;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod consumer;
pub mod consumer_protocol;
mod coordinator;
pub mod error;
pub mod group;
mod offsets;
pub mod partitioner;
mod pool;
pub mod producer;
mod routing;
mod wire;

pub use admin::{
    Admin, AlterConfigOp, AlterOpType, ClusterDescription, ConfigEntry, ConfigResource,
    ConfigSource, DeletedRecords, GroupDescription, GroupListing, GroupOffset, ListedOffset,
    MemberDescription, OffsetSpec, ProducerState, TransactionDescription, TransactionListing,
};
pub use assignor::AssignorKind;
pub use client::Client;
pub use cluster::{BrokerInfo, ClusterMetadata, PartitionMetadata, TopicMetadata};
pub use config::{ClientConfig, ConsumerConfig, IsolationLevel, OffsetReset, ProducerConfig};
pub use connection::{ApiVersionRange, Connection, RESPONSE_BYTES_MAX};
pub use consumer::{Consumer, ConsumerRecord, TimestampType};
pub use error::{ClientError, KafkaError};
pub use kavka_protocol::batch::Compression;
pub use kavka_protocol::ErrorCode;
pub use partitioner::{murmur2, partition_for_key};
pub use producer::{DeliveryFuture, Producer, ProducerRecord, RecordMetadata};
