//! EndTxn (v0-5): commit or abort the producer's transaction. The answer comes once
//! PrepareCommit / PrepareAbort is in `__transaction_state`; the markers are written after
//! (the next InitProducerId or AddPartitionsToTxn gets CONCURRENT_TRANSACTIONS until they
//! are), as in Kafka. v5 is transactions version 2 (KIP-890 part 2): the epoch is bumped by
//! every EndTxn and the answer carries the producer id and epoch of the next transaction.

use kavka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::broker::now_ms;

/// First version of transactions version 2.
const EPOCH_BUMP_VERSION: i16 = 5;

/// Handles EndTxn.
pub fn handle(ctx: &RequestContext<'_>, request: EndTxnRequest) -> EndTxnResponse {
    let txn_id = request.transactional_id.0.as_str();
    let (pid, epoch) = (request.producer_id.0, request.producer_epoch);
    let outcome = if ctx.version() >= EPOCH_BUMP_VERSION {
        end_v2(ctx, txn_id, pid, epoch, request.committed)
    } else {
        let outcome = ctx.broker.txns().run(txn_id, |state| {
            state
                .machine
                .end_txn(now_ms(), txn_id, pid, epoch, request.committed)
        });
        outcome.and_then(|r| r.map(|()| (-1, -1)))
    };
    let (code, (next_pid, next_epoch)) = match outcome {
        Ok(next) => (ErrorCode::NONE, next),
        Err(code) => (code, (-1, -1)),
    };
    let code = crate::txn_coordinator::fenced_for_version(code, ctx.version(), 2);
    EndTxnResponse::default()
        .with_error_code(code.code())
        .with_producer_id(ProducerId(next_pid))
        .with_producer_epoch(next_epoch)
}

/// EndTxn v5. A fresh producer id is drawn first (never under the shard's lock) when the
/// epoch is exhausted; a retry while the markers are written waits for them, as an add does.
fn end_v2(
    ctx: &RequestContext<'_>,
    txn_id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> Result<(i64, i16), ErrorCode> {
    let exhausted = ctx.broker.txns().run(txn_id, |state| {
        (state.machine.epoch_exhausted(txn_id), Default::default())
    })?;
    let fresh = if exhausted {
        Some(ctx.broker.new_producer_id().map_err(|(code, text)| {
            tracing::error!(error = %text, "no producer id could be allocated");
            code
        })?)
    } else {
        None
    };
    ctx.broker.txns().run_after_markers(txn_id, |state| {
        state
            .machine
            .end_txn_v2(now_ms(), txn_id, pid, epoch, commit, fresh)
    })
}
