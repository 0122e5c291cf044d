//! The node's shared state: configuration, data directories, the metadata store and its image,
//! and the hosted partitions. Metadata changes go through [`Broker::commit`]: records are
//! written to the metadata log, the image is replayed, and the change is published to the
//! replica manager (logs created or deleted). Start-up runs the same publication over the image
//! replayed from disk.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use kavka_metadata::{
    ConfigResourceType, MetadataImage, MetadataRecord, MetadataStore, TopicImage,
};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use crate::config::BrokerConfig;
use crate::controller::{self, ConfigChange, ConfigTarget, Refusal, TopicSpec};
use crate::error::BrokerError;
use crate::group_coordinator::GroupCoordinator;
use crate::log_manager::{partition_dir_name, LogManager};
use crate::producer_ids::ProducerIdManager;
use crate::replica_manager::{Partition, ReplicaManager};
use crate::topic_config::ConfigLayers;
use crate::txn_coordinator::{TxnCoordinator, TRANSACTION_STATE_TOPIC};

/// Shared state of a running node.
#[derive(Debug)]
pub struct Broker {
    /// Static configuration.
    pub config: BrokerConfig,
    /// Data directories.
    log_manager: LogManager,
    /// The metadata log and its image; the lock serialises metadata changes.
    metadata: Mutex<MetadataStore>,
    /// Snapshot of the image for readers (replaced on every commit).
    image: RwLock<Arc<MetadataImage>>,
    /// Hosted partitions.
    pub replicas: ReplicaManager,
    /// Host and port Metadata advertises (known once the listener is bound).
    advertised: RwLock<(String, u16)>,
    /// The group coordinator (its shards are the `__consumer_offsets` partitions).
    pub groups: GroupCoordinator,
    /// This broker's block of producer ids.
    producer_ids: ProducerIdManager,
    /// The transaction coordinator (its shards are the `__transaction_state` partitions).
    pub txns: TxnCoordinator,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Broker {
    /// Opens the data directories and the metadata log, then every partition log of the image
    /// (recovering them after an unclean shutdown).
    pub fn open(config: BrokerConfig) -> Result<Broker, BrokerError> {
        let log_manager = LogManager::open(&config.log_dirs, config.node_id)?;
        if !log_manager.clean_shutdown() {
            tracing::info!("no clean-shutdown marker: partition logs will be recovered");
        }
        let store = MetadataStore::open(&log_manager.metadata_dir())?;
        let image = store.snapshot();
        let config_group = config.group.clone();
        let config_txn = config.txn.clone();
        let replicas = ReplicaManager::default();
        let purgatory = replicas.purgatory.clone();
        let broker = Broker {
            advertised: RwLock::new((config.advertised.host.clone(), config.advertised.port)),
            config,
            log_manager,
            metadata: Mutex::new(store),
            image: RwLock::new(image.clone()),
            groups: GroupCoordinator::new(config_group, replicas.purgatory.clone()),
            replicas,
            producer_ids: ProducerIdManager::default(),
            txns: TxnCoordinator::new(config_txn, purgatory),
        };
        broker.load_partitions(&image)?;
        // The shards replay their partitions once the listener runs (see `server`).
        broker.attach_group_coordinator(&image, false);
        broker.attach_txn_coordinator(&image, false);
        broker.log_manager.clear_clean_shutdown_markers()?;
        Ok(broker)
    }

    fn load_partitions(&self, image: &MetadataImage) -> Result<(), BrokerError> {
        let mut existing: HashMap<String, PathBuf> = self.log_manager.existing_partition_dirs()?;
        let started = std::time::Instant::now();
        let mut count = 0usize;
        for topic in image.topics() {
            for (&index, p) in &topic.partitions {
                let dir = existing.remove(&partition_dir_name(&topic.name, index));
                // A partition that cannot be opened stays offline; the others are served.
                match self.open_partition(image, topic, index, p.leader_epoch, dir) {
                    Ok(()) => count += 1,
                    Err(e) => {
                        tracing::error!(topic = %topic.name, partition = index, error = %e, "partition offline: its log cannot be opened")
                    }
                }
            }
        }
        for (_, stray) in existing {
            self.log_manager.set_aside_stray(&stray)?;
        }
        tracing::info!(
            partitions = count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "partition logs loaded"
        );
        Ok(())
    }

    fn open_partition(
        &self,
        image: &MetadataImage,
        topic: &TopicImage,
        index: i32,
        leader_epoch: i32,
        dir: Option<PathBuf>,
    ) -> Result<(), BrokerError> {
        let overrides = image
            .topic_configs(&topic.name)
            .cloned()
            .unwrap_or_default();
        let (log_config, policy) =
            ConfigLayers::new(&self.config, image).partition_configs(&overrides);
        let (log, report) =
            self.log_manager
                .open_partition(&topic.name, index, log_config, dir.as_deref())?;
        if report.truncated_bytes > 0 {
            tracing::warn!(
                topic = %topic.name,
                partition = index,
                truncated_bytes = report.truncated_bytes,
                "recovery truncated an invalid log tail"
            );
        }
        self.replicas.add(
            &topic.name,
            topic.topic_id,
            index,
            leader_epoch,
            policy,
            log,
        );
        Ok(())
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().expect("image lock poisoned").clone()
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        self.log_manager.cluster_id()
    }

    /// Host and port advertised to clients.
    pub fn advertised(&self) -> (String, u16) {
        self.advertised
            .read()
            .expect("advertised lock poisoned")
            .clone()
    }

    /// Records the address actually bound (for port 0).
    pub fn set_bound_address(&self, bound: std::net::SocketAddr) {
        *self.advertised.write().expect("advertised lock poisoned") =
            self.config.advertised_endpoint(bound);
    }

    /// The configured data directories.
    pub fn log_dirs(&self) -> &[PathBuf] {
        self.log_manager.log_dirs()
    }

    /// Runs a controller decision against the current image and commits its records, then
    /// publishes the change. `decide` returns the records (and a value for the caller) or a
    /// refusal; nothing is written on refusal, nor when `validate_only`.
    pub fn change_metadata<T>(
        &self,
        validate_only: bool,
        decide: impl FnOnce(&MetadataImage) -> Result<(T, Vec<MetadataRecord>), Refusal>,
    ) -> Result<T, Refusal> {
        let mut store = self.metadata.lock().expect("metadata lock poisoned");
        let before = store.snapshot();
        let (value, records) = decide(&before)?;
        if validate_only {
            return Ok(value);
        }
        store.commit(records.clone()).map_err(|e| {
            tracing::error!(error = %e, "metadata commit failed");
            (ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string())
        })?;
        let after = store.snapshot();
        *self.image.write().expect("image lock poisoned") = after.clone();
        self.publish(&before, &after, &records);
        Ok(value)
    }

    /// The hosted partitions of an internal topic, in index order (none without the topic).
    fn internal_partitions(&self, image: &MetadataImage, topic: &str) -> Vec<Arc<Partition>> {
        image
            .topic_by_name(topic)
            .map(|t| {
                t.partitions
                    .keys()
                    .filter_map(|&i| self.replicas.get(&t.name, &t.topic_id, i))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Gives the group coordinator the `__consumer_offsets` partitions, if the topic exists
    /// (`loaded`: nothing to replay, the topic is new); without the topic, takes them away.
    fn attach_group_coordinator(&self, image: &MetadataImage, loaded: bool) {
        let partitions = self.internal_partitions(image, controller::CONSUMER_OFFSETS_TOPIC);
        self.groups.attach(partitions, loaded);
    }

    /// Gives the transaction coordinator the `__transaction_state` partitions, as for groups.
    fn attach_txn_coordinator(&self, image: &MetadataImage, loaded: bool) {
        let partitions = self.internal_partitions(image, TRANSACTION_STATE_TOPIC);
        self.txns.attach(partitions, loaded);
    }

    /// Creates a coordinator's internal topic (compacted, stored as produced) unless it exists.
    fn ensure_internal_topic(
        &self,
        name: &str,
        num_partitions: i32,
        segment_bytes: i32,
    ) -> Result<(), Refusal> {
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        configs.insert("segment.bytes".to_string(), segment_bytes.to_string());
        configs.insert("compression.type".to_string(), "producer".to_string());
        let spec = TopicSpec {
            name: name.to_string(),
            num_partitions,
            replication_factor: 1,
            assignments: vec![],
            configs,
        };
        match self.create_topic(&spec, false) {
            Ok(_) | Err((ErrorCode::TOPIC_ALREADY_EXISTS, _)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates `__transaction_state` if it does not exist (the first FindCoordinator for a
    /// transactional id does, as in Kafka): `transaction.state.log.num.partitions` partitions.
    pub fn ensure_txn_topic(&self) -> Result<(), Refusal> {
        if self.txns.is_attached() {
            return Ok(());
        }
        self.ensure_internal_topic(
            TRANSACTION_STATE_TOPIC,
            self.config.txn_topic_num_partitions,
            self.config.txn_topic_segment_bytes,
        )
    }

    /// Creates `__consumer_offsets` if it does not exist (the first FindCoordinator does, as in
    /// Kafka): `offsets.topic.num.partitions` partitions.
    pub fn ensure_offsets_topic(&self) -> Result<(), Refusal> {
        if self.groups.is_attached() {
            return Ok(());
        }
        self.ensure_internal_topic(
            controller::CONSUMER_OFFSETS_TOPIC,
            self.config.offsets_topic_num_partitions,
            self.config.offsets_topic_segment_bytes,
        )
    }

    /// Applies committed records to the hosted partitions.
    fn publish(&self, before: &MetadataImage, after: &MetadataImage, records: &[MetadataRecord]) {
        self.publish_records(before, after, records);
        let changed = |topic: &str| {
            let shape = |image: &MetadataImage| {
                image
                    .topic_by_name(topic)
                    .map(|t| (t.topic_id, t.partitions.len()))
            };
            shape(before) != shape(after)
        };
        if changed(controller::CONSUMER_OFFSETS_TOPIC) {
            self.attach_group_coordinator(after, true);
        }
        if changed(TRANSACTION_STATE_TOPIC) {
            self.attach_txn_coordinator(after, true);
        }
    }

    fn publish_records(
        &self,
        before: &MetadataImage,
        after: &MetadataImage,
        records: &[MetadataRecord],
    ) {
        for record in records {
            match record {
                MetadataRecord::Partition(p) => {
                    let Some(topic) = after.topic_by_id(&p.topic_id) else {
                        continue;
                    };
                    if self.replicas.contains(&topic.name, p.partition) {
                        continue;
                    }
                    if let Err(e) =
                        self.open_partition(after, topic, p.partition, p.leader_epoch, None)
                    {
                        tracing::error!(topic = %topic.name, partition = p.partition, error = %e, "cannot create partition log");
                    }
                }
                MetadataRecord::RemoveTopic(r) => {
                    if let Some(topic) = before.topic_by_id(&r.topic_id) {
                        for e in self.replicas.remove_topic(&topic.name) {
                            tracing::error!(topic = %topic.name, error = %e, "cannot delete partition log");
                        }
                        self.groups.delete_topic_offsets(&topic.name);
                        tracing::info!(topic = %topic.name, "topic deleted");
                    }
                }
                MetadataRecord::ProducerIds(r) => {
                    tracing::debug!(
                        next_producer_id = r.next_producer_id,
                        "producer id block taken"
                    );
                }
                MetadataRecord::Topic(t) => {
                    tracing::info!(topic = %t.name, topic_id = %kavka_metadata::topic_id_to_string(&t.topic_id), "topic created");
                }
                MetadataRecord::Config(c) => {
                    let topics: Vec<&TopicImage> = match c.resource_type {
                        ConfigResourceType::Topic => {
                            after.topic_by_name(&c.resource_name).into_iter().collect()
                        }
                        ConfigResourceType::Broker => after.topics().collect(),
                    };
                    for topic in topics {
                        let overrides = after
                            .topic_configs(&topic.name)
                            .cloned()
                            .unwrap_or_default();
                        let (log_config, policy) =
                            ConfigLayers::new(&self.config, after).partition_configs(&overrides);
                        for &index in topic.partitions.keys() {
                            if let Some(p) = self.replicas.get(&topic.name, &topic.topic_id, index)
                            {
                                p.set_config(log_config.clone(), policy);
                            }
                        }
                    }
                    tracing::info!(resource = %c.resource_name, key = %c.name, value = ?c.value, "config changed");
                }
            }
        }
    }

    /// Changes configs of a topic or broker.
    pub fn alter_configs(
        &self,
        target: &ConfigTarget,
        changes: &[ConfigChange],
        validate_only: bool,
    ) -> Result<(), Refusal> {
        let node_id = self.config.node_id;
        self.change_metadata(validate_only, |image| {
            controller::alter_configs(image, node_id, target, changes).map(|r| ((), r))
        })
    }

    /// Adds partitions to a topic.
    pub fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), Refusal> {
        let node_id = self.config.node_id;
        self.change_metadata(validate_only, |image| {
            controller::create_partitions(image, node_id, name, count, assignments).map(|r| ((), r))
        })
    }

    /// Creates a topic (CreateTopics and auto-creation).
    pub fn create_topic(&self, spec: &TopicSpec, validate_only: bool) -> Result<Uuid, Refusal> {
        let node_id = self.config.node_id;
        self.change_metadata(validate_only, |image| {
            controller::create_topic(image, node_id, spec)
        })
    }

    /// Creates a topic with the broker's defaults, for Metadata auto-creation.
    pub fn auto_create_topic(&self, name: &str) -> Result<Uuid, Refusal> {
        let spec = TopicSpec {
            name: name.to_string(),
            num_partitions: self.config.num_partitions,
            replication_factor: self.config.default_replication_factor,
            assignments: vec![],
            configs: BTreeMap::new(),
        };
        match self.create_topic(&spec, false) {
            Err((ErrorCode::TOPIC_ALREADY_EXISTS, _)) => self
                .image()
                .topic_by_name(name)
                .map(|t| t.topic_id)
                .ok_or((ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, String::new())),
            other => other,
        }
    }

    /// A producer id never given out before (InitProducerId); commits a new block of ids to
    /// the metadata log when this broker's block is used up.
    pub fn new_producer_id(&self) -> Result<i64, Refusal> {
        let node_id = self.config.node_id;
        self.producer_ids.next_id(|| {
            self.change_metadata(false, |image| {
                crate::producer_ids::allocate_block(image, node_id)
            })
        })
    }

    /// Deletes a topic by id.
    pub fn delete_topic(&self, topic_id: &Uuid) -> Result<(), Refusal> {
        self.change_metadata(false, |image| {
            controller::delete_topic(image, topic_id).map(|r| ((), r))
        })
    }

    /// Flushes partitions whose `flush.ms` has passed.
    pub fn flush_due(&self) {
        let now = now_ms();
        for p in self.replicas.all() {
            if let Err(e) = p.flush_if_due(now) {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "scheduled flush failed");
            }
        }
    }

    /// Closes every log and writes the clean-shutdown markers.
    pub fn close(&self) -> Result<(), BrokerError> {
        let errors = self.replicas.close_all();
        if errors.is_empty() {
            self.log_manager.write_clean_shutdown_markers()?;
            tracing::info!("logs closed cleanly");
            Ok(())
        } else {
            for e in &errors {
                tracing::error!(error = %e, "closing a log failed");
            }
            Err(BrokerError::Startup(format!(
                "{} partition log(s) not closed cleanly; the next start will recover them",
                errors.len()
            )))
        }
    }
}
