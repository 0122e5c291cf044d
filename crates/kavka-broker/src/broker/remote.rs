//! The decisions a node makes for itself, asked of the active controller when another node is
//! it: creating a topic (auto-creation, a coordinator's internal topic) and a new producer id.
//! They go as the Kafka requests a client would send (CreateTopics, InitProducerId without a
//! transactional id), so the controller decides them like any other.

use std::time::Duration;

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kavka_protocol::messages::{CreateTopicsRequest, InitProducerIdRequest, TopicName};
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::Broker;
use crate::controller::{Refusal, TopicSpec};
use crate::forward;
use crate::txn_coordinator::markers::Marker;

/// CreateTopics version used (v7: the answer carries the topic id).
const CREATE_TOPICS_VERSION: i16 = 7;
/// InitProducerId version used.
const INIT_PRODUCER_ID_VERSION: i16 = 4;

pub(super) fn refused(code: i16, message: Option<&StrBytes>) -> Refusal {
    (
        ErrorCode::from_code(code).unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR),
        message.map(|m| m.to_string()).unwrap_or_default(),
    )
}

impl Broker {
    fn controller_timeout(&self) -> Duration {
        Duration::from_millis(self.config.quorum_request_timeout_ms.saturating_mul(2))
    }

    /// Creates `spec` at the controller at `address`.
    pub(super) fn create_topic_at(
        &self,
        address: &str,
        spec: &TopicSpec,
        validate_only: bool,
    ) -> Result<Uuid, Refusal> {
        let mut topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(spec.name.clone())))
            .with_num_partitions(spec.num_partitions)
            .with_replication_factor(spec.replication_factor)
            .with_configs(
                spec.configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_string(k.clone()))
                            .with_value(Some(StrBytes::from_string(v.clone())))
                    })
                    .collect(),
            );
        if !spec.assignments.is_empty() {
            topic = topic.with_num_partitions(-1).with_replication_factor(-1).with_assignments(
                spec.assignments
                    .iter()
                    .map(|(p, replicas)| {
                        kavka_protocol::messages::create_topics_request::CreatableReplicaAssignment::default()
                            .with_partition_index(*p)
                            .with_broker_ids(replicas.iter().copied().map(kavka_protocol::messages::BrokerId).collect())
                    })
                    .collect(),
            );
        }
        let timeout = self.controller_timeout();
        let request = Request::CreateTopics(
            CreateTopicsRequest::default()
                .with_topics(vec![topic])
                .with_timeout_ms(i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX))
                .with_validate_only(validate_only),
        );
        let response = forward::call(address, CREATE_TOPICS_VERSION, &request, timeout)?;
        let Response::CreateTopics(r) = response else {
            return Err((
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "not a CreateTopics response".into(),
            ));
        };
        let t = r
            .topics
            .into_iter()
            .find(|t| t.name.0.as_str() == spec.name)
            .ok_or((
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "no answer for the topic".to_string(),
            ))?;
        if t.error_code != 0 {
            return Err(refused(t.error_code, t.error_message.as_ref()));
        }
        Ok(t.topic_id)
    }

    /// Writes a transaction marker to a partition another broker leads, with WriteTxnMarkers
    /// (v1) to that broker; its error code, or NOT_LEADER_OR_FOLLOWER when it cannot be asked
    /// (the coordinator retries).
    pub fn write_marker_at_leader(&self, marker: &Marker<'_>) -> ErrorCode {
        use kavka_protocol::messages::write_txn_markers_request::{
            WritableTxnMarker, WritableTxnMarkerTopic,
        };
        let (topic, partition) = (marker.topic, marker.partition);
        let image = self.image();
        let leader = image
            .topic_by_name(topic)
            .and_then(|t| t.partitions.get(&partition))
            .map(|p| p.leader);
        let Some(address) = leader.and_then(|l| self.broker_address(l)) else {
            return ErrorCode::NOT_LEADER_OR_FOLLOWER;
        };
        let wire = WritableTxnMarker::default()
            .with_producer_id(kavka_protocol::messages::ProducerId(marker.producer_id))
            .with_producer_epoch(marker.epoch)
            .with_transaction_result(marker.commit)
            .with_coordinator_epoch(marker.coordinator_epoch)
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_indexes(vec![partition])]);
        let request = Request::WriteTxnMarkers(
            kavka_protocol::messages::WriteTxnMarkersRequest::default().with_markers(vec![wire]),
        );
        match forward::call(&address, 1, &request, self.controller_timeout()) {
            Ok(Response::WriteTxnMarkers(r)) => r
                .markers
                .iter()
                .flat_map(|m| &m.topics)
                .flat_map(|t| &t.partitions)
                .map(|p| {
                    ErrorCode::from_code(p.error_code).unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR)
                })
                .next()
                .unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR),
            Ok(_) => ErrorCode::UNKNOWN_SERVER_ERROR,
            Err((_, why)) => {
                tracing::debug!(topic, partition, %address, error = %why, "marker not sent to the partition leader");
                ErrorCode::NOT_LEADER_OR_FOLLOWER
            }
        }
    }

    /// A new producer id from the controller at `address`.
    pub(super) fn producer_id_at(&self, address: &str) -> Result<i64, Refusal> {
        let timeout = self.controller_timeout();
        let request = Request::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(-1)
                .with_producer_id(kavka_protocol::messages::ProducerId(-1))
                .with_producer_epoch(-1),
        );
        let response = forward::call(address, INIT_PRODUCER_ID_VERSION, &request, timeout)?;
        let Response::InitProducerId(r) = response else {
            return Err((
                ErrorCode::UNKNOWN_SERVER_ERROR,
                "not an InitProducerId response".into(),
            ));
        };
        if r.error_code != 0 {
            return Err(refused(r.error_code, None));
        }
        Ok(r.producer_id.0)
    }
}
