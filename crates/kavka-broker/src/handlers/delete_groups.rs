//! DeleteGroups (key 42), v0-2: removes empty groups and their committed offsets. Each group
//! gets its own error: NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND when it does not
//! exist, INVALID_GROUP_ID for an empty id.

use kavka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kavka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;

/// Handles DeleteGroups.
pub fn handle(ctx: &RequestContext<'_>, request: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let results = request
        .groups_names
        .into_iter()
        .map(|group_id| {
            let code = ctx.broker.groups().delete_group(group_id.0.as_str());
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code.code())
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
