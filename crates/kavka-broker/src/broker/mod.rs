//! The node's shared state: configuration, data directories, the controller and the metadata
//! log it writes, the broker's image of that log, and the hosted partitions.
//!
//! A metadata change is decided by a `controller` function against the controller's image,
//! written by the [`ActiveController`] (a committed batch), then published: replayed into the
//! broker's image and applied to the partitions and coordinators (`publish.rs`). Start-up
//! replays the log's snapshot and batches into the image and opens the partitions it names.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, RwLock};

use kavka_metadata::{MetadataImage, MetadataLog, Replay, TopicImage};
use kavka_quorum::LocalLog;
use uuid::Uuid;

use crate::active_controller::ActiveController;
use crate::config::BrokerConfig;
use crate::controller;
use crate::error::BrokerError;
use crate::group_coordinator::GroupCoordinator;
use crate::log_manager::{partition_dir_name, LogManager};
use crate::producer_ids::ProducerIdManager;
use crate::replica_manager::{Partition, ReplicaManager};
use crate::topic_config::ConfigLayers;
use crate::txn_coordinator::{TxnCoordinator, TRANSACTION_STATE_TOPIC};

mod admin;
mod change;
mod elections;
mod heartbeats;
mod isr;
mod liveness;
mod publish;
mod reassign;
mod register;
mod remote;
mod shutdown;

pub use heartbeats::HeartbeatReply;
pub use reassign::{ReassignResult, ReassignTarget};
pub use register::{BrokerEndpoint, ControllerTarget};

/// Shared state of a running node.
#[derive(Debug)]
pub struct Broker {
    /// Static configuration.
    config: BrokerConfig,
    /// Data directories.
    log_manager: LogManager,
    /// The writer of the metadata log; the lock serialises metadata changes.
    controller: Mutex<ActiveController>,
    /// The offset of the last batch published to `image` and the partitions; the lock keeps
    /// batches published in order.
    published: Mutex<u64>,
    /// Signalled whenever `published` moves.
    published_moved: Condvar,
    /// Random per process start; tells the quorum this is a new start of the broker.
    incarnation: Uuid,
    /// This node's voter when the metadata quorum has several (`None`: the local log).
    quorum: Option<crate::quorum::Quorum>,
    /// Whether the image has caught up with the quorum since this process started, so that
    /// what it says this node leads can be served (a broker-only node replays its own copy
    /// first, which may be behind; see `broker/register.rs`).
    caught_up: std::sync::atomic::AtomicBool,
    /// Woken when `caught_up` becomes true.
    caught_up_reached: tokio::sync::Notify,
    /// On the active controller: brokers fenced for their controlled shutdown, with the
    /// incarnation that asked (`broker/shutdown.rs`).
    leaving: Mutex<std::collections::HashMap<i32, Uuid>>,
    /// Set once the logs are being closed: later batches change no partition (one closed must
    /// not be opened again).
    closing: std::sync::atomic::AtomicBool,
    /// On the active controller: each broker's last heartbeat (`broker/heartbeats.rs`).
    heartbeats: Mutex<HashMap<i32, heartbeats::Heartbeat>>,
    /// This broker's epoch, given by the controller at its registration (-1 before).
    broker_epoch: std::sync::atomic::AtomicI64,
    /// The broker's image, for readers (replaced at every published batch).
    image: RwLock<Arc<MetadataImage>>,
    /// Hosted partitions.
    replicas: ReplicaManager,
    /// Fetch sessions (KIP-227).
    fetch_sessions: crate::fetch_session::FetchSessionCache,
    /// The throttle of what this node serves its followers' throttled replicas.
    leader_quota: crate::replica_manager::quota::ReplicationQuota,
    /// The throttle of what this node fetches of its throttled replicas.
    follower_quota: crate::replica_manager::quota::ReplicationQuota,
    /// What each client listener advertises (ports known once bound).
    advertised: RwLock<Vec<crate::config::AdvertisedListener>>,
    /// The group coordinator (its shards are the `__consumer_offsets` partitions).
    groups: GroupCoordinator,
    /// This broker's block of producer ids.
    producer_ids: ProducerIdManager,
    /// The transaction coordinator (its shards are the `__transaction_state` partitions).
    txns: TxnCoordinator,
    /// The metrics `/metrics` serves; none without an HTTP listener (`observe`).
    metrics: Option<crate::observe::Metrics>,
}

/// The metadata quorum seen from its leader (see [`Broker::quorum_view`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumView {
    /// The leader's node id.
    pub leader: i32,
    /// The leader epoch (Raft term).
    pub epoch: i32,
    /// One past the last committed offset.
    pub high_watermark: i64,
    /// Each voter's node id and log end offset.
    pub voters: Vec<(i32, i64)>,
    /// Each observer's node id, log end offset and last fetch time (ms since the epoch).
    pub observers: Vec<(i32, i64, i64)>,
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
        // A voter among several (or a controller-only node) or an observer (broker-only).
        let replicated = config.controller_bind.is_some() || !config.roles.controller;
        // A node of a quorum must share the cluster id the operator formatted every node with.
        let log_manager = LogManager::open(&config.log_dirs, config.node_id, !replicated)?;
        if !log_manager.clean_shutdown() {
            tracing::info!("no clean-shutdown marker: partition logs will be recovered");
        }
        let metadata_dir = log_manager.metadata_dir();
        let (log, replay, quorum): (Box<dyn MetadataLog>, Replay, _) = if replicated {
            let cluster_id = log_manager.cluster_id();
            let (quorum, replay) = if config.roles.controller {
                crate::quorum::Quorum::open(&config, &metadata_dir, cluster_id)?
            } else {
                crate::quorum::Quorum::open_observer(&config, &metadata_dir, cluster_id)?
            };
            (quorum.metadata_log(), replay, Some(quorum))
        } else {
            let log = LocalLog::open(&metadata_dir, config.metadata_snapshot_bytes_min)?;
            let replay = log.replay()?;
            (Box::new(log), replay, None)
        };
        let batches = replay.batches.len();
        let (image, offset) = replay.into_image()?;
        tracing::info!(
            path = %metadata_dir.display(),
            offset,
            batches,
            topics = image.topic_count(),
            "metadata log replayed"
        );
        let image = Arc::new(image);
        let config_group = config.group.clone();
        let config_txn = config.txn.clone();
        let replicas = ReplicaManager::default();
        // Alone, the image is the whole log; in a quorum it may be behind.
        let caught_up = !replicated;
        let metrics = config
            .http_listener
            .is_some()
            .then(crate::observe::Metrics::new);
        let broker = Broker {
            metrics,
            advertised: RwLock::new(config.advertised.clone()),
            fetch_sessions: crate::fetch_session::FetchSessionCache::new(
                config.fetch_session_slots_max,
            ),
            leader_quota: Default::default(),
            follower_quota: Default::default(),
            config,
            log_manager,
            controller: Mutex::new(ActiveController::new(log, image.clone())),
            published: Mutex::new(offset),
            published_moved: Condvar::new(),
            incarnation: kavka_metadata::random_kafka_uuid(),
            caught_up: std::sync::atomic::AtomicBool::new(caught_up),
            caught_up_reached: tokio::sync::Notify::new(),
            leaving: Mutex::new(std::collections::HashMap::new()),
            closing: std::sync::atomic::AtomicBool::new(false),
            heartbeats: Mutex::new(HashMap::new()),
            broker_epoch: std::sync::atomic::AtomicI64::new(-1),
            quorum,
            image: RwLock::new(image.clone()),
            groups: GroupCoordinator::new(config_group),
            replicas,
            producer_ids: ProducerIdManager::default(),
            txns: TxnCoordinator::new(config_txn),
        };
        broker.set_replication_quotas(&image);
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
                if !p.replicas.contains(&self.config.node_id) {
                    continue;
                }
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

    /// The log config and produce checks of a partition of `topic`, from every config layer.
    fn partition_configs(
        &self,
        image: &MetadataImage,
        topic: &str,
    ) -> (
        kavka_storage::LogConfig,
        crate::replica_manager::ProducePolicy,
    ) {
        let overrides = image.topic_configs(topic).cloned().unwrap_or_default();
        ConfigLayers::new(&self.config, image).partition_configs(&overrides)
    }

    fn open_partition(
        &self,
        image: &MetadataImage,
        topic: &TopicImage,
        index: i32,
        leader_epoch: i32,
        dir: Option<PathBuf>,
    ) -> Result<(), BrokerError> {
        let (log_config, policy) = self.partition_configs(image, &topic.name);
        let (mut log, report) =
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
        let state = topic
            .partitions
            .get(&index)
            .map(crate::replica_manager::ImageState::of)
            .unwrap_or_default();
        if state.leader == self.config.node_id {
            log.start_leader_epoch(leader_epoch)?;
        }
        let replication = crate::replica_manager::ReplicaState::new(
            self.config.node_id,
            &state,
            (log.log_start_offset(), log.log_end_offset()),
            self.log_manager
                .checkpointed_high_watermark(&topic.name, index),
        );
        self.replicas.add(
            (&topic.name, topic.topic_id, index),
            leader_epoch,
            policy,
            log,
            replication,
        );
        Ok(())
    }

    /// The broker's configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The hosted partition `index` of the topic with this name and id.
    pub fn partition(&self, topic: &str, topic_id: &Uuid, index: i32) -> Option<Arc<Partition>> {
        self.replicas.get(topic, topic_id, index)
    }

    /// Partition `index` of `topic` when this node leads it (its image says so, it is hosted,
    /// and the image has caught up with the quorum): what Produce, Fetch, ListOffsets and
    /// DeleteRecords serve.
    pub fn led_partition(&self, topic: &TopicImage, index: i32) -> Option<Arc<Partition>> {
        let leader = topic.partitions.get(&index)?.leader;
        if leader != self.config.node_id
            || !self.caught_up.load(std::sync::atomic::Ordering::Acquire)
        {
            return None;
        }
        self.replicas.get(&topic.name, &topic.topic_id, index)
    }

    /// The fetch sessions.
    pub fn fetch_sessions(&self) -> &crate::fetch_session::FetchSessionCache {
        &self.fetch_sessions
    }

    /// Writes every log directory's high watermark checkpoint (see
    /// `replica.high.watermark.checkpoint.interval.ms`).
    pub fn checkpoint_high_watermarks(&self) -> Result<(), BrokerError> {
        let entries: Vec<(PathBuf, String, i32, i64)> = self
            .replicas
            .all()
            .into_iter()
            .filter_map(|p| {
                let (_, dir) = p.size_and_dir()?;
                let hw = p.offsets().ok()?.high_watermark;
                Some((dir, p.topic.to_string(), p.index, hw))
            })
            .collect();
        self.log_manager.write_high_watermarks(&entries)
    }

    /// The replication throttles: (leader side, follower side).
    pub fn replication_quotas(
        &self,
    ) -> (
        &crate::replica_manager::quota::ReplicationQuota,
        &crate::replica_manager::quota::ReplicationQuota,
    ) {
        (&self.leader_quota, &self.follower_quota)
    }

    /// Takes the throttle rates in force for this node from `image` and the configuration.
    fn set_replication_quotas(&self, image: &MetadataImage) {
        let layers = ConfigLayers::new(&self.config, image);
        let rate = |name: &str| {
            let key = crate::config::broker_key(name).expect("a broker key");
            let value = layers.dynamic_broker_value(key);
            // Kafka's default, Long.MAX_VALUE, is no limit.
            value.parse::<u64>().ok().filter(|&r| r < i64::MAX as u64)
        };
        self.leader_quota
            .set_rate(rate("leader.replication.throttled.rate"));
        self.follower_quota
            .set_rate(rate("follower.replication.throttled.rate"));
    }

    /// The partition of `topic` a consumer may read here (KIP-392): led by this node, or one
    /// this node follows; `None` before this node caught up with the quorum.
    pub fn readable_partition(&self, topic: &TopicImage, index: i32) -> Option<Arc<Partition>> {
        let p = topic.partitions.get(&index)?;
        if !p.replicas.contains(&self.config.node_id)
            || !self.caught_up.load(std::sync::atomic::Ordering::Acquire)
        {
            return None;
        }
        let hosted = self.replicas.get(&topic.name, &topic.topic_id, index)?;
        let readable = p.leader == self.config.node_id
            || matches!(hosted.role(), crate::replica_manager::Role::Follower { .. });
        readable.then_some(hosted)
    }

    /// Every hosted partition.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        self.replicas.all()
    }

    /// The group coordinator.
    pub fn groups(&self) -> &GroupCoordinator {
        &self.groups
    }

    /// The metrics, when the HTTP listener serves them.
    pub fn metrics(&self) -> Option<&crate::observe::Metrics> {
        self.metrics.as_ref()
    }

    /// Why this broker does not serve yet (`/ready`), `None` when it does: its logs are open
    /// and its listeners bound before anything asks, so what remains is the metadata quorum
    /// and the shutdown.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        use std::sync::atomic::Ordering;
        if self.closing.load(Ordering::Acquire) {
            return Some("shutting down");
        }
        if self.config.roles.broker && !self.caught_up.load(Ordering::Acquire) {
            return Some("not caught up with the metadata quorum");
        }
        None
    }

    /// The transaction coordinator.
    pub fn txns(&self) -> &TxnCoordinator {
        &self.txns
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().expect("image lock poisoned").clone()
    }

    /// The metadata quorum's leader epoch and committed offset when this node is its only
    /// voter.
    pub fn quorum_position(&self) -> (u32, u64) {
        let (offset, epoch) = self
            .controller
            .lock()
            .expect("controller lock poisoned")
            .log_position();
        (epoch, offset)
    }

    /// The metadata quorum as DescribeQuorum reports it: leader, epoch, high watermark and
    /// each voter's log end (Kafka's offsets: one past the last entry). `None` on a voter that
    /// does not lead (only the leader knows the others' progress).
    pub fn quorum_view(&self) -> Option<QuorumView> {
        let Some(q) = &self.quorum else {
            let (epoch, committed) = self.quorum_position();
            let end = committed as i64 + 1;
            return Some(QuorumView {
                leader: self.config.node_id,
                epoch: epoch as i32,
                high_watermark: end,
                voters: vec![(self.config.node_id, end)],
                observers: Vec::new(),
            });
        };
        let status = q.status();
        if status.progress.is_empty() {
            return None;
        }
        Some(QuorumView {
            leader: self.config.node_id,
            epoch: i32::try_from(status.term).unwrap_or(i32::MAX),
            high_watermark: status.commit as i64 + 1,
            voters: status
                .progress
                .iter()
                .map(|&(id, matched)| (crate::quorum::node_id(id), matched as i64 + 1))
                .collect(),
            observers: status
                .observers
                .iter()
                .map(|&(id, held, at)| (crate::quorum::node_id(id), held as i64 + 1, at))
                .collect(),
        })
    }

    /// This node's voter, when the quorum has several.
    pub fn quorum(&self) -> Option<&crate::quorum::Quorum> {
        self.quorum.as_ref()
    }

    /// The node Metadata and DescribeCluster name as controller: this node. As a broker of a
    /// KRaft cluster names a live broker rather than the quorum's leader, clients send
    /// controller requests to a node they can reach, which forwards them to the leader
    /// (`forward`); a client never waits on a dead controller's id. DescribeQuorum names the
    /// leader.
    pub fn controller_id(&self) -> i32 {
        self.config.node_id
    }

    /// The directory id of the metadata log's directory.
    pub fn metadata_directory_id(&self) -> Option<Uuid> {
        self.log_manager.metadata_directory_id()
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        self.log_manager.cluster_id()
    }

    /// What each client listener advertises.
    pub fn advertised_listeners(&self) -> Vec<crate::config::AdvertisedListener> {
        self.advertised
            .read()
            .expect("advertised lock poisoned")
            .clone()
    }

    /// Host and port the inter-broker listener advertises.
    pub fn advertised(&self) -> (String, u16) {
        let all = self.advertised_listeners();
        let a = all
            .iter()
            .find(|a| a.name == self.config.inter_broker_listener)
            .unwrap_or(&all[0]);
        (a.host.clone(), a.port)
    }

    /// Records the address client listener `index` actually bound (for port 0).
    pub fn set_bound_address(&self, index: usize, bound: std::net::SocketAddr) {
        self.advertised.write().expect("advertised lock poisoned")[index] =
            self.config.advertised_endpoint(index, bound);
    }

    /// The configured data directories.
    pub fn log_dirs(&self) -> &[PathBuf] {
        self.log_manager.log_dirs()
    }

    /// The partitions of an internal topic in index order, `None` for those this node does
    /// not lead, and all of them until the image has caught up with the quorum (none without
    /// the topic).
    fn internal_partitions(
        &self,
        image: &MetadataImage,
        topic: &str,
    ) -> Vec<Option<Arc<Partition>>> {
        let me = self.config.node_id;
        let caught_up = self.caught_up.load(std::sync::atomic::Ordering::Acquire);
        image
            .topic_by_name(topic)
            .map(|t| {
                t.partitions
                    .iter()
                    .map(|(&i, p)| {
                        (caught_up && p.leader == me)
                            .then(|| self.replicas.get(&t.name, &t.topic_id, i))
                            .flatten()
                    })
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
        if let Some(q) = &self.quorum {
            q.stop();
        }
        {
            // Batches are applied under this lock: none is half-applied from here on.
            let _published = self.published.lock().expect("published lock poisoned");
            self.closing
                .store(true, std::sync::atomic::Ordering::Release);
        }
        if let Err(e) = self.checkpoint_high_watermarks() {
            tracing::warn!(error = %e, "high watermark checkpoint not written at shutdown");
        }
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
