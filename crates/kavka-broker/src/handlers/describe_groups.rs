//! DescribeGroups (key 15), v0-6: state, protocol and members of each group. A group that does
//! not exist is described, as in Kafka, as "Dead" with no error before v6 and as
//! GROUP_ID_NOT_FOUND (with a message) from v6 (KIP-1043). The protocol and the members'
//! metadata and assignments are shown only while the group is Stable. v3+ may ask for the
//! operations the client may run on the group (with no authorizer: all of them). What is
//! described is committed: the answer waits until the ISR holds the group's last records.

use kavka_coordinator::group::api::{GroupDescription, MemberDescription};
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kavka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};
use kavka_protocol::ErrorCode;

use super::{message, RequestContext, OPERATIONS_NOT_REQUESTED};

/// First version able to report authorized operations.
const AUTHORIZED_OPERATIONS_VERSION: i16 = 3;
/// First version answering GROUP_ID_NOT_FOUND (and error messages).
const NOT_FOUND_VERSION: i16 = 6;

/// Group operations allowed with no authorizer (READ 3, DELETE 6, DESCRIBE 8).
pub const GROUP_OPERATIONS_ALL: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// Kafka's state name of a group that does not exist.
const DEAD: &str = "Dead";

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

fn member(m: MemberDescription) -> DescribedGroupMember {
    DescribedGroupMember::default()
        .with_member_id(s(m.member_id))
        .with_group_instance_id(m.group_instance_id.map(s))
        .with_client_id(s(m.client_id))
        .with_client_host(s(m.client_host))
        .with_member_metadata(m.metadata)
        .with_member_assignment(m.assignment)
}

async fn describe(ctx: &RequestContext<'_>, version: i16, group_id: GroupId) -> DescribedGroup {
    let id = group_id.0.as_str().to_string();
    let answer = DescribedGroup::default().with_group_id(group_id);
    if id.is_empty() {
        return answer.with_error_code(ErrorCode::INVALID_GROUP_ID.code());
    }
    match ctx.broker.groups().describe(&id).await {
        Err(code) => answer.with_error_code(code.code()),
        Ok(None) if version >= NOT_FOUND_VERSION => answer
            .with_error_code(ErrorCode::GROUP_ID_NOT_FOUND.code())
            .with_error_message(message(format!("Group {id} not found.")))
            .with_group_state(s(DEAD)),
        Ok(None) => answer.with_group_state(s(DEAD)),
        Ok(Some(GroupDescription {
            state,
            protocol_type,
            protocol_name,
            members,
        })) => answer
            .with_group_state(s(state))
            .with_protocol_type(s(protocol_type))
            .with_protocol_data(s(protocol_name))
            .with_members(members.into_iter().map(member).collect()),
    }
}

/// Handles DescribeGroups.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let version = ctx.version();
    let operations =
        version >= AUTHORIZED_OPERATIONS_VERSION && request.include_authorized_operations;
    let mut groups = Vec::with_capacity(request.groups.len());
    for group_id in request.groups {
        let described = describe(ctx, version, group_id).await;
        // As Kafka: the operations of each group described without error.
        let ops = if operations && described.error_code == ErrorCode::NONE.code() {
            GROUP_OPERATIONS_ALL
        } else {
            OPERATIONS_NOT_REQUESTED
        };
        groups.push(described.with_authorized_operations(ops));
    }
    DescribeGroupsResponse::default().with_groups(groups)
}
