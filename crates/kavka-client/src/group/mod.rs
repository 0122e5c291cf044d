//! Classic consumer-group membership: JoinGroup (with KIP-394's MEMBER_ID_REQUIRED round
//! trip), the leader's assignment, SyncGroup, heartbeats in a background task, LeaveGroup.
//!
//! The heartbeat task never rejoins by itself: when the coordinator answers that a rebalance
//! started (or that the member or generation is unknown), it raises a flag that the consumer
//! reads on its next call, and the consumer rejoins there (committing first with auto commit).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kavka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kavka_protocol::messages::{JoinGroupRequest, JoinGroupResponse, SyncGroupRequest};
use kavka_protocol::request::Request;
use kavka_protocol::ErrorCode;
use tokio::task::JoinHandle;

use crate::assignor::{assign, AssignorKind, MemberSubscription};
use crate::client::{Client, RETRY_BACKOFF_MS};
use crate::config::ConsumerConfig;
use crate::connection::expect_response;
use crate::consumer_protocol::{
    group_by_topic, Assignment, Subscription, CONSUMER_PROTOCOL_TYPE, CONSUMER_PROTOCOL_VERSION_MAX,
};
use crate::error::{ClientError, KafkaError};
use crate::wire::{group_id, str_bytes};

mod heartbeat;

/// Extra time given to JoinGroup and SyncGroup beyond the rebalance timeout.
const REBALANCE_SLACK_MS: u64 = 5_000;

/// Flags the heartbeat task raises for the consumer.
#[derive(Debug, Default)]
struct Flags {
    /// A rebalance started, or the member or generation is no longer valid: rejoin.
    rejoin: AtomicBool,
    /// The coordinator forgot the member: rejoin with an empty member id.
    reset_member: AtomicBool,
}

/// This consumer's membership of a classic group.
#[derive(Debug)]
pub struct GroupMember {
    /// Group id.
    pub group_id: String,
    /// Static member id.
    pub group_instance_id: Option<String>,
    /// Member id given by the coordinator ("" before the first join).
    pub member_id: String,
    /// Generation of the current assignment (-1 before the first join).
    pub generation_id: i32,
    /// The assignor chosen by the coordinator.
    pub protocol: Option<String>,
    /// Whether this member is in a generation with a valid assignment (false once a rejoin
    /// is needed).
    joined: bool,
    flags: Arc<Flags>,
    heartbeat: Option<JoinHandle<()>>,
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

/// What the coordinator answered to a JoinGroup or SyncGroup.
enum Step<T> {
    Done(T),
    Retry,
}

impl GroupMember {
    /// A member of `group_id` that has not joined yet.
    pub fn new(group_id: String, group_instance_id: Option<String>) -> GroupMember {
        GroupMember {
            group_id,
            group_instance_id,
            member_id: String::new(),
            generation_id: -1,
            protocol: None,
            joined: false,
            flags: Arc::new(Flags::default()),
            heartbeat: None,
        }
    }

    /// Whether the member must (re)join before consuming.
    pub fn needs_join(&self) -> bool {
        !self.joined || self.flags.rejoin.load(Ordering::Acquire)
    }

    /// Marks the membership stale (a commit was refused for the generation, the subscription
    /// changed): the next call rejoins.
    pub fn request_rejoin(&mut self, reset_member: bool) {
        self.flags.rejoin.store(true, Ordering::Release);
        if reset_member {
            self.flags.reset_member.store(true, Ordering::Release);
        }
    }

    /// Whether the error of a commit or heartbeat means the membership is stale.
    pub(crate) fn is_membership_error(e: &ClientError) -> bool {
        matches!(
            e.kafka_code(),
            Some(
                ErrorCode::REBALANCE_IN_PROGRESS
                    | ErrorCode::ILLEGAL_GENERATION
                    | ErrorCode::UNKNOWN_MEMBER_ID
                    | ErrorCode::FENCED_INSTANCE_ID
            )
        )
    }

    /// Joins (or rejoins) the group subscribed to `topics`, owning `owned` now, and returns
    /// the partitions assigned in the new generation; heartbeats start.
    pub async fn join(
        &mut self,
        client: &Client,
        config: &ConsumerConfig,
        topics: &[String],
        owned: &[(String, i32)],
    ) -> Result<Vec<(String, i32)>, ClientError> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        self.joined = false;
        if self.flags.reset_member.swap(false, Ordering::AcqRel) {
            self.member_id.clear();
            self.generation_id = -1;
        }
        self.flags.rejoin.store(false, Ordering::Release);
        let subscription = Subscription {
            topics: topics.to_vec(),
            user_data: None,
            owned_partitions: group_by_topic(owned),
            generation_id: self.generation_id,
            rack_id: None,
        }
        .encode(CONSUMER_PROTOCOL_VERSION_MAX);
        let extra =
            Duration::from_millis(config.rebalance_timeout_ms.max(0) as u64 + REBALANCE_SLACK_MS);
        let deadline = Instant::now() + extra;
        loop {
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout(format!(
                    "joining group {} took longer than the rebalance timeout",
                    self.group_id
                )));
            }
            let node = client.coordinator_id(&self.group_id).await?;
            let joined = match self
                .join_once(client, config, node, &subscription, extra)
                .await
            {
                Ok(Step::Done(r)) => r,
                Ok(Step::Retry) => continue,
                Err(e) if self.coordinator_moved(client, &e, deadline).await => continue,
                Err(e) => return Err(e),
            };
            let assignments = if joined.leader == joined.member_id && !joined.skip_assignment {
                self.lead(client, &joined).await?
            } else {
                Vec::new()
            };
            match self.sync_once(client, node, assignments, extra).await {
                Ok(Step::Done(a)) => {
                    self.joined = true;
                    self.start_heartbeat(client, config);
                    return Ok(a
                        .partitions
                        .into_iter()
                        .filter(|(t, _)| topics.contains(t))
                        .flat_map(|(t, ps)| ps.into_iter().map(move |p| (t.clone(), p)))
                        .collect());
                }
                Ok(Step::Retry) => continue,
                Err(e) if self.coordinator_moved(client, &e, deadline).await => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// After a coordinator error: forgets the coordinator and pauses, then `true` (retry);
    /// `false` once `deadline` passed or for other errors.
    async fn coordinator_moved(&self, client: &Client, e: &ClientError, deadline: Instant) -> bool {
        if !e.is_coordinator_error() || Instant::now() >= deadline {
            return false;
        }
        client.set_coordinator(&self.group_id, None);
        tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
        true
    }

    async fn join_once(
        &mut self,
        client: &Client,
        config: &ConsumerConfig,
        node: i32,
        subscription: &bytes::Bytes,
        extra: Duration,
    ) -> Result<Step<JoinGroupResponse>, ClientError> {
        let protocols: Vec<JoinGroupRequestProtocol> = config
            .assignment_strategy
            .iter()
            .map(|k| {
                JoinGroupRequestProtocol::default()
                    .with_name(str_bytes(k.name()))
                    .with_metadata(subscription.clone())
            })
            .collect();
        let (version, response) = client
            .request_with_timeout(node, ApiKey::JoinGroup, extra, |v| {
                let r = JoinGroupRequest::default()
                    .with_group_id(group_id(&self.group_id))
                    .with_session_timeout_ms(config.session_timeout_ms)
                    .with_rebalance_timeout_ms(config.rebalance_timeout_ms)
                    .with_member_id(str_bytes(&self.member_id))
                    .with_protocol_type(str_bytes(CONSUMER_PROTOCOL_TYPE))
                    .with_protocols(protocols);
                Request::JoinGroup(if v >= 5 {
                    r.with_group_instance_id(self.group_instance_id.as_deref().map(str_bytes))
                } else {
                    r
                })
            })
            .await?;
        if version < 5 && self.group_instance_id.is_some() {
            return Err(ClientError::UnsupportedVersion(
                "static membership needs JoinGroup v5+".into(),
            ));
        }
        let r = expect_response!(response, JoinGroup)?;
        match ErrorCode::from_code(r.error_code) {
            Some(ErrorCode::NONE) => {
                self.member_id = r.member_id.to_string();
                self.generation_id = r.generation_id;
                self.protocol = r.protocol_name.as_ref().map(|p| p.to_string());
                Ok(Step::Done(r))
            }
            Some(ErrorCode::MEMBER_ID_REQUIRED) => {
                self.member_id = r.member_id.to_string();
                Ok(Step::Retry)
            }
            Some(ErrorCode::UNKNOWN_MEMBER_ID) => {
                self.member_id.clear();
                Ok(Step::Retry)
            }
            Some(ErrorCode::REBALANCE_IN_PROGRESS) => {
                tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                Ok(Step::Retry)
            }
            _ => Err(KafkaError::from_wire(r.error_code, None)
                .expect("non-zero code")
                .into()),
        }
    }

    /// The leader's work: every member's assignment from the chosen assignor.
    async fn lead(
        &self,
        client: &Client,
        joined: &JoinGroupResponse,
    ) -> Result<Vec<SyncGroupRequestAssignment>, ClientError> {
        let protocol = joined.protocol_name.as_deref().unwrap_or_default();
        let kind = AssignorKind::from_name(protocol).ok_or_else(|| {
            ClientError::State(format!(
                "the coordinator chose an unknown assignor {protocol:?}"
            ))
        })?;
        let mut members = Vec::with_capacity(joined.members.len());
        for m in &joined.members {
            let s = Subscription::decode(&m.metadata)?;
            members.push(MemberSubscription {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                topics: s.topics,
            });
        }
        let mut all_topics: Vec<String> = members.iter().flat_map(|m| m.topics.clone()).collect();
        all_topics.sort();
        all_topics.dedup();
        let counts: BTreeMap<String, i32> = client
            .fetch_metadata_any(Some(&all_topics), false)
            .await?
            .topics
            .into_iter()
            .filter(|t| t.error.is_none())
            .map(|t| (t.name, t.partitions.len() as i32))
            .collect();
        Ok(assign(kind, &members, &counts)
            .into_iter()
            .map(|(member, partitions)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(str_bytes(&member))
                    .with_assignment(
                        Assignment {
                            partitions: group_by_topic(&partitions),
                            user_data: None,
                        }
                        .encode(CONSUMER_PROTOCOL_VERSION_MAX),
                    )
            })
            .collect())
    }

    async fn sync_once(
        &mut self,
        client: &Client,
        node: i32,
        assignments: Vec<SyncGroupRequestAssignment>,
        extra: Duration,
    ) -> Result<Step<Assignment>, ClientError> {
        let (_, response) = client
            .request_with_timeout(node, ApiKey::SyncGroup, extra, |v| {
                let r = SyncGroupRequest::default()
                    .with_group_id(group_id(&self.group_id))
                    .with_generation_id(self.generation_id)
                    .with_member_id(str_bytes(&self.member_id))
                    .with_assignments(assignments);
                let r = if v >= 3 {
                    r.with_group_instance_id(self.group_instance_id.as_deref().map(str_bytes))
                } else {
                    r
                };
                Request::SyncGroup(if v >= 5 {
                    r.with_protocol_type(Some(str_bytes(CONSUMER_PROTOCOL_TYPE)))
                        .with_protocol_name(self.protocol.as_deref().map(str_bytes))
                } else {
                    r
                })
            })
            .await?;
        let r = expect_response!(response, SyncGroup)?;
        match ErrorCode::from_code(r.error_code) {
            Some(ErrorCode::NONE) => Ok(Step::Done(Assignment::decode(&r.assignment)?)),
            Some(ErrorCode::UNKNOWN_MEMBER_ID) => {
                self.member_id.clear();
                self.generation_id = -1;
                Ok(Step::Retry)
            }
            Some(ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::ILLEGAL_GENERATION) => {
                Ok(Step::Retry)
            }
            _ => Err(KafkaError::from_wire(r.error_code, None)
                .expect("non-zero code")
                .into()),
        }
    }
}
