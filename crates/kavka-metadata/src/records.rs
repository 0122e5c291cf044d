//! Metadata records: the only way metadata changes.
//!
//! Each record is a struct with a stable type id (Kafka's metadata `apiKey` for the same record,
//! so a Kafka engineer recognises them) and a version. Encoding, all big-endian:
//!
//! ```text
//! record = type_id u16 | version u16 | body
//! body   = the struct's fields in declaration order:
//!          i32 as 4 bytes, i64 as 8 bytes, uuid as 16 bytes, string as i32 length + UTF-8 (-1 = null),
//!          array of i32 as i32 count + elements, ConfigResourceType as u8 (Kafka's code).
//! ```
//!
//! The framing (length, CRC) belongs to the journal, not to the record. Decoding rejects unknown
//! types and versions, short input, bad lengths and trailing bytes with a [`DecodeError`]; it
//! never panics and never allocates more than the input could hold.

use bytes::BufMut;
use uuid::Uuid;

use crate::wire::{self, Reader};

/// Type ids of metadata records. The values are Kafka's metadata record api keys; those not
/// implemented yet are reserved here so that they keep their number when they are.
pub mod record_type {
    /// [`super::RegisterBrokerRecord`].
    pub const REGISTER_BROKER: u16 = 0;
    /// A broker's registration is removed (`UnregisterBrokerRecord`):
    /// [`super::MetadataRecord::UnregisterBroker`].
    pub const UNREGISTER_BROKER: u16 = 1;
    /// [`super::TopicRecord`].
    pub const TOPIC: u16 = 2;
    /// [`super::PartitionRecord`].
    pub const PARTITION: u16 = 3;
    /// [`super::ConfigRecord`].
    pub const CONFIG: u16 = 4;
    /// Reserved: a delta to a partition (`PartitionChangeRecord`).
    pub const PARTITION_CHANGE: u16 = 5;
    /// A broker is fenced (`FenceBrokerRecord`): [`super::MetadataRecord::FenceBroker`].
    pub const FENCE_BROKER: u16 = 7;
    /// A broker is unfenced (`UnfenceBrokerRecord`): [`super::MetadataRecord::UnfenceBroker`].
    pub const UNFENCE_BROKER: u16 = 8;
    /// [`super::RemoveTopicRecord`].
    pub const REMOVE_TOPIC: u16 = 9;
    /// Reserved: a finalized feature level (`FeatureLevelRecord`).
    pub const FEATURE_LEVEL: u16 = 12;
    /// [`super::ProducerIdsRecord`].
    pub const PRODUCER_IDS: u16 = 15;
}

/// A topic is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    /// The topic name; unique among live topics.
    pub name: String,
    /// The topic id; unique forever (a re-created topic gets a new one).
    pub topic_id: Uuid,
}

impl TopicRecord {
    /// Stable type id.
    pub const TYPE_ID: u16 = record_type::TOPIC;
    /// Current (and only) version.
    pub const VERSION: u16 = 0;
}

/// The full state of one partition: creates it or replaces its previous state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRecord {
    /// The topic the partition belongs to.
    pub topic_id: Uuid,
    /// Partition index, from 0.
    pub partition: i32,
    /// Broker ids of all replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// Broker ids of the in-sync replicas.
    pub isr: Vec<i32>,
    /// Broker id of the leader, `-1` for none.
    pub leader: i32,
    /// Bumped at every leader change; fences stale leaders.
    pub leader_epoch: i32,
    /// Bumped at every change of this partition's state.
    pub partition_epoch: i32,
    /// Replicas a reassignment in progress adds (among `replicas`; v1).
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment in progress removes (among `replicas`; v1).
    pub removing_replicas: Vec<i32>,
}

impl PartitionRecord {
    /// Stable type id.
    pub const TYPE_ID: u16 = record_type::PARTITION;
    /// Current version (v1 added the replicas a reassignment adds and removes; v0 still
    /// reads, with none).
    pub const VERSION: u16 = 1;

    /// The record that sets partition `partition` of `topic_id` to `state`.
    pub fn of(topic_id: Uuid, partition: i32, state: &crate::PartitionImage) -> PartitionRecord {
        PartitionRecord {
            topic_id,
            partition,
            replicas: state.replicas.clone(),
            isr: state.isr.clone(),
            leader: state.leader,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            adding_replicas: state.adding_replicas.clone(),
            removing_replicas: state.removing_replicas.clone(),
        }
    }
}

/// The kind of resource a config belongs to. Encoded as Kafka's `ConfigResource.Type` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigResourceType {
    /// A topic; the resource name is the topic name.
    Topic,
    /// A broker; the resource name is the broker id, or empty for the cluster-wide default.
    Broker,
}

impl ConfigResourceType {
    /// Kafka's code for the type (`ConfigResource.Type`): topic 2, broker 4.
    pub fn code(self) -> u8 {
        match self {
            ConfigResourceType::Topic => 2,
            ConfigResourceType::Broker => 4,
        }
    }

    /// The type for a Kafka code, `None` for codes not supported.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            2 => Some(ConfigResourceType::Topic),
            4 => Some(ConfigResourceType::Broker),
            _ => None,
        }
    }
}

/// One config key of one resource is set or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigRecord {
    /// The kind of resource.
    pub resource_type: ConfigResourceType,
    /// The resource: a topic name, a broker id, or empty for the cluster-wide broker default.
    pub resource_name: String,
    /// The config key, e.g. `retention.ms`.
    pub name: String,
    /// The new value; `None` deletes the key (back to the default).
    pub value: Option<String>,
}

impl ConfigRecord {
    /// Stable type id.
    pub const TYPE_ID: u16 = record_type::CONFIG;
    /// Current (and only) version.
    pub const VERSION: u16 = 0;
}

/// A topic is deleted, with its partitions and configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveTopicRecord {
    /// The topic to remove.
    pub topic_id: Uuid,
}

impl RemoveTopicRecord {
    /// Stable type id.
    pub const TYPE_ID: u16 = record_type::REMOVE_TOPIC;
    /// Current (and only) version.
    pub const VERSION: u16 = 0;
}

/// A block of producer ids is handed out: every id below `next_producer_id` is taken, by this
/// block or an earlier one, and is never given out again (Kafka's `ProducerIdsRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerIdsRecord {
    /// The broker the block was given to.
    pub broker_id: i32,
    /// That broker's epoch when it asked (-1 while brokers do not register).
    pub broker_epoch: i64,
    /// The first id of the next block: the end (exclusive) of this one.
    pub next_producer_id: i64,
}

impl ProducerIdsRecord {
    /// Stable type id.
    pub const TYPE_ID: u16 = record_type::PRODUCER_IDS;
    /// Current (and only) version.
    pub const VERSION: u16 = 0;
}

/// One advertised endpoint of a broker: a listener's name and where clients of that listener
/// are told to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpointRecord {
    /// The listener's name (`PLAINTEXT`, `INTERNAL`, ...).
    pub listener: String,
    /// The host clients are told.
    pub host: String,
    /// The port clients are told.
    pub port: i32,
}

/// A broker registers (or registers again after a restart, with a new incarnation): its
/// advertised endpoints, one per client listener, and rack (Kafka's `RegisterBrokerRecord`).
/// Version 0 held a single endpoint; it still decodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterBrokerRecord {
    /// The broker's node id.
    pub broker_id: i32,
    /// Random per process start: tells a restart from a duplicate registration.
    pub incarnation_id: Uuid,
    /// The metadata offset its registration was committed at, or -1 (set by the writer).
    pub broker_epoch: i64,
    /// Its endpoints, one per listener name.
    pub endpoints: Vec<BrokerEndpointRecord>,
    /// `broker.rack`.
    pub rack: Option<String>,
}

impl RegisterBrokerRecord {
    /// Stable type id.
    pub const TYPE_ID: u16 = record_type::REGISTER_BROKER;
    /// Current version (1: several endpoints).
    pub const VERSION: u16 = 1;

    /// The endpoint of listener `name`, if the broker has that listener.
    pub fn endpoint(&self, name: &str) -> Option<&BrokerEndpointRecord> {
        self.endpoints.iter().find(|e| e.listener == name)
    }
}

/// A registered broker is fenced (the controller stopped hearing from it: it leads nothing and
/// clients are not sent to it) or unfenced (heard again); Kafka's `FenceBrokerRecord` and
/// `UnfenceBrokerRecord`, which carry the same fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerFencingRecord {
    /// The broker's node id.
    pub broker_id: i32,
    /// Its broker epoch (-1 while registrations carry none).
    pub broker_epoch: i64,
}

impl BrokerFencingRecord {
    /// Current (and only) version of both records.
    pub const VERSION: u16 = 0;
}

/// Any metadata record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataRecord {
    /// See [`TopicRecord`].
    Topic(TopicRecord),
    /// See [`PartitionRecord`].
    Partition(PartitionRecord),
    /// See [`ConfigRecord`].
    Config(ConfigRecord),
    /// See [`RemoveTopicRecord`].
    RemoveTopic(RemoveTopicRecord),
    /// See [`ProducerIdsRecord`].
    ProducerIds(ProducerIdsRecord),
    /// See [`RegisterBrokerRecord`].
    RegisterBroker(RegisterBrokerRecord),
    /// `FenceBrokerRecord`, see [`BrokerFencingRecord`].
    FenceBroker(BrokerFencingRecord),
    /// `UnfenceBrokerRecord`, see [`BrokerFencingRecord`].
    UnfenceBroker(BrokerFencingRecord),
    /// `UnregisterBrokerRecord` (same fields as [`BrokerFencingRecord`]): the broker's
    /// registration is removed (UnregisterBroker, `kafka-cluster.sh unregister`).
    UnregisterBroker(BrokerFencingRecord),
}

/// Why bytes do not decode as a [`MetadataRecord`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends inside a field (or a length claims more than is left).
    #[error("record truncated in field {field}")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A length or count is negative (or null where null is not allowed).
    #[error("invalid length {len} for field {field}")]
    InvalidLength {
        /// The field being read.
        field: &'static str,
        /// The length read.
        len: i32,
    },
    /// A string is not UTF-8.
    #[error("field {field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// The type id is not one this build knows.
    #[error("unknown metadata record type {type_id}")]
    UnknownType {
        /// The type id read.
        type_id: u16,
    },
    /// The record type is known but not at this version.
    #[error("unsupported version {version} of metadata record type {type_id}")]
    UnsupportedVersion {
        /// The type id read.
        type_id: u16,
        /// The version read.
        version: u16,
    },
    /// A config resource type code that is not supported.
    #[error("unknown config resource type {code}")]
    InvalidConfigResourceType {
        /// The code read.
        code: u8,
    },
    /// Bytes are left after the last field.
    #[error("{bytes} trailing bytes after the record")]
    TrailingBytes {
        /// How many.
        bytes: usize,
    },
}

impl MetadataRecord {
    /// The record's type id (see [`record_type`]).
    pub fn type_id(&self) -> u16 {
        match self {
            MetadataRecord::Topic(_) => TopicRecord::TYPE_ID,
            MetadataRecord::Partition(_) => PartitionRecord::TYPE_ID,
            MetadataRecord::Config(_) => ConfigRecord::TYPE_ID,
            MetadataRecord::RemoveTopic(_) => RemoveTopicRecord::TYPE_ID,
            MetadataRecord::ProducerIds(_) => ProducerIdsRecord::TYPE_ID,
            MetadataRecord::RegisterBroker(_) => RegisterBrokerRecord::TYPE_ID,
            MetadataRecord::FenceBroker(_) => record_type::FENCE_BROKER,
            MetadataRecord::UnfenceBroker(_) => record_type::UNFENCE_BROKER,
            MetadataRecord::UnregisterBroker(_) => record_type::UNREGISTER_BROKER,
        }
    }

    /// The version the record is encoded at.
    pub fn version(&self) -> u16 {
        match self {
            MetadataRecord::Topic(_) => TopicRecord::VERSION,
            MetadataRecord::Partition(_) => PartitionRecord::VERSION,
            MetadataRecord::Config(_) => ConfigRecord::VERSION,
            MetadataRecord::RemoveTopic(_) => RemoveTopicRecord::VERSION,
            MetadataRecord::ProducerIds(_) => ProducerIdsRecord::VERSION,
            MetadataRecord::RegisterBroker(_) => RegisterBrokerRecord::VERSION,
            MetadataRecord::FenceBroker(_)
            | MetadataRecord::UnfenceBroker(_)
            | MetadataRecord::UnregisterBroker(_) => BrokerFencingRecord::VERSION,
        }
    }

    /// Appends the encoded record to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.put_u16(self.type_id());
        buf.put_u16(self.version());
        match self {
            MetadataRecord::Topic(r) => {
                wire::put_string(buf, &r.name);
                wire::put_uuid(buf, &r.topic_id);
            }
            MetadataRecord::Partition(r) => {
                wire::put_uuid(buf, &r.topic_id);
                buf.put_i32(r.partition);
                wire::put_i32_array(buf, &r.replicas);
                wire::put_i32_array(buf, &r.isr);
                buf.put_i32(r.leader);
                buf.put_i32(r.leader_epoch);
                buf.put_i32(r.partition_epoch);
                wire::put_i32_array(buf, &r.adding_replicas);
                wire::put_i32_array(buf, &r.removing_replicas);
            }
            MetadataRecord::Config(r) => {
                buf.put_u8(r.resource_type.code());
                wire::put_string(buf, &r.resource_name);
                wire::put_string(buf, &r.name);
                wire::put_nullable_string(buf, r.value.as_deref());
            }
            MetadataRecord::RemoveTopic(r) => wire::put_uuid(buf, &r.topic_id),
            MetadataRecord::ProducerIds(r) => {
                buf.put_i32(r.broker_id);
                buf.put_i64(r.broker_epoch);
                buf.put_i64(r.next_producer_id);
            }
            MetadataRecord::RegisterBroker(r) => {
                buf.put_i32(r.broker_id);
                wire::put_uuid(buf, &r.incarnation_id);
                buf.put_i64(r.broker_epoch);
                buf.put_i32(i32::try_from(r.endpoints.len()).unwrap_or(i32::MAX));
                for e in &r.endpoints {
                    wire::put_string(buf, &e.listener);
                    wire::put_string(buf, &e.host);
                    buf.put_i32(e.port);
                }
                wire::put_nullable_string(buf, r.rack.as_deref());
            }
            MetadataRecord::FenceBroker(r)
            | MetadataRecord::UnfenceBroker(r)
            | MetadataRecord::UnregisterBroker(r) => {
                buf.put_i32(r.broker_id);
                buf.put_i64(r.broker_epoch);
            }
        }
    }

    /// The encoded record.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode(&mut buf);
        buf
    }

    /// Decodes one record that fills `bytes` exactly.
    pub fn decode(bytes: &[u8]) -> Result<MetadataRecord, DecodeError> {
        let mut r = Reader::new(bytes);
        let type_id = r.u16("type_id")?;
        let version = r.u16("version")?;
        type DecodeBody = fn(&mut Reader<'_>) -> Result<MetadataRecord, DecodeError>;
        let (version_max, decode_body): (u16, DecodeBody) = match type_id {
            TopicRecord::TYPE_ID => (TopicRecord::VERSION, decode_topic),
            PartitionRecord::TYPE_ID => (PartitionRecord::VERSION, decode_partition),
            ConfigRecord::TYPE_ID => (ConfigRecord::VERSION, decode_config),
            RemoveTopicRecord::TYPE_ID => (RemoveTopicRecord::VERSION, decode_remove_topic),
            ProducerIdsRecord::TYPE_ID => (ProducerIdsRecord::VERSION, decode_producer_ids),
            RegisterBrokerRecord::TYPE_ID => (RegisterBrokerRecord::VERSION, decode_register),
            record_type::FENCE_BROKER => (BrokerFencingRecord::VERSION, decode_fence),
            record_type::UNFENCE_BROKER => (BrokerFencingRecord::VERSION, decode_unfence),
            record_type::UNREGISTER_BROKER => (BrokerFencingRecord::VERSION, decode_unregister),
            _ => return Err(DecodeError::UnknownType { type_id }),
        };
        // The older versions still read: RegisterBroker v0 (one endpoint), Partition v0 (no
        // reassignment).
        let decode_body: DecodeBody = match (type_id, version) {
            (RegisterBrokerRecord::TYPE_ID, 0) => decode_register_v0,
            (PartitionRecord::TYPE_ID, 0) => decode_partition_v0,
            _ if version == version_max => decode_body,
            _ => return Err(DecodeError::UnsupportedVersion { type_id, version }),
        };
        let record = decode_body(&mut r)?;
        r.finish()?;
        Ok(record)
    }
}

fn decode_topic(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    Ok(MetadataRecord::Topic(TopicRecord {
        name: r.string("name")?,
        topic_id: r.uuid("topic_id")?,
    }))
}

fn decode_partition_v0(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    Ok(MetadataRecord::Partition(PartitionRecord {
        topic_id: r.uuid("topic_id")?,
        partition: r.i32("partition")?,
        replicas: r.i32_array("replicas")?,
        isr: r.i32_array("isr")?,
        leader: r.i32("leader")?,
        leader_epoch: r.i32("leader_epoch")?,
        partition_epoch: r.i32("partition_epoch")?,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }))
}

fn decode_partition(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    let MetadataRecord::Partition(mut p) = decode_partition_v0(r)? else {
        unreachable!("decode_partition_v0 decodes a partition record")
    };
    p.adding_replicas = r.i32_array("adding_replicas")?;
    p.removing_replicas = r.i32_array("removing_replicas")?;
    Ok(MetadataRecord::Partition(p))
}

fn decode_config(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    let code = r.u8("resource_type")?;
    let resource_type = ConfigResourceType::from_code(code)
        .ok_or(DecodeError::InvalidConfigResourceType { code })?;
    Ok(MetadataRecord::Config(ConfigRecord {
        resource_type,
        resource_name: r.string("resource_name")?,
        name: r.string("name")?,
        value: r.nullable_string("value")?,
    }))
}

fn decode_remove_topic(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    Ok(MetadataRecord::RemoveTopic(RemoveTopicRecord {
        topic_id: r.uuid("topic_id")?,
    }))
}

fn decode_producer_ids(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    Ok(MetadataRecord::ProducerIds(ProducerIdsRecord {
        broker_id: r.i32("broker_id")?,
        broker_epoch: r.i64("broker_epoch")?,
        next_producer_id: r.i64("next_producer_id")?,
    }))
}

fn decode_endpoint(r: &mut Reader<'_>) -> Result<BrokerEndpointRecord, DecodeError> {
    Ok(BrokerEndpointRecord {
        listener: r.string("listener")?,
        host: r.string("host")?,
        port: r.i32("port")?,
    })
}

/// Version 0: one endpoint.
fn decode_register_v0(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    Ok(MetadataRecord::RegisterBroker(RegisterBrokerRecord {
        broker_id: r.i32("broker_id")?,
        incarnation_id: r.uuid("incarnation_id")?,
        broker_epoch: r.i64("broker_epoch")?,
        endpoints: vec![decode_endpoint(r)?],
        rack: r.nullable_string("rack")?,
    }))
}

fn decode_register(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    let broker_id = r.i32("broker_id")?;
    let incarnation_id = r.uuid("incarnation_id")?;
    let broker_epoch = r.i64("broker_epoch")?;
    let count = r.i32("endpoints")?;
    // Each endpoint takes at least 10 bytes: a count beyond what is left is refused before
    // anything is allocated.
    let count = usize::try_from(count)
        .ok()
        .filter(|&c| c <= r.remaining() / 10)
        .ok_or(DecodeError::InvalidLength {
            field: "endpoints",
            len: count,
        })?;
    let endpoints = (0..count)
        .map(|_| decode_endpoint(r))
        .collect::<Result<_, _>>()?;
    Ok(MetadataRecord::RegisterBroker(RegisterBrokerRecord {
        broker_id,
        incarnation_id,
        broker_epoch,
        endpoints,
        rack: r.nullable_string("rack")?,
    }))
}

fn decode_fencing(r: &mut Reader<'_>) -> Result<BrokerFencingRecord, DecodeError> {
    Ok(BrokerFencingRecord {
        broker_id: r.i32("broker_id")?,
        broker_epoch: r.i64("broker_epoch")?,
    })
}

fn decode_fence(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    decode_fencing(r).map(MetadataRecord::FenceBroker)
}

fn decode_unfence(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    decode_fencing(r).map(MetadataRecord::UnfenceBroker)
}

fn decode_unregister(r: &mut Reader<'_>) -> Result<MetadataRecord, DecodeError> {
    decode_fencing(r).map(MetadataRecord::UnregisterBroker)
}

impl From<ProducerIdsRecord> for MetadataRecord {
    fn from(r: ProducerIdsRecord) -> Self {
        MetadataRecord::ProducerIds(r)
    }
}

impl From<TopicRecord> for MetadataRecord {
    fn from(r: TopicRecord) -> Self {
        MetadataRecord::Topic(r)
    }
}

impl From<PartitionRecord> for MetadataRecord {
    fn from(r: PartitionRecord) -> Self {
        MetadataRecord::Partition(r)
    }
}

impl From<ConfigRecord> for MetadataRecord {
    fn from(r: ConfigRecord) -> Self {
        MetadataRecord::Config(r)
    }
}

impl From<RemoveTopicRecord> for MetadataRecord {
    fn from(r: RemoveTopicRecord) -> Self {
        MetadataRecord::RemoveTopic(r)
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;
