//! JoinGroup (v0-9): the member waits here until the group's join phase completes.

use kavka_coordinator::group::api::JoinRequest;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kavka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::RequestContext;

fn s(text: String) -> StrBytes {
    StrBytes::from_string(text)
}

/// Address of a client as Kafka shows it (`InetAddress.toString`: "/127.0.0.1").
pub fn client_host(ctx: &RequestContext<'_>) -> String {
    format!("/{}", ctx.peer.ip())
}

/// Handles JoinGroup.
pub async fn handle(ctx: &RequestContext<'_>, request: JoinGroupRequest) -> JoinGroupResponse {
    let v = ctx.version();
    let req = JoinRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|i| i.to_string()),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout serves, as in Kafka.
        rebalance_timeout_ms: if v >= 1 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.to_string(), p.metadata))
            .collect(),
        client_id: ctx.header.client_id.clone().unwrap_or_default(),
        client_host: client_host(ctx),
        require_known_member_id: v >= 4,
        supports_skip_assignment: v >= 9,
    };
    let answer = ctx.broker.groups().join(req).await;
    let members = answer
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(s(m.member_id))
                .with_group_instance_id(if v >= 5 {
                    m.group_instance_id.map(s)
                } else {
                    None
                })
                .with_metadata(m.metadata)
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(answer.error.code())
        .with_generation_id(answer.generation_id)
        // Before v7 the protocol name is not nullable and there is no protocol type.
        .with_protocol_type(if v >= 7 {
            answer.protocol_type.map(s)
        } else {
            None
        })
        .with_protocol_name(if v >= 7 {
            answer.protocol_name.map(s)
        } else {
            Some(s(answer.protocol_name.unwrap_or_default()))
        })
        .with_leader(s(answer.leader))
        .with_skip_assignment(v >= 9 && answer.skip_assignment)
        .with_member_id(s(answer.member_id))
        .with_members(members)
}
