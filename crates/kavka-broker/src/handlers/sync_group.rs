//! SyncGroup (v0-5): the leader hands in the assignment; followers wait for it.

use kavka_coordinator::group::api::SyncRequest;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::RequestContext;

/// Handles SyncGroup.
pub async fn handle(ctx: &RequestContext<'_>, request: SyncGroupRequest) -> SyncGroupResponse {
    let v = ctx.version();
    let req = SyncRequest {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|i| i.to_string()),
        protocol_type: request.protocol_type.map(|t| t.to_string()),
        protocol_name: request.protocol_name.map(|n| n.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let answer = ctx.broker.groups().sync(req).await;
    let response = SyncGroupResponse::default()
        .with_error_code(answer.error.code())
        .with_assignment(answer.assignment);
    if v >= 5 {
        response
            .with_protocol_type(answer.protocol_type.map(StrBytes::from_string))
            .with_protocol_name(answer.protocol_name.map(StrBytes::from_string))
    } else {
        response
    }
}
