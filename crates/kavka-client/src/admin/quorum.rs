//! The metadata quorum (DescribeQuorum), as `Admin.describeMetadataQuorum` reports it, and
//! its brokers' registrations (UnregisterBroker, `Admin.unregisterBroker`).

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kavka_protocol::messages::{BrokerId, DescribeQuorumRequest, UnregisterBrokerRequest};
use kavka_protocol::request::Request;

use super::Admin;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::topic_name;

/// One voter or observer of the quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    /// Its node id.
    pub replica_id: i32,
    /// Its metadata log directory id (KIP-853; nil when unknown).
    pub directory_id: uuid::Uuid,
    /// The offset after its last log entry.
    pub log_end_offset: i64,
    /// When it last fetched from the leader (-1: the leader itself, or unknown).
    pub last_fetch_timestamp: i64,
    /// When it was last caught up (-1: the leader itself, or unknown).
    pub last_caught_up_timestamp: i64,
}

/// The state of the metadata quorum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumInfo {
    /// The leader's node id.
    pub leader_id: i32,
    /// The leader's epoch.
    pub leader_epoch: i32,
    /// The offset after the last committed entry.
    pub high_watermark: i64,
    /// The voters.
    pub voters: Vec<QuorumReplica>,
    /// The observers (brokers that follow without voting).
    pub observers: Vec<QuorumReplica>,
}

fn replica(r: &kavka_protocol::messages::describe_quorum_response::ReplicaState) -> QuorumReplica {
    QuorumReplica {
        replica_id: r.replica_id.0,
        directory_id: r.replica_directory_id,
        log_end_offset: r.log_end_offset,
        last_fetch_timestamp: r.last_fetch_timestamp,
        last_caught_up_timestamp: r.last_caught_up_timestamp,
    }
}

impl Admin {
    /// Removes broker `id`'s registration (the controller fences it first); a broker still
    /// running registers again.
    pub async fn unregister_broker(&self, id: i32) -> Result<(), ClientError> {
        let (_, response) = self
            .client
            .request_any(ApiKey::UnregisterBroker, |_| {
                Request::UnregisterBroker(
                    UnregisterBrokerRequest::default().with_broker_id(BrokerId(id)),
                )
            })
            .await?;
        let r = expect_response!(response, UnregisterBroker)?;
        KafkaError::check(r.error_code, r.error_message.as_deref())?;
        Ok(())
    }

    /// The metadata quorum of `__cluster_metadata` partition 0.
    pub async fn describe_metadata_quorum(&self) -> Result<QuorumInfo, ClientError> {
        let (_, response) = self
            .client
            .request_any(ApiKey::DescribeQuorum, |_| {
                Request::DescribeQuorum(DescribeQuorumRequest::default().with_topics(vec![
                    TopicData::default()
                        .with_topic_name(topic_name("__cluster_metadata"))
                        .with_partitions(vec![PartitionData::default().with_partition_index(0)]),
                ]))
            })
            .await?;
        let r = expect_response!(response, DescribeQuorum)?;
        KafkaError::check(r.error_code, r.error_message.as_deref())?;
        let p = r
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| {
                KafkaError::new(
                    kavka_protocol::ErrorCode::UNKNOWN_SERVER_ERROR,
                    "DescribeQuorum answered without the metadata partition".to_string(),
                )
            })?;
        KafkaError::check(p.error_code, p.error_message.as_deref())?;
        Ok(QuorumInfo {
            leader_id: p.leader_id.0,
            leader_epoch: p.leader_epoch,
            high_watermark: p.high_watermark,
            voters: p.current_voters.iter().map(replica).collect(),
            observers: p.observers.iter().map(replica).collect(),
        })
    }
}
