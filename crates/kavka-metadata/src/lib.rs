//! kavka-metadata: cluster metadata as a log of records, replayed into an in-memory image.
//!
//! Place in the crate graph: depends on nothing in the workspace (only `bytes`, `crc32c`,
//! `uuid`, `thiserror`, `tracing`). `kavka-quorum` stores and replicates the log;
//! `kavka-broker` decides changes (the controller) and applies them (the image and the replica
//! manager). Apart from `meta.properties`, nothing here does I/O.
//!
//! Design, after Kafka's KRaft controller (`MetadataRecord` types, `MetadataImage`,
//! `MetadataDelta`, snapshots):
//!
//! ```text
//!   controller ──► records ──► MetadataLog::append ──► committed MetadataBatch (offset, epoch)
//!   every node ──► MetadataImage::apply(batch) ──► MetadataDelta ──► replica manager
//!   restart    ──► snapshot + batches after it ──► the same image as before the restart
//! ```
//!
//! State changes *only* by applying records, so live operation and recovery share one code path
//! and an image rebuilt from the log equals (`PartialEq`) the one that was live.
//!
//! - [`records`]: the record types and their compact binary encoding (type id + version + body).
//! - [`image`]: [`MetadataImage`], the replayed state, and the rules that reject inconsistent
//!   records ([`ReplayError`]).
//! - [`batch`]: [`MetadataBatch`], one log entry (offset, epoch, records), and its CRC frame.
//! - [`snapshot`]: the image at an offset as bytes, so a log can drop its prefix.
//! - [`delta`]: [`MetadataDelta`], what a batch changed, for the node that applies it.
//! - [`log`]: [`MetadataLog`], the contract between the controller and the appliers.
//! - [`meta_properties`]: Kafka's `meta.properties` (cluster id, node id, directory id).
//! - [`kafka_uuid`]: Kafka's 22-character base64url form of a UUID (topic ids, cluster ids).

pub mod batch;
pub mod delta;
pub mod error;
pub mod image;
pub mod kafka_uuid;
pub mod log;
pub mod meta_properties;
pub mod records;
pub mod snapshot;

pub mod fsutil;
mod wire;

#[cfg(test)]
mod test_support;

pub use batch::MetadataBatch;
pub use delta::{MetadataDelta, PartitionChange};
pub use error::MetadataError;
pub use image::{ConfigMap, MetadataImage, PartitionImage, ReplayError, TopicImage};
pub use kafka_uuid::{
    kafka_uuid_from_str, kafka_uuid_to_string, random_kafka_uuid, topic_id_to_string,
};
pub use log::{ImageSnapshot, MetadataLog, Replay};
pub use meta_properties::MetaProperties;
pub use records::{
    BrokerEndpointRecord, BrokerFencingRecord, ConfigRecord, ConfigResourceType, DecodeError,
    MetadataRecord, PartitionRecord, ProducerIdsRecord, RegisterBrokerRecord, RemoveTopicRecord,
    TopicRecord,
};
pub use snapshot::{decode_snapshot, encode_snapshot, SnapshotError};
