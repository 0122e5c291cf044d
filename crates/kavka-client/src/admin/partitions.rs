//! Partition-level admin calls routed to each partition's leader (ListOffsets, DeleteRecords),
//! and DescribeCluster.

use std::collections::BTreeMap;

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kavka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kavka_protocol::messages::{
    BrokerId, DeleteRecordsRequest, DescribeClusterRequest, ListOffsetsRequest,
};
use kavka_protocol::request::Request;

use super::Admin;
use crate::client::Client;
use crate::cluster::BrokerInfo;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::{by_topic, topic_name};

/// Attempts of a partition whose leader answered a retriable error (metadata refreshed in
/// between).
const LEADER_ATTEMPTS_MAX: usize = 3;

/// Which offset ListOffsets looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (-2).
    Earliest,
    /// The log end offset (-1).
    Latest,
    /// The offset of the record with the largest timestamp (-3; ListOffsets v7+).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this (ms since the epoch).
    Timestamp(i64),
}

impl OffsetSpec {
    /// The `timestamp` field of the request.
    pub fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// A ListOffsets answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The offset (-1 when no record matches a timestamp).
    pub offset: i64,
    /// Timestamp of that record (-1 for earliest / latest).
    pub timestamp: i64,
    /// The partition's error.
    pub error: Option<KafkaError>,
}

/// A DeleteRecords answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedRecords {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The new low watermark (log start offset), or the partition's error.
    pub result: Result<i64, KafkaError>,
}

/// A DescribeCluster answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: String,
    /// Controller node id (-1 when unknown).
    pub controller_id: i32,
    /// Brokers, by node id.
    pub brokers: Vec<BrokerInfo>,
}

/// One partition's answer from its leader: `Ok(value)` or the Kafka error.
type PartitionAnswer<T> = Result<T, KafkaError>;

/// Sends one request per leader over `items` (topic, partition, argument) and collects each
/// partition's answer; partitions answered with a retriable error are retried with fresh
/// metadata. `call` sends one leader's share and returns (topic, partition, answer) triples.
async fn per_leader<A, T, F, Fut>(
    client: &Client,
    items: &[(String, i32, A)],
    mut call: F,
) -> Result<BTreeMap<(String, i32), PartitionAnswer<T>>, ClientError>
where
    A: Clone,
    F: FnMut(i32, Vec<(String, i32, A)>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(String, i32, PartitionAnswer<T>)>, ClientError>>,
{
    let mut answers = BTreeMap::new();
    let mut pending: Vec<(String, i32, A)> = items.to_vec();
    for attempt in 1..=LEADER_ATTEMPTS_MAX {
        let mut by_leader: BTreeMap<i32, Vec<(String, i32, A)>> = BTreeMap::new();
        for (topic, partition, arg) in pending.drain(..) {
            match client.leader(&topic, partition).await {
                Ok(leader) => by_leader
                    .entry(leader)
                    .or_default()
                    .push((topic, partition, arg)),
                Err(ClientError::Kafka(e)) => {
                    answers.insert((topic, partition), Err(e));
                }
                Err(e) => return Err(e),
            }
        }
        let mut retry = Vec::new();
        for (leader, share) in by_leader {
            for (topic, partition, answer) in call(leader, share.clone()).await? {
                if matches!(&answer, Err(e) if e.is_retriable()) && attempt < LEADER_ATTEMPTS_MAX {
                    client.invalidate_topic(&topic);
                    if let Some(item) = share
                        .iter()
                        .find(|(t, p, _)| *t == topic && *p == partition)
                    {
                        retry.push(item.clone());
                    }
                }
                answers.insert((topic, partition), answer);
            }
        }
        if retry.is_empty() {
            break;
        }
        pending = retry;
        tokio::time::sleep(std::time::Duration::from_millis(
            crate::client::RETRY_BACKOFF_MS,
        ))
        .await;
    }
    Ok(answers)
}

impl Admin {
    /// Looks up `spec` in each partition, asking each partition's leader.
    pub async fn list_offsets(
        &self,
        partitions: &[(String, i32)],
        spec: OffsetSpec,
    ) -> Result<Vec<ListedOffset>, ClientError> {
        let items: Vec<(String, i32, ())> = partitions
            .iter()
            .map(|(t, p)| (t.clone(), *p, ()))
            .collect();
        let timeout_ms = i32::try_from(self.client.config().request_timeout_ms).unwrap_or(i32::MAX);
        let client = &self.client;
        let answers = per_leader(client, &items, |leader, share| async move {
            let topics: Vec<ListOffsetsTopic> = by_topic(
                &share
                    .iter()
                    .map(|(t, p, _)| (t.clone(), *p))
                    .collect::<Vec<_>>(),
            )
            .into_iter()
            .map(|(t, ps)| {
                ListOffsetsTopic::default()
                    .with_name(topic_name(&t))
                    .with_partitions(
                        ps.into_iter()
                            .map(|p| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(p)
                                    .with_timestamp(spec.wire())
                            })
                            .collect(),
                    )
            })
            .collect();
            let (_, response) = client
                .request(leader, ApiKey::ListOffsets, |_| {
                    Request::ListOffsets(
                        ListOffsetsRequest::default()
                            .with_replica_id(BrokerId(-1))
                            .with_topics(topics)
                            .with_timeout_ms(timeout_ms),
                    )
                })
                .await?;
            let r = expect_response!(response, ListOffsets)?;
            Ok(r.topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(move |p| {
                        let answer = match KafkaError::from_wire(p.error_code, None) {
                            Some(e) => Err(e),
                            None => Ok((p.offset, p.timestamp)),
                        };
                        (t.name.to_string(), p.partition_index, answer)
                    })
                })
                .collect())
        })
        .await?;
        Ok(partitions
            .iter()
            .map(|(topic, partition)| {
                let answer = answers.get(&(topic.clone(), *partition)).cloned();
                let (offset, timestamp, error) = match answer {
                    Some(Ok((o, ts))) => (o, ts, None),
                    Some(Err(e)) => (-1, -1, Some(e)),
                    None => (-1, -1, Some(no_answer(topic, *partition))),
                };
                ListedOffset {
                    topic: topic.clone(),
                    partition: *partition,
                    offset,
                    timestamp,
                    error,
                }
            })
            .collect())
    }

    /// Deletes the records of each partition before an offset (-1: the high watermark), asking
    /// each partition's leader.
    pub async fn delete_records(
        &self,
        before: &[(String, i32, i64)],
    ) -> Result<Vec<DeletedRecords>, ClientError> {
        let timeout_ms = i32::try_from(self.client.config().request_timeout_ms).unwrap_or(i32::MAX);
        let client = &self.client;
        let answers = per_leader(client, before, |leader, share| async move {
            let items: Vec<(String, (i32, i64))> = share
                .iter()
                .map(|(t, p, o)| (t.clone(), (*p, *o)))
                .collect();
            let topics: Vec<DeleteRecordsTopic> = by_topic(&items)
                .into_iter()
                .map(|(t, ps)| {
                    DeleteRecordsTopic::default()
                        .with_name(topic_name(&t))
                        .with_partitions(
                            ps.into_iter()
                                .map(|(p, o)| {
                                    DeleteRecordsPartition::default()
                                        .with_partition_index(p)
                                        .with_offset(o)
                                })
                                .collect(),
                        )
                })
                .collect();
            let (_, response) = client
                .request(leader, ApiKey::DeleteRecords, |_| {
                    Request::DeleteRecords(
                        DeleteRecordsRequest::default()
                            .with_topics(topics)
                            .with_timeout_ms(timeout_ms),
                    )
                })
                .await?;
            let r = expect_response!(response, DeleteRecords)?;
            Ok(r.topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(move |p| {
                        let answer = match KafkaError::from_wire(p.error_code, None) {
                            Some(e) => Err(e),
                            None => Ok(p.low_watermark),
                        };
                        (t.name.to_string(), p.partition_index, answer)
                    })
                })
                .collect())
        })
        .await?;
        Ok(before
            .iter()
            .map(|(topic, partition, _)| DeletedRecords {
                topic: topic.clone(),
                partition: *partition,
                result: answers
                    .get(&(topic.clone(), *partition))
                    .cloned()
                    .unwrap_or_else(|| Err(no_answer(topic, *partition))),
            })
            .collect())
    }

    /// The cluster id, controller and brokers (DescribeCluster; Metadata for brokers without
    /// it).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription, ClientError> {
        match self
            .client
            .request_any(ApiKey::DescribeCluster, |_| {
                Request::DescribeCluster(DescribeClusterRequest::default())
            })
            .await
        {
            Ok((_, response)) => {
                let r = expect_response!(response, DescribeCluster)?;
                KafkaError::check(r.error_code, r.error_message.as_deref())?;
                let mut brokers: Vec<BrokerInfo> = r
                    .brokers
                    .iter()
                    .map(|b| BrokerInfo {
                        node_id: b.broker_id.0,
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                    })
                    .collect();
                brokers.sort_by_key(|b| b.node_id);
                Ok(ClusterDescription {
                    cluster_id: r.cluster_id.to_string(),
                    controller_id: r.controller_id.0,
                    brokers,
                })
            }
            Err(ClientError::UnsupportedVersion(_)) => {
                let m = self.client.metadata(Some(&[])).await?;
                Ok(ClusterDescription {
                    cluster_id: m.cluster_id.unwrap_or_default(),
                    controller_id: m.controller_id,
                    brokers: m.brokers,
                })
            }
            Err(e) => Err(e),
        }
    }
}

fn no_answer(topic: &str, partition: i32) -> KafkaError {
    KafkaError::new(
        kavka_protocol::ErrorCode::UNKNOWN_SERVER_ERROR,
        format!("the leader did not answer for {topic}-{partition}"),
    )
}
