//! The background heartbeats of a member, and leaving the group.

use std::sync::atomic::Ordering;
use std::time::Duration;

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::leave_group_request::MemberIdentity;
use kavka_protocol::messages::{HeartbeatRequest, LeaveGroupRequest};
use kavka_protocol::request::Request;
use kavka_protocol::ErrorCode;

use super::GroupMember;
use crate::client::Client;
use crate::config::ConsumerConfig;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::{group_id, str_bytes};

impl GroupMember {
    pub(super) fn start_heartbeat(&mut self, client: &Client, config: &ConsumerConfig) {
        let client = client.clone();
        let flags = self.flags.clone();
        let group = self.group_id.clone();
        let member = self.member_id.clone();
        let instance = self.group_instance_id.clone();
        let generation = self.generation_id;
        let interval = Duration::from_millis(config.heartbeat_interval_ms.max(1));
        self.heartbeat = Some(tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let result =
                    heartbeat(&client, &group, generation, &member, instance.as_deref()).await;
                match result {
                    Ok(()) => {}
                    Err(e) if GroupMember::is_membership_error(&e) => {
                        if e.kafka_code() == Some(ErrorCode::UNKNOWN_MEMBER_ID) {
                            flags.reset_member.store(true, Ordering::Release);
                        }
                        flags.rejoin.store(true, Ordering::Release);
                        return;
                    }
                    Err(e) => {
                        if e.is_coordinator_error() {
                            client.set_coordinator(&group, None);
                        }
                        tracing::debug!(group = %group, error = %e, "heartbeat failed");
                    }
                }
            }
        }));
    }

    /// Leaves the group (dynamic members only: a static member's leaving is its session
    /// timing out, as in Kafka) and stops heartbeating.
    pub async fn leave(&mut self, client: &Client) -> Result<(), ClientError> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        let was_member = std::mem::take(&mut self.joined) && !self.member_id.is_empty();
        if !was_member || self.group_instance_id.is_some() {
            return Ok(());
        }
        let node = client.coordinator_id(&self.group_id).await?;
        let (_, response) = client
            .request(node, ApiKey::LeaveGroup, |v| {
                let r = LeaveGroupRequest::default().with_group_id(group_id(&self.group_id));
                Request::LeaveGroup(if v >= 3 {
                    r.with_members(vec![MemberIdentity::default()
                        .with_member_id(str_bytes(&self.member_id))
                        .with_reason(
                            (v >= 5).then(|| str_bytes("the consumer is being closed")),
                        )])
                } else {
                    r.with_member_id(str_bytes(&self.member_id))
                })
            })
            .await?;
        let r = expect_response!(response, LeaveGroup)?;
        // A member the coordinator already dropped (session expired, fenced) has left.
        let gone = |code: i16| {
            code == ErrorCode::UNKNOWN_MEMBER_ID.code()
                || code == ErrorCode::FENCED_INSTANCE_ID.code()
        };
        for code in std::iter::once(r.error_code).chain(r.members.iter().map(|m| m.error_code)) {
            if !gone(code) {
                KafkaError::check(code, None)?;
            }
        }
        Ok(())
    }
}

async fn heartbeat(
    client: &Client,
    group: &str,
    generation: i32,
    member: &str,
    instance: Option<&str>,
) -> Result<(), ClientError> {
    let node = client.coordinator_id(group).await?;
    let (_, response) = client
        .request(node, ApiKey::Heartbeat, |v| {
            let r = HeartbeatRequest::default()
                .with_group_id(group_id(group))
                .with_generation_id(generation)
                .with_member_id(str_bytes(member));
            Request::Heartbeat(if v >= 3 {
                r.with_group_instance_id(instance.map(str_bytes))
            } else {
                r
            })
        })
        .await?;
    let r = expect_response!(response, Heartbeat)?;
    Ok(KafkaError::check(r.error_code, None)?)
}
