//! Committed offsets of a group: OffsetCommit and OffsetFetch against its coordinator, shared
//! by the admin and the consumer.

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kavka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kavka_protocol::messages::{OffsetCommitRequest, OffsetFetchRequest};
use kavka_protocol::request::Request;

use crate::client::Client;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::{by_topic, group_id, str_bytes, topic_name};

/// A committed offset of a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The committed offset (the next record to consume).
    pub offset: i64,
    /// Leader epoch of the committed record, when known.
    pub leader_epoch: Option<i32>,
    /// Metadata string committed with the offset.
    pub metadata: String,
}

/// An offset to commit: topic, partition, offset, leader epoch of the record before it.
pub(crate) type OffsetToCommit = (String, i32, i64, Option<i32>);

/// A partition's share of a commit: partition, offset, leader epoch.
type PartitionCommit = (i32, i64, Option<i32>);

/// Who commits: a member of the current generation, or (`generation_id` -1, empty member id)
/// an admin or a consumer without group membership.
#[derive(Debug, Clone)]
pub(crate) struct Committer<'a> {
    pub(crate) group_id: &'a str,
    pub(crate) generation_id: i32,
    pub(crate) member_id: &'a str,
    pub(crate) group_instance_id: Option<&'a str>,
}

/// Commits `offsets` (topic, partition, offset, leader epoch) at the coordinator `node`; the
/// first partition error is returned as `Err`.
pub(crate) async fn commit(
    client: &Client,
    node: i32,
    who: &Committer<'_>,
    offsets: &[OffsetToCommit],
) -> Result<(), ClientError> {
    let items: Vec<(String, PartitionCommit)> = offsets
        .iter()
        .map(|(t, p, o, e)| (t.clone(), (*p, *o, *e)))
        .collect();
    let topics: Vec<OffsetCommitRequestTopic> = by_topic(&items)
        .into_iter()
        .map(|(topic, partitions)| {
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(&topic))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(p, offset, epoch)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(epoch.unwrap_or(-1))
                                .with_committed_metadata(Some(str_bytes("")))
                        })
                        .collect(),
                )
        })
        .collect();
    let (_, response) = client
        .request(node, ApiKey::OffsetCommit, |v| {
            let r = OffsetCommitRequest::default()
                .with_group_id(group_id(who.group_id))
                .with_generation_id_or_member_epoch(who.generation_id)
                .with_member_id(str_bytes(who.member_id))
                .with_topics(topics.clone());
            Request::OffsetCommit(if v >= 7 {
                r.with_group_instance_id(who.group_instance_id.map(str_bytes))
            } else {
                r
            })
        })
        .await?;
    let r = expect_response!(response, OffsetCommit)?;
    for t in &r.topics {
        for p in &t.partitions {
            KafkaError::check(p.error_code, None)?;
        }
    }
    Ok(())
}

/// The committed offsets of `group` at the coordinator `node`: of `partitions`, or of every
/// partition with a commit (`None`). Partitions without a commit have offset -1.
pub(crate) async fn fetch(
    client: &Client,
    node: i32,
    group: &str,
    partitions: Option<&[(String, i32)]>,
) -> Result<Vec<GroupOffset>, ClientError> {
    let wanted: Option<Vec<(String, Vec<i32>)>> = partitions.map(by_topic);
    let (version, response) = client
        .request(node, ApiKey::OffsetFetch, |v| {
            Request::OffsetFetch(if v >= 8 {
                let topics = wanted.as_ref().map(|w| {
                    w.iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopics::default()
                                .with_name(topic_name(t))
                                .with_partition_indexes(ps.clone())
                        })
                        .collect()
                });
                OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(group_id(group))
                    .with_topics(topics)])
            } else {
                let topics = wanted.as_ref().map(|w| {
                    w.iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopic::default()
                                .with_name(topic_name(t))
                                .with_partition_indexes(ps.clone())
                        })
                        .collect()
                });
                OffsetFetchRequest::default()
                    .with_group_id(group_id(group))
                    .with_topics(topics)
            })
        })
        .await?;
    let r = expect_response!(response, OffsetFetch)?;
    let mut out = Vec::new();
    let mut push = |topic: &str,
                    partition: i32,
                    offset: i64,
                    epoch: i32,
                    metadata: Option<&str>,
                    error_code: i16|
     -> Result<(), ClientError> {
        KafkaError::check(error_code, None)?;
        out.push(GroupOffset {
            topic: topic.to_string(),
            partition,
            offset,
            leader_epoch: (epoch >= 0).then_some(epoch),
            metadata: metadata.unwrap_or_default().to_string(),
        });
        Ok(())
    };
    if version >= 8 {
        let g = r
            .groups
            .first()
            .ok_or_else(|| ClientError::Codec("OffsetFetch answered no group".into()))?;
        KafkaError::check(g.error_code, None)?;
        for t in &g.topics {
            for p in &t.partitions {
                push(
                    &t.name,
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.as_deref(),
                    p.error_code,
                )?;
            }
        }
    } else {
        KafkaError::check(r.error_code, None)?;
        for t in &r.topics {
            for p in &t.partitions {
                push(
                    &t.name,
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata.as_deref(),
                    p.error_code,
                )?;
            }
        }
    }
    out.sort();
    Ok(out)
}
