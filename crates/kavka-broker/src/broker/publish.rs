//! Applying committed metadata to this node: each batch is replayed into the broker's image,
//! and its [`MetadataDelta`] is applied to the hosted partitions and the coordinators.
//!
//! Every kind of change reaches the partitions: a partition this node is a replica of is
//! opened when it appears, gets its new leader epoch when leadership moves, and is closed and
//! deleted when its topic is deleted or this node leaves its replica set; configs are reloaded
//! for the topics a config change touches.

use std::sync::mpsc::Receiver;
use std::sync::Arc;

use kavka_metadata::{
    ConfigResourceType, MetadataBatch, MetadataDelta, MetadataImage, PartitionChange, TopicImage,
};

use kavka_quorum::raft::Committed;

use super::Broker;
use crate::controller;
use crate::error::BrokerError;
use crate::txn_coordinator::TRANSACTION_STATE_TOPIC;

impl Broker {
    /// Applies the committed `batch` (the next after the last one published) to the image and
    /// the hosted partitions. The caller holds `published`, the lock that keeps batches in
    /// order.
    pub(super) fn publish(&self, published: &mut u64, batch: &MetadataBatch) {
        assert_eq!(
            batch.offset,
            *published + 1,
            "metadata batches are published in offset order"
        );
        let before = self.image();
        let mut after = MetadataImage::clone(&before);
        for record in &batch.records {
            // The controller checked every record against the same image; were one not to
            // apply, every node skips it alike.
            if let Err(e) = after.apply(record) {
                tracing::error!(offset = batch.offset, error = %e, "committed metadata record skipped: it does not apply");
            }
        }
        let delta = MetadataDelta::between(&before, &after, &batch.records);
        self.install(published, batch.offset, &before, Arc::new(after), &delta);
    }

    /// Applies `delta` to the partitions and coordinators, then makes `after` the image
    /// readers see, at `offset`: a client told of a new partition finds its log open.
    fn install(
        &self,
        published: &mut u64,
        offset: u64,
        before: &MetadataImage,
        after: Arc<MetadataImage>,
        delta: &MetadataDelta,
    ) {
        self.apply_delta(before, &after, delta);
        *self.image.write().expect("image lock poisoned") = after;
        *published = offset;
        self.published_moved.notify_all();
    }

    /// Replaces the image with a leader's snapshot up to `offset` (this node was too far
    /// behind for the log), applying the difference to the partitions and coordinators.
    fn publish_snapshot(&self, published: &mut u64, offset: u64, image: MetadataImage) {
        let before = self.image();
        tracing::info!(
            offset,
            "metadata image replaced by the quorum leader's snapshot"
        );
        let delta = MetadataDelta::of_images(&before, &image);
        self.install(published, offset, &before, Arc::new(image), &delta);
    }

    /// Starts the applier of a quorum's committed batches: every batch the voter hands over,
    /// whoever wrote it, is published in order, and the voter may then snapshot the image.
    /// Nothing to do with the local log (its writer publishes).
    pub fn start_applier(self: &Arc<Self>) -> Result<(), BrokerError> {
        let Some(committed) = self.quorum.as_ref().and_then(|q| q.take_committed()) else {
            return Ok(());
        };
        let broker = self.clone();
        std::thread::Builder::new()
            .name("kavka-metadata-applier".into())
            .spawn(move || broker.apply_committed(&committed))
            .map(|_| ())
            .map_err(|e| BrokerError::Startup(format!("metadata applier thread: {e}")))
    }

    fn apply_committed(&self, committed: &Receiver<Committed>) {
        let Some(quorum) = &self.quorum else { return };
        for item in committed {
            let mut published = self.published.lock().expect("published lock poisoned");
            match item {
                Committed::Batch(batch) if batch.offset > *published => {
                    self.publish(&mut published, &batch)
                }
                Committed::Snapshot { offset, image } if offset > *published => {
                    self.publish_snapshot(&mut published, offset, image)
                }
                _ => continue,
            }
            let offset = *published;
            drop(published);
            // A failed snapshot is retried after the next batch; it only lengthens replay.
            if let Err(e) = quorum.applied(offset, &self.image()) {
                tracing::warn!(error = %e, offset, "metadata snapshot failed");
            }
        }
    }

    fn apply_delta(&self, before: &MetadataImage, after: &MetadataImage, delta: &MetadataDelta) {
        if self.closing.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        for topic in &delta.deleted_topics {
            for e in self.replicas.remove_topic(&topic.name) {
                tracing::error!(topic = %topic.name, error = %e, "cannot delete partition log");
            }
            self.groups.delete_topic_offsets(&topic.name);
            tracing::info!(topic = %topic.name, "topic deleted");
        }
        for name in &delta.created_topics {
            if let Some(t) = after.topic_by_name(name) {
                tracing::info!(topic = %t.name, topic_id = %kavka_metadata::topic_id_to_string(&t.topic_id), "topic created");
            }
        }
        for change in &delta.partitions {
            self.apply_partition_change(after, change);
            self.move_coordinator_shard(change);
        }
        for (resource_type, name) in &delta.configs {
            self.reload_configs(after, *resource_type, name);
        }
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

    /// Opens, updates or drops one partition after a change of its state.
    fn apply_partition_change(&self, after: &MetadataImage, change: &PartitionChange) {
        let node_id = self.config.node_id;
        let hosted = self
            .replicas
            .get(&change.topic, &change.topic_id, change.partition);
        let is_replica = change.after.replicas.contains(&node_id);
        match (hosted, is_replica) {
            (None, true) => {
                let Some(topic) = after.topic_by_id(&change.topic_id) else {
                    return;
                };
                let epoch = change.after.leader_epoch;
                if let Err(e) = self.open_partition(after, topic, change.partition, epoch, None) {
                    tracing::error!(topic = %change.topic, partition = change.partition, error = %e, "cannot create partition log");
                }
            }
            (Some(p), true) => {
                if p.leader_epoch() != change.after.leader_epoch {
                    tracing::info!(topic = %change.topic, partition = change.partition,
                        leader = change.after.leader, leader_epoch = change.after.leader_epoch,
                        "partition leadership changed");
                    p.set_leader_epoch(change.after.leader_epoch);
                }
                // Leader or follower, the ISR and its epoch: the fetchers and the ISR checks
                // read them from the partition.
                p.apply_image(&crate::replica_manager::ImageState::of(&change.after));
                if let Err(e) = p.start_leader_epoch() {
                    tracing::error!(topic = %change.topic, partition = change.partition, error = %e, "cannot record the new leader epoch");
                }
            }
            (Some(_), false) => {
                tracing::info!(topic = %change.topic, partition = change.partition, "partition moved off this broker: deleting its log");
                if let Some(e) = self.replicas.remove(&change.topic, change.partition) {
                    tracing::error!(topic = %change.topic, partition = change.partition, error = %e, "cannot delete partition log");
                }
            }
            (None, false) => {}
        }
    }

    /// A coordinator takes an internal partition's shard when this node becomes its leader and
    /// gives it up when it stops being it (a new internal topic is attached whole instead).
    fn move_coordinator_shard(&self, change: &PartitionChange) {
        // Until caught up the coordinators hold no shard; they are attached whole then.
        if !self.caught_up.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let me = self.config.node_id;
        let was = change.before.as_ref().is_some_and(|p| p.leader == me);
        let is = change.after.leader == me;
        if was == is {
            return;
        }
        let partition = if is {
            self.replicas
                .get(&change.topic, &change.topic_id, change.partition)
        } else {
            None
        };
        let index = usize::try_from(change.partition).unwrap_or(usize::MAX);
        match change.topic.as_str() {
            controller::CONSUMER_OFFSETS_TOPIC => self.groups.set_shard(index, partition),
            TRANSACTION_STATE_TOPIC => self.txns.set_shard(index, partition),
            _ => {}
        }
    }

    /// Gives the hosted partitions of the topics a config change touches their new configs.
    fn reload_configs(&self, after: &MetadataImage, resource_type: ConfigResourceType, name: &str) {
        if resource_type == ConfigResourceType::Broker {
            self.set_replication_quotas(after);
        }
        let topics: Vec<&TopicImage> = match resource_type {
            ConfigResourceType::Topic => after.topic_by_name(name).into_iter().collect(),
            ConfigResourceType::Broker => after.topics().collect(),
        };
        for topic in topics {
            let (log_config, policy) = self.partition_configs(after, &topic.name);
            for &index in topic.partitions.keys() {
                if let Some(p) = self.replicas.get(&topic.name, &topic.topic_id, index) {
                    p.set_config(log_config.clone(), policy);
                }
            }
        }
        tracing::info!(resource = %name, ?resource_type, "configs changed");
    }
}
