//! Partition reassignments (AlterPartitionReassignments, ListPartitionReassignments), as
//! `Admin.alterPartitionReassignments` and `Admin.listPartitionReassignments` run them.

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kavka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kavka_protocol::messages::{
    AlterPartitionReassignmentsRequest, BrokerId, ListPartitionReassignmentsRequest,
};
use kavka_protocol::request::Request;
use kavka_protocol::ErrorCode;

use super::Admin;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::topic_name;

/// A reassignment to ask for: topic, partition, target replicas (`None` cancels).
pub type Reassignment = (String, i32, Option<Vec<i32>>);

/// One partition's answer: topic, partition, error, message.
pub type ReassignmentOutcome = (String, i32, ErrorCode, Option<String>);

/// A reassignment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Its replicas now (the target ones first, then those being removed).
    pub replicas: Vec<i32>,
    /// The replicas it adds.
    pub adding: Vec<i32>,
    /// The replicas it removes.
    pub removing: Vec<i32>,
}

impl Admin {
    /// Starts, changes or cancels partition reassignments; each partition's outcome.
    pub async fn alter_partition_reassignments(
        &self,
        reassignments: &[Reassignment],
    ) -> Result<Vec<ReassignmentOutcome>, ClientError> {
        let mut topics: Vec<ReassignableTopic> = Vec::new();
        for (topic, partition, target) in reassignments {
            let p = ReassignablePartition::default()
                .with_partition_index(*partition)
                .with_replicas(
                    target
                        .as_ref()
                        .map(|t| t.iter().copied().map(BrokerId).collect()),
                );
            match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    ReassignableTopic::default()
                        .with_name(topic_name(topic))
                        .with_partitions(vec![p]),
                ),
            }
        }
        let timeout_ms = self.timeout_ms();
        let (_, response) = self
            .client
            .request_any(ApiKey::AlterPartitionReassignments, |_| {
                Request::AlterPartitionReassignments(
                    AlterPartitionReassignmentsRequest::default()
                        .with_timeout_ms(timeout_ms)
                        .with_allow_replication_factor_change(true)
                        .with_topics(topics.clone()),
                )
            })
            .await?;
        let r = expect_response!(response, AlterPartitionReassignments)?;
        KafkaError::check(r.error_code, r.error_message.as_deref())?;
        Ok(r.responses
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.0.to_string(),
                        p.partition_index,
                        ErrorCode::from_code(p.error_code)
                            .unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR),
                        p.error_message.as_ref().map(|m| m.to_string()),
                    )
                })
            })
            .collect())
    }

    /// The reassignments in progress: of `partitions` (topic, indexes), or all.
    pub async fn list_partition_reassignments(
        &self,
        partitions: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<Vec<OngoingReassignment>, ClientError> {
        let topics = partitions.map(|p| {
            p.into_iter()
                .map(|(t, indexes)| {
                    ListPartitionReassignmentsTopics::default()
                        .with_name(topic_name(&t))
                        .with_partition_indexes(indexes)
                })
                .collect()
        });
        let timeout_ms = self.timeout_ms();
        let (_, response) = self
            .client
            .request_any(ApiKey::ListPartitionReassignments, |_| {
                Request::ListPartitionReassignments(
                    ListPartitionReassignmentsRequest::default()
                        .with_timeout_ms(timeout_ms)
                        .with_topics(topics.clone()),
                )
            })
            .await?;
        let r = expect_response!(response, ListPartitionReassignments)?;
        KafkaError::check(r.error_code, r.error_message.as_deref())?;
        let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<i32>>();
        Ok(r.topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| OngoingReassignment {
                    topic: t.name.0.to_string(),
                    partition: p.partition_index,
                    replicas: ids(&p.replicas),
                    adding: ids(&p.adding_replicas),
                    removing: ids(&p.removing_replicas),
                })
            })
            .collect())
    }
}
