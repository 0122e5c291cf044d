//! LeaveGroup (v0-5): members leave at once and the group rebalances without waiting for their
//! sessions to end. v3+ names several members (by member id or group instance id).

use kavka_coordinator::group::api::LeavingMember;
use kavka_protocol::messages::leave_group_response::MemberResponse;
use kavka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;

/// Handles LeaveGroup.
pub fn handle(ctx: &RequestContext<'_>, request: LeaveGroupRequest) -> LeaveGroupResponse {
    let v = ctx.version();
    let group_id = request.group_id.0.to_string();
    let leaving: Vec<LeavingMember> = if v >= 3 {
        request
            .members
            .iter()
            .map(|m| LeavingMember {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
            })
            .collect()
    } else {
        vec![LeavingMember {
            member_id: request.member_id.to_string(),
            group_instance_id: None,
        }]
    };
    if v >= 3 && leaving.is_empty() {
        return LeaveGroupResponse::default().with_error_code(ErrorCode::INVALID_REQUEST.code());
    }
    match ctx.broker.groups().leave(&group_id, &leaving) {
        Err(code) => LeaveGroupResponse::default().with_error_code(code.code()),
        Ok(errors) if v < 3 => LeaveGroupResponse::default()
            .with_error_code(errors.first().copied().unwrap_or(ErrorCode::NONE).code()),
        Ok(errors) => LeaveGroupResponse::default().with_members(
            request
                .members
                .into_iter()
                .zip(errors)
                .map(|(m, e)| {
                    MemberResponse::default()
                        .with_member_id(m.member_id)
                        .with_group_instance_id(m.group_instance_id)
                        .with_error_code(e.code())
                })
                .collect(),
        ),
    }
}
