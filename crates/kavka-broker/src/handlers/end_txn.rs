//! EndTxn (v0-4): commit or abort the producer's transaction. The answer comes once
//! PrepareCommit / PrepareAbort is in `__transaction_state`; the markers are written after
//! (the next InitProducerId or AddPartitionsToTxn gets CONCURRENT_TRANSACTIONS until they
//! are), as in Kafka.

use kavka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::broker::now_ms;

/// Handles EndTxn.
pub fn handle(ctx: &RequestContext<'_>, request: EndTxnRequest) -> EndTxnResponse {
    let txn_id = request.transactional_id.0.as_str();
    let outcome = ctx.broker.txns.run(txn_id, |state| {
        state.machine.end_txn(
            now_ms(),
            txn_id,
            request.producer_id.0,
            request.producer_epoch,
            request.committed,
        )
    });
    let code = match outcome {
        Ok(Ok(())) => ErrorCode::NONE,
        Ok(Err(code)) | Err(code) => code,
    };
    let code = crate::txn_coordinator::fenced_for_version(code, ctx.version(), 2);
    EndTxnResponse::default()
        .with_error_code(code.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
