//! The metadata changes the broker offers its handlers and coordinators: topics (CreateTopics,
//! auto-creation, the coordinators' internal topics), partitions, configs, producer id blocks.
//! Each is a `controller` decision run through `change_metadata`; on a node that does not lead
//! the quorum, topic creation and producer ids are asked of the leader (`remote.rs`).

use std::collections::BTreeMap;

use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::Broker;
use crate::controller::{self, ConfigChange, ConfigTarget, Refusal, TopicSpec};
use crate::txn_coordinator::TRANSACTION_STATE_TOPIC;

impl Broker {
    /// The node id placement may fall back to while no broker is registered: this node when
    /// it is a cluster of its own, none (-1) in a quorum of several.
    fn placement_node(&self) -> i32 {
        if self.quorum.is_some() {
            -1
        } else {
            self.config.node_id
        }
    }

    /// Creates a coordinator's internal topic (compacted, stored as produced) unless it exists.
    fn ensure_internal_topic(
        &self,
        name: &str,
        num_partitions: i32,
        segment_bytes: i32,
        replication_factor: i16,
    ) -> Result<(), Refusal> {
        // At most the live brokers (Kafka would refuse until enough are up): a single node
        // has its coordinators at once with the defaults.
        let live = controller::placement::brokers(&self.image(), self.placement_node()).len();
        let replication_factor = replication_factor.min(i16::try_from(live.max(1)).unwrap_or(1));
        let mut configs = BTreeMap::new();
        configs.insert("cleanup.policy".to_string(), "compact".to_string());
        configs.insert("segment.bytes".to_string(), segment_bytes.to_string());
        configs.insert("compression.type".to_string(), "producer".to_string());
        let spec = TopicSpec {
            name: name.to_string(),
            num_partitions,
            replication_factor,
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
            self.config.txn_topic_replication_factor,
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
            self.config.offsets_topic_replication_factor,
        )
    }

    /// Changes configs of a topic or broker.
    pub fn alter_configs(
        &self,
        target: &ConfigTarget,
        changes: &[ConfigChange],
        validate_only: bool,
    ) -> Result<(), Refusal> {
        let node_id = self.placement_node();
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
        let node_id = self.placement_node();
        self.change_metadata(validate_only, |image| {
            controller::create_partitions(image, node_id, name, count, assignments).map(|r| ((), r))
        })
    }

    /// Creates a topic (CreateTopics and auto-creation).
    pub fn create_topic(&self, spec: &TopicSpec, validate_only: bool) -> Result<Uuid, Refusal> {
        if let Some(address) = self.controller_address() {
            let topic_id = self.create_topic_at(&address, spec, validate_only)?;
            if !validate_only {
                // Answer once the topic is known here too, as the leader does.
                let timeout =
                    std::time::Duration::from_millis(self.config.quorum_request_timeout_ms);
                self.wait_image(timeout, |image| image.topic_by_id(&topic_id).is_some());
            }
            return Ok(topic_id);
        }
        let node_id = self.placement_node();
        self.change_metadata(validate_only, |image| {
            controller::create_topic(image, node_id, spec)
        })
    }

    /// Creates the topics of one CreateTopics request as one metadata batch (each topic's
    /// outcome in request order; see `controller::create_topics`).
    pub fn create_topics(
        &self,
        specs: &[TopicSpec],
        validate_only: bool,
    ) -> Vec<Result<Uuid, Refusal>> {
        let node_id = self.placement_node();
        let count = specs.len();
        let outcome = self.change_metadata(validate_only, |image| {
            Ok(controller::create_topics(image, node_id, specs))
        });
        outcome.unwrap_or_else(|refusal| vec![Err(refusal); count])
    }

    /// Removes broker `id`'s registration (UnregisterBroker), on the active controller.
    pub fn unregister_broker(&self, id: i32) -> Result<(), Refusal> {
        self.change_metadata(false, |image| {
            controller::fencing::unregister_broker(image, id).map(|records| ((), records))
        })?;
        tracing::info!(broker = id, "broker unregistered");
        Ok(())
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
        if let Some(address) = self.controller_address() {
            return self.producer_id_at(&address);
        }
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
}
