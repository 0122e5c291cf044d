//! FindCoordinator (v0-6): the node coordinating a group (key type 0) or a transactional id
//! (key type 1) is the leader of the key's `__consumer_offsets` / `__transaction_state`
//! partition. The first request of each type creates its topic, as in Kafka. v4+ asks for
//! several keys at once.

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::find_coordinator_response::Coordinator;
use kavka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kavka_protocol::ErrorCode;

use super::{message, RequestContext};

/// `key_type` of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// `key_type` of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// The answer for one key.
fn find(
    ctx: &RequestContext<'_>,
    key_type: i8,
    key: &str,
) -> Result<(i32, String, i32), (ErrorCode, String)> {
    let ensure = match key_type {
        KEY_TYPE_GROUP => crate::broker::Broker::ensure_offsets_topic,
        KEY_TYPE_TRANSACTION => crate::broker::Broker::ensure_txn_topic,
        _ => {
            return Err((
                ErrorCode::INVALID_REQUEST,
                format!(
                    "Coordinator key type {key_type} is not supported (groups 0, transactions 1)"
                ),
            ))
        }
    };
    if key.is_empty() {
        return Err((
            ErrorCode::INVALID_REQUEST,
            "The coordinator key must not be empty".into(),
        ));
    }
    ensure(ctx.broker).map_err(|(code, text)| {
        tracing::warn!(error = %text, code = code.name(), "cannot create a coordinator topic");
        (ErrorCode::COORDINATOR_NOT_AVAILABLE, text)
    })?;
    let topic = if key_type == KEY_TYPE_GROUP {
        crate::controller::CONSUMER_OFFSETS_TOPIC
    } else {
        crate::txn_coordinator::TRANSACTION_STATE_TOPIC
    };
    let not_available = || {
        (
            ErrorCode::COORDINATOR_NOT_AVAILABLE,
            format!("The coordinator partition of {key} has no leader known here yet"),
        )
    };
    // The broker leading the key's partition, as Kafka's `abs(javaHash(key)) % partitions`.
    let image = ctx.broker.image();
    let t = image.topic_by_name(topic).ok_or_else(not_available)?;
    let count = i32::try_from(t.partitions.len()).unwrap_or(0);
    let index = kavka_coordinator::group::partition_for(key, count);
    let leader = t.partitions.get(&index).ok_or_else(not_available)?.leader;
    let b = ctx
        .broker
        .cluster_brokers(ctx.listener)
        .into_iter()
        .find(|b| b.id == leader)
        .ok_or_else(not_available)?;
    Ok((b.id, b.host, i32::from(b.port)))
}

/// Handles FindCoordinator.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let v = ctx.version();
    let key_type = if v >= 1 {
        request.key_type
    } else {
        KEY_TYPE_GROUP
    };
    if v >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key.clone());
                match find(ctx, key_type, key.as_str()) {
                    Ok((node, host, port)) => c
                        .with_node_id(BrokerId(node))
                        .with_host(StrBytes::from_string(host))
                        .with_port(port),
                    Err((code, text)) => c
                        .with_node_id(BrokerId(-1))
                        .with_port(-1)
                        .with_error_code(code.code())
                        .with_error_message(message(text)),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let response = FindCoordinatorResponse::default();
    match find(ctx, key_type, request.key.as_str()) {
        Ok((node, host, port)) => response
            .with_node_id(BrokerId(node))
            .with_host(StrBytes::from_string(host))
            .with_port(port),
        Err((code, text)) => {
            let response = response
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(code.code());
            if v >= 1 {
                response.with_error_message(message(text))
            } else {
                response
            }
        }
    }
}
