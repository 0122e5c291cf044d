//! BrokerHeartbeat (key 63): a registered broker tells the active controller it is alive,
//! which metadata offset it holds, whether it wants to stay fenced (not caught up yet) and
//! whether it is shutting down; the answer says whether it is caught up, fenced, and may shut
//! down (`broker/heartbeats.rs`). STALE_BROKER_EPOCH when the epoch is not the broker's
//! current registration's. Forwarded to the leader like the other controller APIs.

use kavka_protocol::messages::{BrokerHeartbeatRequest, BrokerHeartbeatResponse};

use super::RequestContext;

/// Handles BrokerHeartbeat.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: BrokerHeartbeatRequest,
) -> BrokerHeartbeatResponse {
    match ctx.broker.broker_heartbeat(
        request.broker_id.0,
        request.broker_epoch,
        request.current_metadata_offset,
        request.want_fence,
        request.want_shut_down,
    ) {
        Ok(reply) => BrokerHeartbeatResponse::default()
            .with_is_caught_up(reply.is_caught_up)
            .with_is_fenced(reply.is_fenced)
            .with_should_shut_down(reply.should_shut_down),
        Err((code, _)) => BrokerHeartbeatResponse::default()
            .with_error_code(code.code())
            .with_is_fenced(true),
    }
}
