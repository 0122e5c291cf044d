//! kavka-metadata: cluster metadata as a log of records, replayed into an in-memory image.
//!
//! Place in the crate graph: depends on nothing in the workspace (only `bytes`, `crc32c`,
//! `uuid`, `thiserror`, `tracing`). The broker sits on top of it. Today the log is a local file;
//! later a Raft quorum will replicate the same records (Kafka's `__cluster_metadata` log) and
//! this crate will see the log through a trait, never through `kavka-storage`.
//!
//! Design, after Kafka's KRaft controller (`MetadataRecord` types, `MetadataImage`):
//!
//! ```text
//!   operation ──► records ──► MetadataImage::apply (on a clone) ──► journal append + fsync
//!                                                                   └─► swap in new image
//!   restart   ──► journal replay ──► MetadataImage::apply ──► same image as before the restart
//! ```
//!
//! State changes *only* by applying records, so live operation and recovery share one code path
//! and an image rebuilt from the journal equals (`PartialEq`) the one that was live.
//!
//! - [`records`]: the record types and their compact binary encoding (type id + version + body).
//! - [`image`]: [`MetadataImage`], the replayed state, and the rules that reject inconsistent
//!   records ([`ReplayError`]).
//! - [`journal`]: [`MetadataJournal`], the append-only CRC-framed file; truncates a torn tail.
//! - [`store`]: [`MetadataStore`] = journal + image, with all-or-nothing [`MetadataStore::commit`].
//! - [`meta_properties`]: Kafka's `meta.properties` (cluster id, node id, directory id).
//! - [`kafka_uuid`]: Kafka's 22-character base64url form of a UUID (topic ids, cluster ids).

pub mod error;
pub mod image;
pub mod journal;
pub mod kafka_uuid;
pub mod meta_properties;
pub mod records;
pub mod store;

mod fsutil;
mod wire;

#[cfg(test)]
mod test_support;

pub use error::MetadataError;
pub use image::{ConfigMap, MetadataImage, PartitionImage, ReplayError, TopicImage};
pub use journal::MetadataJournal;
pub use kafka_uuid::{
    kafka_uuid_from_str, kafka_uuid_to_string, random_kafka_uuid, topic_id_to_string,
};
pub use meta_properties::MetaProperties;
pub use records::{
    ConfigRecord, ConfigResourceType, DecodeError, MetadataRecord, PartitionRecord,
    ProducerIdsRecord, RemoveTopicRecord, TopicRecord,
};
pub use store::MetadataStore;
