//! [`MetadataImage`]: the cluster metadata obtained by replaying records, and the rules that
//! keep it consistent.
//!
//! [`MetadataImage::apply`] is the only mutator. It checks a record against the image before
//! touching anything, so a rejected record leaves the image as it was; callers that apply a
//! batch do it on a clone (see [`crate::MetadataStore::commit`]). Topics are held behind `Arc`
//! so that the clone copies map entries, not every partition.

use std::collections::BTreeMap;
use std::sync::Arc;

use uuid::Uuid;

use crate::kafka_uuid::METADATA_TOPIC_ID;
use crate::records::{
    BrokerFencingRecord, ConfigRecord, ConfigResourceType, MetadataRecord, PartitionRecord,
    ProducerIdsRecord, RegisterBrokerRecord, RemoveTopicRecord, TopicRecord,
};

/// Config keys and values of one resource.
pub type ConfigMap = BTreeMap<String, String>;

/// One partition's state, as last set by a [`PartitionRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionImage {
    /// Broker ids of all replicas, preferred leader first.
    pub replicas: Vec<i32>,
    /// Broker ids of the in-sync replicas.
    pub isr: Vec<i32>,
    /// Broker id of the leader, `-1` for none.
    pub leader: i32,
    /// Bumped at every leader change.
    pub leader_epoch: i32,
    /// Bumped at every change of this partition's state.
    pub partition_epoch: i32,
    /// Replicas a reassignment in progress adds (they are among `replicas`).
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment in progress removes (they are among `replicas`).
    pub removing_replicas: Vec<i32>,
}

impl PartitionImage {
    /// Whether a reassignment is in progress.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas the partition had before its reassignment (all of them when none is in
    /// progress).
    pub fn original_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.adding_replicas.contains(r))
            .collect()
    }

    /// The replicas the reassignment in progress moves to (all of them when none is).
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|r| !self.removing_replicas.contains(r))
            .collect()
    }
}

/// One topic and its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// The topic name.
    pub name: String,
    /// The topic id.
    pub topic_id: Uuid,
    /// Partitions by index; always the contiguous range `0..len`.
    pub partitions: BTreeMap<i32, PartitionImage>,
}

/// Why a record does not apply to an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// A producer-ids block that does not start after every block handed out before.
    #[error("producer id block ending at {next_producer_id} is not past {current}")]
    ProducerIdsBackwards {
        /// The record's end of block.
        next_producer_id: i64,
        /// The image's first free producer id.
        current: i64,
    },
    /// A topic record with an empty name.
    #[error("empty topic name")]
    EmptyTopicName,
    /// A topic record with the nil id or Kafka's reserved metadata topic id.
    #[error("reserved topic id {topic_id}")]
    ReservedTopicId {
        /// The id.
        topic_id: Uuid,
    },
    /// A topic record whose name is taken by a topic with another id.
    #[error("topic {name} exists with id {existing_id}, not {topic_id}")]
    TopicNameConflict {
        /// The name.
        name: String,
        /// The id of the live topic of that name.
        existing_id: Uuid,
        /// The id in the record.
        topic_id: Uuid,
    },
    /// A topic record whose id is taken by a topic with another name.
    #[error("topic id {topic_id} belongs to topic {existing_name}, not {name}")]
    TopicIdConflict {
        /// The id.
        topic_id: Uuid,
        /// The name of the live topic with that id.
        existing_name: String,
        /// The name in the record.
        name: String,
    },
    /// A record names a topic id that is not live.
    #[error("unknown topic id {topic_id}")]
    UnknownTopicId {
        /// The id.
        topic_id: Uuid,
    },
    /// A topic config record names a topic that is not live.
    #[error("unknown topic {name}")]
    UnknownTopicName {
        /// The name.
        name: String,
    },
    /// A partition record breaks a partition invariant.
    #[error("invalid partition {partition} of topic {topic_id}: {reason}")]
    InvalidPartition {
        /// The topic.
        topic_id: Uuid,
        /// The partition index in the record.
        partition: i32,
        /// The invariant broken.
        reason: &'static str,
    },
    /// A broker registration with a negative id, or fencing of a broker never registered.
    #[error("invalid or unregistered broker id {broker_id}")]
    InvalidBroker {
        /// The id in the record.
        broker_id: i32,
    },
    /// A config record with an empty key, or a broker resource name that is not a broker id.
    #[error("invalid config {name:?} for {resource_type:?} {resource_name:?}: {reason}")]
    InvalidConfig {
        /// The resource type.
        resource_type: ConfigResourceType,
        /// The resource name.
        resource_name: String,
        /// The key.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The cluster metadata at some point of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataImage {
    /// Live topics by id, the primary map.
    topics_by_id: BTreeMap<Uuid, Arc<TopicImage>>,
    /// Index from name to id: every entry points into `topics_by_id` and back.
    topic_ids_by_name: BTreeMap<String, Uuid>,
    /// Topic configs by topic name; no empty maps (a key deleted last removes the entry).
    topic_configs: BTreeMap<String, ConfigMap>,
    /// Broker configs by broker id string (empty = cluster default); no empty maps.
    broker_configs: BTreeMap<String, ConfigMap>,
    /// The first producer id no block has taken yet (0 before the first block).
    next_producer_id: i64,
    /// Registered brokers by node id, each as its latest registration.
    brokers: BTreeMap<i32, RegisterBrokerRecord>,
    /// Registered brokers the controller fenced.
    fenced: std::collections::BTreeSet<i32>,
}

impl MetadataImage {
    /// An empty image: the state before the first record.
    pub fn new() -> Self {
        Self::default()
    }

    /// The live topic named `name`.
    pub fn topic_by_name(&self, name: &str) -> Option<&TopicImage> {
        let id = self.topic_ids_by_name.get(name)?;
        self.topic_by_id(id)
    }

    /// The live topic with id `topic_id`.
    pub fn topic_by_id(&self, topic_id: &Uuid) -> Option<&TopicImage> {
        self.topics_by_id.get(topic_id).map(|t| &**t)
    }

    /// All live topics, sorted by name.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> + '_ {
        self.topic_ids_by_name
            .values()
            .map(|id| &*self.topics_by_id[id])
    }

    /// Number of live topics.
    pub fn topic_count(&self) -> usize {
        self.topics_by_id.len()
    }

    /// The configs set on topic `name`; `None` when none is set (or no such topic).
    pub fn topic_configs(&self, name: &str) -> Option<&ConfigMap> {
        self.topic_configs.get(name)
    }

    /// The configs set on broker `broker` (its id as a string; `""` for the cluster-wide
    /// default); `None` when none is set.
    pub fn broker_configs(&self, broker: &str) -> Option<&ConfigMap> {
        self.broker_configs.get(broker)
    }

    /// The configs set on a resource of either type.
    pub fn configs(&self, resource_type: ConfigResourceType, name: &str) -> Option<&ConfigMap> {
        match resource_type {
            ConfigResourceType::Topic => self.topic_configs(name),
            ConfigResourceType::Broker => self.broker_configs(name),
        }
    }

    /// The registered brokers, by node id.
    pub fn brokers(&self) -> impl Iterator<Item = &RegisterBrokerRecord> + '_ {
        self.brokers.values()
    }

    /// Whether registered broker `id` is fenced.
    pub fn is_fenced(&self, id: i32) -> bool {
        self.fenced.contains(&id)
    }

    /// The registration of broker `id`.
    pub fn broker(&self, id: i32) -> Option<&RegisterBrokerRecord> {
        self.brokers.get(&id)
    }

    /// The first producer id not handed out in any block: the next block starts here.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// Records that rebuild this image when applied in order to an empty one: the content of a
    /// snapshot. Producer ids first, then broker registrations, then each topic with its partitions and configs, then
    /// broker configs.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        if self.next_producer_id > 0 {
            records.push(MetadataRecord::ProducerIds(ProducerIdsRecord {
                broker_id: -1,
                broker_epoch: -1,
                next_producer_id: self.next_producer_id,
            }));
        }
        // Each broker then its fencing, both ways: a registration alone starts fenced.
        for b in self.brokers.values() {
            records.push(MetadataRecord::RegisterBroker(b.clone()));
            let f = fencing(b.broker_id);
            records.push(if self.fenced.contains(&b.broker_id) {
                MetadataRecord::FenceBroker(f)
            } else {
                MetadataRecord::UnfenceBroker(f)
            });
        }
        let config = |resource_type, resource_name: &str, (name, value): (&String, &String)| {
            MetadataRecord::Config(ConfigRecord {
                resource_type,
                resource_name: resource_name.to_string(),
                name: name.clone(),
                value: Some(value.clone()),
            })
        };
        for topic in self.topics() {
            records.push(MetadataRecord::Topic(TopicRecord {
                name: topic.name.clone(),
                topic_id: topic.topic_id,
            }));
            for (&partition, p) in &topic.partitions {
                records.push(MetadataRecord::Partition(PartitionRecord::of(
                    topic.topic_id,
                    partition,
                    p,
                )));
            }
            for entry in self.topic_configs(&topic.name).into_iter().flatten() {
                records.push(config(ConfigResourceType::Topic, &topic.name, entry));
            }
        }
        for (broker, configs) in &self.broker_configs {
            for entry in configs {
                records.push(config(ConfigResourceType::Broker, broker, entry));
            }
        }
        records
    }

    /// Applies one record. On error the image is unchanged.
    pub fn apply(&mut self, record: &MetadataRecord) -> Result<(), ReplayError> {
        match record {
            MetadataRecord::Topic(r) => self.apply_topic(r),
            MetadataRecord::Partition(r) => self.apply_partition(r),
            MetadataRecord::Config(r) => self.apply_config(r),
            MetadataRecord::RemoveTopic(r) => self.apply_remove_topic(r),
            MetadataRecord::ProducerIds(r) => self.apply_producer_ids(r),
            MetadataRecord::RegisterBroker(r) => self.apply_register_broker(r),
            MetadataRecord::FenceBroker(r) => self.apply_fencing(r.broker_id, true),
            MetadataRecord::UnregisterBroker(r) => self.apply_unregister_broker(r.broker_id),
            MetadataRecord::UnfenceBroker(r) => self.apply_fencing(r.broker_id, false),
        }?;
        self.debug_check_invariants();
        Ok(())
    }

    /// Creates a topic. Replaying the same record for a live topic is a no-op; a name or id
    /// already used by another topic is an error.
    fn apply_topic(&mut self, r: &TopicRecord) -> Result<(), ReplayError> {
        if r.name.is_empty() {
            return Err(ReplayError::EmptyTopicName);
        }
        if r.topic_id.is_nil() || r.topic_id == METADATA_TOPIC_ID {
            return Err(ReplayError::ReservedTopicId {
                topic_id: r.topic_id,
            });
        }
        match (
            self.topic_ids_by_name.get(&r.name),
            self.topics_by_id.get(&r.topic_id),
        ) {
            (Some(&existing_id), _) if existing_id != r.topic_id => {
                Err(ReplayError::TopicNameConflict {
                    name: r.name.clone(),
                    existing_id,
                    topic_id: r.topic_id,
                })
            }
            (_, Some(existing)) if existing.name != r.name => Err(ReplayError::TopicIdConflict {
                topic_id: r.topic_id,
                existing_name: existing.name.clone(),
                name: r.name.clone(),
            }),
            (Some(_), Some(_)) => Ok(()),
            _ => {
                let topic = TopicImage {
                    name: r.name.clone(),
                    topic_id: r.topic_id,
                    partitions: BTreeMap::new(),
                };
                self.topic_ids_by_name.insert(r.name.clone(), r.topic_id);
                self.topics_by_id.insert(r.topic_id, Arc::new(topic));
                Ok(())
            }
        }
    }

    /// Creates the next partition of a topic, or replaces the state of an existing one.
    fn apply_partition(&mut self, r: &PartitionRecord) -> Result<(), ReplayError> {
        let topic = self
            .topics_by_id
            .get_mut(&r.topic_id)
            .ok_or(ReplayError::UnknownTopicId {
                topic_id: r.topic_id,
            })?;
        let invalid = |reason| ReplayError::InvalidPartition {
            topic_id: r.topic_id,
            partition: r.partition,
            reason,
        };
        check_partition(r).map_err(invalid)?;
        match topic.partitions.get(&r.partition) {
            Some(old) if r.leader_epoch < old.leader_epoch => {
                return Err(invalid("leader epoch goes backwards"));
            }
            Some(old) if r.partition_epoch < old.partition_epoch => {
                return Err(invalid("partition epoch goes backwards"));
            }
            Some(_) => {}
            // Keys are 0..len, so a new partition must be number len.
            None if usize::try_from(r.partition) != Ok(topic.partitions.len()) => {
                return Err(invalid("partitions must be added in order from 0"));
            }
            None => {}
        }
        let partition = PartitionImage {
            replicas: r.replicas.clone(),
            isr: r.isr.clone(),
            leader: r.leader,
            leader_epoch: r.leader_epoch,
            partition_epoch: r.partition_epoch,
            adding_replicas: r.adding_replicas.clone(),
            removing_replicas: r.removing_replicas.clone(),
        };
        Arc::make_mut(topic)
            .partitions
            .insert(r.partition, partition);
        Ok(())
    }

    /// Sets or deletes one config key.
    fn apply_config(&mut self, r: &ConfigRecord) -> Result<(), ReplayError> {
        let invalid = |reason| ReplayError::InvalidConfig {
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            name: r.name.clone(),
            reason,
        };
        if r.name.is_empty() {
            return Err(invalid("empty config name"));
        }
        let configs = match r.resource_type {
            ConfigResourceType::Topic => {
                if !self.topic_ids_by_name.contains_key(&r.resource_name) {
                    return Err(ReplayError::UnknownTopicName {
                        name: r.resource_name.clone(),
                    });
                }
                &mut self.topic_configs
            }
            ConfigResourceType::Broker => {
                let is_broker_id = r.resource_name.parse::<i32>().is_ok_and(|id| id >= 0);
                if !r.resource_name.is_empty() && !is_broker_id {
                    return Err(invalid(
                        "broker resource name is neither empty nor a broker id",
                    ));
                }
                &mut self.broker_configs
            }
        };
        match &r.value {
            Some(value) => {
                let map = configs.entry(r.resource_name.clone()).or_default();
                map.insert(r.name.clone(), value.clone());
            }
            None => {
                if let Some(map) = configs.get_mut(&r.resource_name) {
                    map.remove(&r.name);
                    if map.is_empty() {
                        configs.remove(&r.resource_name);
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes a block of producer ids: ids only ever move forward, so none is given out twice.
    fn apply_producer_ids(&mut self, r: &ProducerIdsRecord) -> Result<(), ReplayError> {
        if r.next_producer_id <= self.next_producer_id {
            return Err(ReplayError::ProducerIdsBackwards {
                next_producer_id: r.next_producer_id,
                current: self.next_producer_id,
            });
        }
        self.next_producer_id = r.next_producer_id;
        Ok(())
    }

    /// Registers a broker, replacing an earlier registration of the same id. A broker not
    /// registered before starts fenced, as in Kafka: the controller unfences it once it is
    /// heard and caught up (and it then takes back the partitions waiting for it).
    fn apply_register_broker(&mut self, r: &RegisterBrokerRecord) -> Result<(), ReplayError> {
        if r.broker_id < 0 {
            return Err(ReplayError::InvalidBroker {
                broker_id: r.broker_id,
            });
        }
        if self.brokers.insert(r.broker_id, r.clone()).is_none() {
            self.fenced.insert(r.broker_id);
        }
        Ok(())
    }

    /// Removes a broker's registration (and its fencing).
    fn apply_unregister_broker(&mut self, broker_id: i32) -> Result<(), ReplayError> {
        if self.brokers.remove(&broker_id).is_none() {
            return Err(ReplayError::InvalidBroker { broker_id });
        }
        self.fenced.remove(&broker_id);
        Ok(())
    }

    /// Fences or unfences a registered broker.
    fn apply_fencing(&mut self, broker_id: i32, fenced: bool) -> Result<(), ReplayError> {
        if !self.brokers.contains_key(&broker_id) {
            return Err(ReplayError::InvalidBroker { broker_id });
        }
        if fenced {
            self.fenced.insert(broker_id);
        } else {
            self.fenced.remove(&broker_id);
        }
        Ok(())
    }

    /// Deletes a topic with its partitions and configs.
    fn apply_remove_topic(&mut self, r: &RemoveTopicRecord) -> Result<(), ReplayError> {
        let topic = self
            .topics_by_id
            .remove(&r.topic_id)
            .ok_or(ReplayError::UnknownTopicId {
                topic_id: r.topic_id,
            })?;
        self.topic_ids_by_name.remove(&topic.name);
        self.topic_configs.remove(&topic.name);
        Ok(())
    }

    /// The two topic maps agree, configs only name live topics, no config map is empty.
    fn debug_check_invariants(&self) {
        if !cfg!(debug_assertions) {
            return;
        }
        assert_eq!(self.topics_by_id.len(), self.topic_ids_by_name.len());
        for (name, id) in &self.topic_ids_by_name {
            assert_eq!(&self.topics_by_id[id].name, name);
        }
        for name in self.topic_configs.keys() {
            assert!(self.topic_ids_by_name.contains_key(name), "{name}");
        }
        let maps = self
            .topic_configs
            .values()
            .chain(self.broker_configs.values());
        assert!(maps.into_iter().all(|m| !m.is_empty()));
    }
}

/// Invariants of one partition record on its own.
/// The fencing record of a broker (broker epochs are not kept yet).
fn fencing(broker_id: i32) -> BrokerFencingRecord {
    BrokerFencingRecord {
        broker_id,
        broker_epoch: -1,
    }
}

fn check_partition(r: &PartitionRecord) -> Result<(), &'static str> {
    if r.partition < 0 {
        return Err("negative partition index");
    }
    if r.replicas.is_empty() {
        return Err("no replicas");
    }
    if r.replicas.iter().any(|&id| id < 0) || has_duplicates(&r.replicas) {
        return Err("replicas must be distinct broker ids");
    }
    if has_duplicates(&r.isr) || r.isr.iter().any(|id| !r.replicas.contains(id)) {
        return Err("isr must be distinct replicas");
    }
    if r.leader != -1 && !r.isr.contains(&r.leader) {
        return Err("leader must be -1 or in the isr");
    }
    if r.leader_epoch < 0 || r.partition_epoch < 0 {
        return Err("negative epoch");
    }
    let reassigning = r.adding_replicas.iter().chain(&r.removing_replicas);
    if has_duplicates(&r.adding_replicas)
        || has_duplicates(&r.removing_replicas)
        || r.adding_replicas
            .iter()
            .any(|id| r.removing_replicas.contains(id))
        || reassigning.clone().any(|id| !r.replicas.contains(id))
    {
        return Err("adding and removing replicas must be distinct replicas");
    }
    if r.removing_replicas.len() >= r.replicas.len() {
        return Err("a reassignment must keep a replica");
    }
    Ok(())
}

fn has_duplicates(ids: &[i32]) -> bool {
    ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id))
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
