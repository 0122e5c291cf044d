//! ListGroups (key 16), v0-5: every group this node coordinates. v4+ may filter on states and
//! answers each group's state; v5+ may filter on group types and answers each group's type
//! (every group here is a "classic" group). Both filters match case-insensitively, as in Kafka.

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::list_groups_response::ListedGroup;
use kavka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::RequestContext;

/// The type of every group of this coordinator (KIP-848 names the pre-848 protocol "classic").
pub const CLASSIC_GROUP_TYPE: &str = "classic";

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

/// Whether `value` passes `filter` (an empty filter lets everything through).
fn passes(filter: &[StrBytes], value: &str) -> bool {
    filter.is_empty()
        || filter
            .iter()
            .any(|f| f.as_str().eq_ignore_ascii_case(value))
}

/// Handles ListGroups (it may wait for the ISR of the coordinator's partitions).
pub async fn handle(ctx: &RequestContext<'_>, request: ListGroupsRequest) -> ListGroupsResponse {
    let listing = match ctx.broker.groups().list().await {
        Ok(listing) => listing,
        Err(code) => return ListGroupsResponse::default().with_error_code(code.code()),
    };
    if !passes(&request.types_filter, CLASSIC_GROUP_TYPE) {
        return ListGroupsResponse::default();
    }
    let groups = listing
        .into_iter()
        .filter(|g| passes(&request.states_filter, g.state))
        .map(|g| {
            ListedGroup::default()
                .with_group_id(GroupId(s(g.group_id)))
                .with_protocol_type(s(g.protocol_type))
                .with_group_state(s(g.state))
                .with_group_type(s(CLASSIC_GROUP_TYPE))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
