//! Cluster metadata: brokers, topics, partitions and their leaders, as Metadata answers them,
//! and the cache the client routes requests by.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::metadata_request::MetadataRequestTopic;
use kavka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};
use kavka_protocol::request::Request;
use uuid::Uuid;

use crate::error::{ClientError, KafkaError};

/// A broker of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// Rack, when configured.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A Metadata answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Cluster id (Metadata v2+).
    pub cluster_id: Option<String>,
    /// The controller's node id (-1 when unknown).
    pub controller_id: i32,
    /// The live brokers, by node id.
    pub brokers: Vec<BrokerInfo>,
    /// The topics asked for (all topics when none were named), in the broker's order.
    pub topics: Vec<TopicMetadata>,
}

impl ClusterMetadata {
    /// The topic named `name`, if the answer has it.
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.iter().find(|t| t.name == name)
    }
}

/// A topic's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id (Metadata v10+; the nil UUID before). `uuid::Uuid` displays in hyphenated
    /// form; Kafka's tools print it in URL-safe base64 (`TopicId: ...`).
    pub topic_id: Uuid,
    /// Whether it is an internal topic (`__consumer_offsets`).
    pub is_internal: bool,
    /// The topic's error (UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist).
    pub error: Option<KafkaError>,
    /// Partitions, by index.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    /// The topic id as Kafka prints it (`kafka-topics.sh --describe`): URL-safe base64 of its
    /// 16 bytes, without padding.
    pub fn topic_id_string(&self) -> String {
        kafka_uuid_string(&self.topic_id)
    }
}

/// A UUID as Kafka's `Uuid.toString()` writes it: URL-safe base64, no padding (22 characters).
pub fn kafka_uuid_string(id: &Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out
}

/// A partition's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Leader's node id (-1 when none).
    pub leader: i32,
    /// Leader epoch (-1 before Metadata v7).
    pub leader_epoch: i32,
    /// Replica node ids.
    pub replicas: Vec<i32>,
    /// In-sync replica node ids.
    pub isr: Vec<i32>,
    /// Offline replica node ids.
    pub offline_replicas: Vec<i32>,
    /// The partition's error, e.g. LEADER_NOT_AVAILABLE.
    pub error: Option<KafkaError>,
}

/// A Metadata request: `None` asks for every topic; auto-creation only when allowed (versions
/// before 4 cannot refuse it; v0 cannot ask for "no topic").
pub(crate) fn metadata_request(
    version: i16,
    topics: Option<&[String]>,
    allow_auto_topic_creation: bool,
) -> Request {
    let topics = match topics {
        None if version == 0 => Some(Vec::new()),
        None => None,
        Some(names) => Some(
            names
                .iter()
                .map(|n| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                })
                .collect(),
        ),
    };
    Request::Metadata(
        MetadataRequest::default()
            .with_topics(topics)
            .with_allow_auto_topic_creation(allow_auto_topic_creation || version < 4),
    )
}

/// Converts a Metadata response (a top-level error, v13, becomes `Err`).
pub(crate) fn from_response(r: MetadataResponse) -> Result<ClusterMetadata, ClientError> {
    KafkaError::check(r.error_code, None)?;
    let ids = |v: &[kavka_protocol::messages::BrokerId]| v.iter().map(|b| b.0).collect();
    let mut brokers: Vec<BrokerInfo> = r
        .brokers
        .iter()
        .map(|b| BrokerInfo {
            node_id: b.node_id.0,
            host: b.host.to_string(),
            port: b.port,
            rack: b.rack.as_ref().map(|r| r.to_string()),
        })
        .collect();
    brokers.sort_by_key(|b| b.node_id);
    let topics = r
        .topics
        .iter()
        .map(|t| {
            let mut partitions: Vec<PartitionMetadata> = t
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                    leader_epoch: p.leader_epoch,
                    replicas: ids(&p.replica_nodes),
                    isr: ids(&p.isr_nodes),
                    offline_replicas: ids(&p.offline_replicas),
                    error: KafkaError::from_wire(p.error_code, None),
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            TopicMetadata {
                name: t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                topic_id: t.topic_id,
                is_internal: t.is_internal,
                error: KafkaError::from_wire(t.error_code, None),
                partitions,
            }
        })
        .collect();
    Ok(ClusterMetadata {
        cluster_id: r.cluster_id.map(|c| c.to_string()),
        controller_id: r.controller_id.0,
        brokers,
        topics,
    })
}

/// What the client knows of the cluster.
#[derive(Debug, Default)]
pub(crate) struct MetadataCache {
    /// Brokers by node id, from the latest answer.
    pub(crate) brokers: BTreeMap<i32, BrokerInfo>,
    /// Cluster id.
    pub(crate) cluster_id: Option<String>,
    /// Controller node id.
    pub(crate) controller_id: i32,
    /// Topics without error, with the time they were learnt.
    topics: HashMap<String, (TopicMetadata, Instant)>,
}

impl MetadataCache {
    /// Takes in an answer: brokers replaced, topics updated (a topic answered with an error is
    /// forgotten).
    pub(crate) fn update(&mut self, m: &ClusterMetadata) {
        if !m.brokers.is_empty() {
            self.brokers = m.brokers.iter().map(|b| (b.node_id, b.clone())).collect();
        }
        self.cluster_id.clone_from(&m.cluster_id);
        self.controller_id = m.controller_id;
        let now = Instant::now();
        for t in &m.topics {
            if t.error.is_none() {
                self.topics.insert(t.name.clone(), (t.clone(), now));
            } else {
                self.topics.remove(&t.name);
            }
        }
    }

    /// A topic learnt less than `max_age` ago.
    pub(crate) fn fresh_topic(&self, name: &str, max_age: Duration) -> Option<&TopicMetadata> {
        self.topics
            .get(name)
            .filter(|(_, at)| at.elapsed() < max_age)
            .map(|(t, _)| t)
    }

    /// A topic as last learnt, however old.
    pub(crate) fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name).map(|(t, _)| t)
    }

    /// Marks a topic for refresh before its next use (a leader moved, a partition was added).
    pub(crate) fn invalidate(&mut self, name: &str) {
        self.topics.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_kafka_prints_them() {
        // Expected values from Python's base64.urlsafe_b64encode, padding stripped.
        assert_eq!(kafka_uuid_string(&Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
        let id = Uuid::from_u128(0x07df_b0a8_0259_4db6_8bbc_023c_01f1_5f15);
        assert_eq!(kafka_uuid_string(&id), "B9-wqAJZTbaLvAI8AfFfFQ");
    }
}
