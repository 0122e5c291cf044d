//! Consumer-group admin calls: list (every broker), describe, offsets (list, alter, delete),
//! delete groups; each group's requests go to its coordinator.

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kavka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest, OffsetDeleteRequest,
};
use kavka_protocol::request::Request;

use super::Admin;
use crate::cluster::BrokerInfo;
use crate::connection::expect_response;
use crate::consumer_protocol::{Assignment, CONSUMER_PROTOCOL_TYPE};
use crate::error::{ClientError, KafkaError};
use crate::offsets::{self, Committer, GroupOffset};
use crate::wire::{by_topic, group_id, str_bytes, topic_name};

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// Protocol type (`consumer` for consumer groups; empty for offsets-only groups).
    pub protocol_type: String,
    /// State (`Stable`, `Empty`...; ListGroups v4+).
    pub state: Option<String>,
    /// Group type (`classic`, `consumer`...; ListGroups v5+).
    pub group_type: Option<String>,
}

/// A member of a described group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static member id.
    pub group_instance_id: Option<String>,
    /// The member's `client.id`.
    pub client_id: String,
    /// The member's host, as the coordinator saw it (`/127.0.0.1`).
    pub client_host: String,
    /// Assigned partitions by topic, decoded from the consumer protocol assignment (empty for
    /// other protocol types or an undecodable assignment).
    pub assignment: Vec<(String, Vec<i32>)>,
}

/// A DescribeGroups answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// The group's error (e.g. GROUP_ID_NOT_FOUND from DescribeGroups v6).
    pub error: Option<KafkaError>,
    /// State (`Stable`, `Empty`, `Dead`...).
    pub state: String,
    /// Protocol type.
    pub protocol_type: String,
    /// The chosen protocol (the assignor of consumer groups).
    pub protocol: String,
    /// The coordinator that answered.
    pub coordinator: BrokerInfo,
    /// Members.
    pub members: Vec<MemberDescription>,
}

impl Admin {
    /// The groups of every broker (sorted by id); `states` filters by state (ListGroups v4+;
    /// empty: all).
    pub async fn list_groups(&self, states: &[String]) -> Result<Vec<GroupListing>, ClientError> {
        let brokers = self.client.metadata(Some(&[])).await?.brokers;
        let mut out: Vec<GroupListing> = Vec::new();
        for b in brokers {
            let (version, response) = self
                .client
                .request(b.node_id, ApiKey::ListGroups, |v| {
                    let r = ListGroupsRequest::default();
                    Request::ListGroups(if v >= 4 {
                        r.with_states_filter(states.iter().map(|s| str_bytes(s)).collect())
                    } else {
                        r
                    })
                })
                .await?;
            let r = expect_response!(response, ListGroups)?;
            KafkaError::check(r.error_code, None)?;
            out.extend(r.groups.iter().map(|g| GroupListing {
                group_id: g.group_id.to_string(),
                protocol_type: g.protocol_type.to_string(),
                state: (version >= 4).then(|| g.group_state.to_string()),
                group_type: (version >= 5).then(|| g.group_type.to_string()),
            }));
        }
        out.sort();
        out.dedup_by(|a, b| a.group_id == b.group_id);
        Ok(out)
    }

    /// Describes each group at its coordinator, in the order given.
    pub async fn describe_groups(
        &self,
        group_ids: &[String],
    ) -> Result<Vec<GroupDescription>, ClientError> {
        let mut out = Vec::with_capacity(group_ids.len());
        for id in group_ids {
            let client = &self.client;
            let d = client
                .with_coordinator(id, |node| async move {
                    let (_, response) = client
                        .request(node, ApiKey::DescribeGroups, |_| {
                            Request::DescribeGroups(
                                DescribeGroupsRequest::default().with_groups(vec![group_id(id)]),
                            )
                        })
                        .await?;
                    let r = expect_response!(response, DescribeGroups)?;
                    let g = r.groups.into_iter().next().ok_or_else(|| {
                        ClientError::Codec("DescribeGroups answered no group".into())
                    })?;
                    let error = KafkaError::from_wire(g.error_code, g.error_message.as_deref());
                    if let Some(e) = error.clone().map(ClientError::Kafka) {
                        if e.is_coordinator_error() {
                            return Err(e);
                        }
                    }
                    let coordinator = client.broker(node).unwrap_or(BrokerInfo {
                        node_id: node,
                        host: String::new(),
                        port: -1,
                        rack: None,
                    });
                    let consumer = g.protocol_type.as_str() == CONSUMER_PROTOCOL_TYPE;
                    Ok(GroupDescription {
                        group_id: g.group_id.to_string(),
                        error,
                        state: g.group_state.to_string(),
                        protocol_type: g.protocol_type.to_string(),
                        protocol: g.protocol_data.to_string(),
                        coordinator,
                        members: g
                            .members
                            .iter()
                            .map(|m| MemberDescription {
                                member_id: m.member_id.to_string(),
                                group_instance_id: m
                                    .group_instance_id
                                    .as_ref()
                                    .map(|s| s.to_string()),
                                client_id: m.client_id.to_string(),
                                client_host: m.client_host.to_string(),
                                assignment: if consumer {
                                    Assignment::decode(&m.member_assignment)
                                        .map(|a| a.partitions)
                                        .unwrap_or_default()
                                } else {
                                    Vec::new()
                                },
                            })
                            .collect(),
                    })
                })
                .await?;
            out.push(d);
        }
        Ok(out)
    }

    /// The committed offsets of a group, sorted by topic and partition.
    pub async fn list_group_offsets(&self, group: &str) -> Result<Vec<GroupOffset>, ClientError> {
        let client = &self.client;
        let mut all = client
            .with_coordinator(group, |node| offsets::fetch(client, node, group, None))
            .await?;
        all.retain(|o| o.offset >= 0);
        Ok(all)
    }

    /// Commits offsets for a group as an admin (generation -1, no member): the group must
    /// have no active members, else the coordinator's error is returned.
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &[(String, i32, i64)],
    ) -> Result<(), ClientError> {
        let client = &self.client;
        let items: Vec<offsets::OffsetToCommit> = offsets
            .iter()
            .map(|(t, p, o)| (t.clone(), *p, *o, None))
            .collect();
        let who = Committer {
            group_id: group,
            generation_id: -1,
            member_id: "",
            group_instance_id: None,
        };
        client
            .with_coordinator(group, |node| offsets::commit(client, node, &who, &items))
            .await
    }

    /// Deletes groups (each must be empty); each group's result.
    pub async fn delete_groups(
        &self,
        group_ids: &[String],
    ) -> Result<Vec<(String, Result<(), KafkaError>)>, ClientError> {
        let mut out = Vec::with_capacity(group_ids.len());
        for id in group_ids {
            let client = &self.client;
            let result = client
                .with_coordinator(id, |node| async move {
                    let (_, response) = client
                        .request(node, ApiKey::DeleteGroups, |_| {
                            Request::DeleteGroups(
                                DeleteGroupsRequest::default()
                                    .with_groups_names(vec![group_id(id)]),
                            )
                        })
                        .await?;
                    let r = expect_response!(response, DeleteGroups)?;
                    let g = r.results.first().ok_or_else(|| {
                        ClientError::Codec("DeleteGroups answered no group".into())
                    })?;
                    match KafkaError::check(g.error_code, None) {
                        Err(e) if ClientError::Kafka(e.clone()).is_coordinator_error() => {
                            Err(ClientError::Kafka(e))
                        }
                        r => Ok(r),
                    }
                })
                .await?;
            out.push((id.clone(), result));
        }
        Ok(out)
    }

    /// Deletes a group's committed offsets of `partitions` (OffsetDelete); each partition's
    /// result, in the order given. A group-level error (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP...)
    /// is returned as `Err`.
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<((String, i32), Result<(), KafkaError>)>, ClientError> {
        let client = &self.client;
        let topics: Vec<OffsetDeleteRequestTopic> = by_topic(partitions)
            .into_iter()
            .map(|(t, ps)| {
                OffsetDeleteRequestTopic::default()
                    .with_name(topic_name(&t))
                    .with_partitions(
                        ps.into_iter()
                            .map(|p| {
                                OffsetDeleteRequestPartition::default().with_partition_index(p)
                            })
                            .collect(),
                    )
            })
            .collect();
        let r = client
            .with_coordinator(group, |node| {
                let topics = topics.clone();
                async move {
                    let (_, response) = client
                        .request(node, ApiKey::OffsetDelete, |_| {
                            Request::OffsetDelete(
                                OffsetDeleteRequest::default()
                                    .with_group_id(group_id(group))
                                    .with_topics(topics),
                            )
                        })
                        .await?;
                    let r = expect_response!(response, OffsetDelete)?;
                    KafkaError::check(r.error_code, None)?;
                    Ok(r)
                }
            })
            .await?;
        Ok(partitions
            .iter()
            .map(|(topic, partition)| {
                let code = r
                    .topics
                    .iter()
                    .filter(|t| t.name.0.as_str() == topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == *partition)
                    .map(|p| p.error_code);
                let result = match code {
                    Some(c) => KafkaError::check(c, None),
                    None => Err(KafkaError::new(
                        kavka_protocol::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        format!("no answer for {topic}-{partition}"),
                    )),
                };
                ((topic.clone(), *partition), result)
            })
            .collect())
    }
}
