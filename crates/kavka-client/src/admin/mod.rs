//! [`Admin`]: Kafka's admin operations on topics, configs, partitions' offsets and records,
//! the cluster, and consumer groups.
//!
//! A call fails with [`ClientError::Kafka`] naming the Kafka error when the broker refuses it;
//! calls over many items (offsets, records, groups) return each item's result instead.

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kavka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kavka_protocol::messages::delete_topics_request::DeleteTopicState;
use kavka_protocol::messages::{CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest};
use kavka_protocol::request::Request;
use kavka_protocol::ErrorCode;

use crate::client::Client;
use crate::cluster::TopicMetadata;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::{str_bytes, topic_name};

mod configs;
mod elections;
mod groups;
mod partitions;
mod quorum;
mod reassignments;
mod transactions;

pub use crate::offsets::GroupOffset;
pub use configs::{AlterConfigOp, AlterOpType, ConfigEntry, ConfigResource, ConfigSource};
pub use elections::ElectionOutcome;
pub use groups::{GroupDescription, GroupListing, MemberDescription};
pub use partitions::{ClusterDescription, DeletedRecords, ListedOffset, OffsetSpec};
pub use quorum::{QuorumInfo, QuorumReplica};
pub use reassignments::{OngoingReassignment, Reassignment, ReassignmentOutcome};
pub use transactions::{ProducerState, TransactionDescription, TransactionListing};

/// Admin operations over a [`Client`]; cheap to clone.
#[derive(Debug, Clone)]
pub struct Admin {
    client: Client,
}

impl Admin {
    /// An admin over `client`.
    pub fn new(client: Client) -> Admin {
        Admin { client }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.client.config().request_timeout_ms).unwrap_or(i32::MAX)
    }

    /// Creates a topic. `partitions` / `replication_factor` -1: the broker's defaults
    /// (CreateTopics v4+). `validate_only`: checks without creating.
    pub async fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(String, String)],
        validate_only: bool,
    ) -> Result<(), ClientError> {
        self.create_topic_assigned(
            name,
            (partitions, replication_factor),
            &[],
            configs,
            validate_only,
        )
        .await
    }

    /// Creates a topic whose partition `i` has the replicas `assignment[i]` (the first its
    /// preferred leader); `shape` (partitions, replication factor) must then be (-1, -1).
    pub async fn create_topic_assigned(
        &self,
        name: &str,
        (partitions, replication_factor): (i32, i16),
        assignment: &[Vec<i32>],
        configs: &[(String, String)],
        validate_only: bool,
    ) -> Result<(), ClientError> {
        let assignments = assignment
            .iter()
            .zip(0..)
            .map(|(brokers, i)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(i)
                    .with_broker_ids(
                        brokers
                            .iter()
                            .map(|&b| kavka_protocol::messages::BrokerId(b))
                            .collect(),
                    )
            })
            .collect();
        let topic = CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_assignments(assignments)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(str_bytes(k))
                            .with_value(Some(str_bytes(v)))
                    })
                    .collect(),
            );
        let (_, response) = self
            .client
            .request_any(ApiKey::CreateTopics, |_| {
                Request::CreateTopics(
                    CreateTopicsRequest::default()
                        .with_topics(vec![topic.clone()])
                        .with_timeout_ms(self.timeout_ms())
                        .with_validate_only(validate_only),
                )
            })
            .await?;
        let r = expect_response!(response, CreateTopics)?;
        self.client.invalidate_topic(name);
        let t = r
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == name)
            .ok_or_else(|| ClientError::Codec(format!("CreateTopics did not answer for {name}")))?;
        Ok(KafkaError::check(t.error_code, t.error_message.as_deref())?)
    }

    /// Deletes a topic.
    pub async fn delete_topic(&self, name: &str) -> Result<(), ClientError> {
        let (_, response) = self
            .client
            .request_any(ApiKey::DeleteTopics, |v| {
                let r = DeleteTopicsRequest::default().with_timeout_ms(self.timeout_ms());
                Request::DeleteTopics(if v >= 6 {
                    r.with_topics(vec![
                        DeleteTopicState::default().with_name(Some(topic_name(name)))
                    ])
                } else {
                    r.with_topic_names(vec![topic_name(name)])
                })
            })
            .await?;
        let r = expect_response!(response, DeleteTopics)?;
        self.client.invalidate_topic(name);
        let t = r
            .responses
            .first()
            .ok_or_else(|| ClientError::Codec(format!("DeleteTopics did not answer for {name}")))?;
        Ok(KafkaError::check(t.error_code, t.error_message.as_deref())?)
    }

    /// The names of all topics, sorted; internal topics (`__consumer_offsets`) only when
    /// asked.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>, ClientError> {
        let m = self.client.metadata(None).await?;
        let mut names: Vec<String> = m
            .topics
            .into_iter()
            .filter(|t| include_internal || !t.is_internal)
            .map(|t| t.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// The metadata of `names`, in that order. A topic that does not exist comes back with
    /// its error (UNKNOWN_TOPIC_OR_PARTITION) and no partitions.
    pub async fn describe_topics(
        &self,
        names: &[String],
    ) -> Result<Vec<TopicMetadata>, ClientError> {
        let m = self.client.metadata(Some(names)).await?;
        Ok(names
            .iter()
            .map(|n| {
                m.topic(n).cloned().unwrap_or_else(|| TopicMetadata {
                    name: n.clone(),
                    topic_id: uuid::Uuid::nil(),
                    is_internal: false,
                    error: Some(KafkaError::new(
                        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        format!("topic {n} is not in the metadata"),
                    )),
                    partitions: Vec::new(),
                })
            })
            .collect())
    }

    /// Raises a topic's partition count to `total_count`.
    pub async fn create_partitions(&self, name: &str, total_count: i32) -> Result<(), ClientError> {
        let (_, response) = self
            .client
            .request_any(ApiKey::CreatePartitions, |_| {
                Request::CreatePartitions(
                    CreatePartitionsRequest::default()
                        .with_topics(vec![CreatePartitionsTopic::default()
                            .with_name(topic_name(name))
                            .with_count(total_count)])
                        .with_timeout_ms(self.timeout_ms()),
                )
            })
            .await?;
        let r = expect_response!(response, CreatePartitions)?;
        self.client.invalidate_topic(name);
        let t = r.results.first().ok_or_else(|| {
            ClientError::Codec(format!("CreatePartitions did not answer for {name}"))
        })?;
        Ok(KafkaError::check(t.error_code, t.error_message.as_deref())?)
    }
}
