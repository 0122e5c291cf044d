//! Transaction administration (what `kafka-transactions.sh` uses): list and describe
//! transactional ids, describe a partition's producers, and abort a hanging transaction by
//! writing its ABORT marker (WriteTxnMarkers to the partition's leader, with the producer's id,
//! epoch and coordinator epoch from DescribeProducers, as Kafka's `abortTransaction`).

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::describe_producers_request::TopicRequest;
use kavka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kavka_protocol::messages::{
    DescribeProducersRequest, DescribeTransactionsRequest, ListTransactionsRequest, ProducerId,
    TransactionalId, WriteTxnMarkersRequest,
};
use kavka_protocol::request::Request;
use kavka_protocol::ErrorCode;

use super::Admin;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::{str_bytes, topic_name};

/// A transactional id as ListTransactions shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionListing {
    /// The transactional id.
    pub transactional_id: String,
    /// The node coordinating it.
    pub coordinator: i32,
    /// Its producer id.
    pub producer_id: i64,
    /// Kafka's state name (`Ongoing`, `CompleteCommit`, ...).
    pub state: String,
}

/// A transactional id as DescribeTransactions shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    /// The node coordinating it.
    pub coordinator: i32,
    /// Its producer id and epoch.
    pub producer_id: i64,
    /// The epoch.
    pub producer_epoch: i16,
    /// Kafka's state name.
    pub state: String,
    /// The transaction timeout.
    pub timeout_ms: i32,
    /// Start of the open transaction, -1 when none.
    pub start_time_ms: i64,
    /// Its partitions.
    pub partitions: Vec<(String, i32)>,
}

/// A producer of a partition, as DescribeProducers shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    /// The producer id.
    pub producer_id: i64,
    /// Its epoch.
    pub producer_epoch: i32,
    /// Epoch of the coordinator of its last marker, -1 when none.
    pub coordinator_epoch: i32,
    /// Its last sequence.
    pub last_sequence: i32,
    /// Timestamp of its last batch.
    pub last_timestamp: i64,
    /// First offset of its open transaction, -1 when none.
    pub current_txn_start_offset: i64,
}

impl Admin {
    /// Every transactional id of every broker, filtered by state names and producer ids
    /// (empty filters: all) and, when `duration_filter_ms` is not negative, to transactions
    /// running longer than that.
    pub async fn list_transactions(
        &self,
        states: &[String],
        producer_ids: &[i64],
        duration_filter_ms: i64,
    ) -> Result<Vec<TransactionListing>, ClientError> {
        let brokers = self.client.metadata(Some(&[])).await?.brokers;
        let mut out = Vec::new();
        for b in brokers {
            let (_, response) = self
                .client
                .request(b.node_id, ApiKey::ListTransactions, |_| {
                    Request::ListTransactions(
                        ListTransactionsRequest::default()
                            .with_state_filters(states.iter().map(|s| str_bytes(s)).collect())
                            .with_producer_id_filters(
                                producer_ids.iter().map(|&p| ProducerId(p)).collect(),
                            )
                            .with_duration_filter(duration_filter_ms),
                    )
                })
                .await?;
            let r = expect_response!(response, ListTransactions)?;
            KafkaError::check(r.error_code, None)?;
            out.extend(r.transaction_states.iter().map(|t| TransactionListing {
                transactional_id: t.transactional_id.0.to_string(),
                coordinator: b.node_id,
                producer_id: t.producer_id.0,
                state: t.transaction_state.to_string(),
            }));
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        Ok(out)
    }

    /// The state of one transactional id (TRANSACTIONAL_ID_NOT_FOUND when unknown).
    pub async fn describe_transaction(
        &self,
        transactional_id: &str,
    ) -> Result<TransactionDescription, ClientError> {
        let node = self
            .client
            .transaction_coordinator(transactional_id)
            .await?;
        let id = TransactionalId(str_bytes(transactional_id));
        let (_, response) = self
            .client
            .request(node, ApiKey::DescribeTransactions, |_| {
                Request::DescribeTransactions(
                    DescribeTransactionsRequest::default().with_transactional_ids(vec![id]),
                )
            })
            .await?;
        let r = expect_response!(response, DescribeTransactions)?;
        let s = r
            .transaction_states
            .first()
            .ok_or_else(|| ClientError::Codec("DescribeTransactions answered nothing".into()))?;
        KafkaError::check(s.error_code, None)?;
        Ok(TransactionDescription {
            coordinator: node,
            producer_id: s.producer_id.0,
            producer_epoch: s.producer_epoch,
            state: s.transaction_state.to_string(),
            timeout_ms: s.transaction_timeout_ms,
            start_time_ms: s.transaction_start_time_ms,
            partitions: s
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |&p| (t.topic.0.to_string(), p))
                })
                .collect(),
        })
    }

    /// The leader of a partition.
    async fn leader_of(&self, topic: &str, partition: i32) -> Result<i32, ClientError> {
        let md = self.client.metadata(Some(&[topic.to_string()])).await?;
        md.topic(topic)
            .and_then(|t| t.partitions.iter().find(|p| p.partition == partition))
            .map(|p| p.leader)
            .filter(|&l| l >= 0)
            .ok_or_else(|| {
                KafkaError::new(
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("{topic}-{partition} has no leader"),
                )
                .into()
            })
    }

    /// The producers of a partition, from its leader.
    pub async fn describe_producers(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Vec<ProducerState>, ClientError> {
        self.describe_producers_on(topic, partition, None).await
    }

    /// The producers of a partition, from `broker` (one of its replicas) or its leader.
    pub async fn describe_producers_on(
        &self,
        topic: &str,
        partition: i32,
        broker: Option<i32>,
    ) -> Result<Vec<ProducerState>, ClientError> {
        let node = match broker {
            Some(b) => b,
            None => self.leader_of(topic, partition).await?,
        };
        let (_, response) = self
            .client
            .request(node, ApiKey::DescribeProducers, |_| {
                Request::DescribeProducers(DescribeProducersRequest::default().with_topics(vec![
                    TopicRequest::default()
                        .with_name(topic_name(topic))
                        .with_partition_indexes(vec![partition]),
                ]))
            })
            .await?;
        let r = expect_response!(response, DescribeProducers)?;
        let p = r
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| ClientError::Codec("DescribeProducers answered nothing".into()))?;
        KafkaError::check(p.error_code, p.error_message.as_deref())?;
        Ok(p.active_producers
            .iter()
            .map(|s| ProducerState {
                producer_id: s.producer_id.0,
                producer_epoch: s.producer_epoch,
                coordinator_epoch: s.coordinator_epoch,
                last_sequence: s.last_sequence,
                last_timestamp: s.last_timestamp,
                current_txn_start_offset: s.current_txn_start_offset,
            })
            .collect())
    }

    /// Aborts the transaction open on `topic`-`partition` since `start_offset`: writes an ABORT
    /// marker with that producer's id and epoch to the partition's leader.
    pub async fn abort_transaction(
        &self,
        topic: &str,
        partition: i32,
        start_offset: i64,
    ) -> Result<(), ClientError> {
        let producers = self.describe_producers(topic, partition).await?;
        let Some(p) = producers
            .iter()
            .find(|p| p.current_txn_start_offset == start_offset)
        else {
            return Err(KafkaError::new(
                ErrorCode::INVALID_TXN_STATE,
                format!("no transaction of {topic}-{partition} starts at offset {start_offset}"),
            )
            .into());
        };
        let epoch = i16::try_from(p.producer_epoch).unwrap_or(i16::MAX);
        self.abort_producer_transaction(topic, partition, p.producer_id, epoch, p.coordinator_epoch)
            .await
    }

    /// Aborts the transaction of producer `producer_id` (at `producer_epoch`) open on
    /// `topic`-`partition`: an ABORT marker written to the partition's leader. A negative
    /// coordinator epoch (a producer that never finished a transaction) is sent as 0.
    pub async fn abort_producer_transaction(
        &self,
        topic: &str,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), ClientError> {
        let leader = self.leader_of(topic, partition).await?;
        let marker = WritableTxnMarker::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch)
            .with_transaction_result(false)
            .with_coordinator_epoch(coordinator_epoch.max(0))
            .with_topics(vec![WritableTxnMarkerTopic::default()
                .with_name(topic_name(topic))
                .with_partition_indexes(vec![partition])]);
        let (_, response) = self
            .client
            .request(leader, ApiKey::WriteTxnMarkers, |_| {
                Request::WriteTxnMarkers(
                    WriteTxnMarkersRequest::default().with_markers(vec![marker]),
                )
            })
            .await?;
        let r = expect_response!(response, WriteTxnMarkers)?;
        let code = r
            .markers
            .first()
            .and_then(|m| m.topics.first())
            .and_then(|t| t.partitions.first())
            .map_or(0, |p| p.error_code);
        KafkaError::check(code, None)?;
        Ok(())
    }
}
