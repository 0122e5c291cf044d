//! AddOffsetsToTxn (v0-4): the group's `__consumer_offsets` partition joins the transaction,
//! so that its TxnOffsetCommit and the transaction's marker go there.

use kavka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::broker::now_ms;
use crate::controller::CONSUMER_OFFSETS_TOPIC;

/// Handles AddOffsetsToTxn.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let code = add(ctx, &request).err().unwrap_or(ErrorCode::NONE);
    let code = crate::txn_coordinator::fenced_for_version(code, ctx.version(), 2);
    AddOffsetsToTxnResponse::default().with_error_code(code.code())
}

fn add(ctx: &RequestContext<'_>, request: &AddOffsetsToTxnRequest) -> Result<(), ErrorCode> {
    let group_id = request.group_id.0.as_str();
    if group_id.is_empty() {
        return Err(ErrorCode::INVALID_GROUP_ID);
    }
    ctx.broker
        .ensure_offsets_topic()
        .map_err(|_| ErrorCode::COORDINATOR_NOT_AVAILABLE)?;
    let partition = ctx.broker.groups().partition_of(group_id)?;
    let txn_id = request.transactional_id.0.as_str();
    let target = [(CONSUMER_OFFSETS_TOPIC.to_string(), partition)];
    ctx.broker.txns().run_after_markers(txn_id, |state| {
        state.machine.add_partitions(
            now_ms(),
            txn_id,
            request.producer_id.0,
            request.producer_epoch,
            &target,
        )
    })
}
