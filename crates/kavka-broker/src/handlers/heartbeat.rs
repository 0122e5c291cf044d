//! Heartbeat (v0-4): keeps a member's session alive and tells it when to rejoin.

use kavka_coordinator::group::api::HeartbeatRequest as Heartbeat;
use kavka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;

/// Handles Heartbeat.
pub fn handle(ctx: &RequestContext<'_>, request: HeartbeatRequest) -> HeartbeatResponse {
    let error = ctx.broker.groups().heartbeat(&Heartbeat {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|i| i.to_string()),
    });
    HeartbeatResponse::default().with_error_code(error.code())
}
