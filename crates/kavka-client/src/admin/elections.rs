//! Leader elections (ElectLeaders), as `Admin.electLeaders` runs them.

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::elect_leaders_request::TopicPartitions;
use kavka_protocol::messages::ElectLeadersRequest;
use kavka_protocol::request::Request;
use kavka_protocol::ErrorCode;

use super::Admin;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::topic_name;

/// One partition's election outcome: topic, partition, and its error (NONE: elected).
pub type ElectionOutcome = (String, i32, ErrorCode);

impl Admin {
    /// Elects leaders: `election_type` 0 preferred, 1 unclean; `partitions` `None` for every
    /// partition (then only those an election was tried for are answered).
    pub async fn elect_leaders(
        &self,
        election_type: i8,
        partitions: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<Vec<ElectionOutcome>, ClientError> {
        let topics = partitions.map(|p| {
            p.into_iter()
                .map(|(t, ps)| {
                    TopicPartitions::default()
                        .with_topic(topic_name(&t))
                        .with_partitions(ps)
                })
                .collect()
        });
        let timeout_ms = self.timeout_ms();
        let (_, response) = self
            .client
            .request_any(ApiKey::ElectLeaders, |_| {
                Request::ElectLeaders(
                    ElectLeadersRequest::default()
                        .with_election_type(election_type)
                        .with_topic_partitions(topics.clone())
                        .with_timeout_ms(timeout_ms),
                )
            })
            .await?;
        let r = expect_response!(response, ElectLeaders)?;
        KafkaError::check(r.error_code, None)?;
        Ok(r.replica_election_results
            .iter()
            .flat_map(|t| {
                t.partition_result.iter().map(|p| {
                    (
                        t.topic.0.to_string(),
                        p.partition_id,
                        ErrorCode::from_code(p.error_code)
                            .unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR),
                    )
                })
            })
            .collect())
    }
}
