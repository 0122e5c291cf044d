//! InitProducerId (v0-5). Without a transactional id (idempotent producers): a producer id never
//! given out before, with epoch 0; as in Kafka, such a request always gets a new id (the
//! producer id and epoch it names, v3+, are only checked to be both set or both -1). With a
//! transactional id: the transaction coordinator's answer — the id's producer id with a bumped
//! epoch, fencing earlier producers (an open transaction is aborted first, and the client is
//! told CONCURRENT_TRANSACTIONS until that is done).

use kavka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::broker::now_ms;

/// First version naming the producer id and epoch the client already has (KIP-360).
const EXPECTED_PRODUCER_VERSION: i16 = 3;

fn refused(code: ErrorCode) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

fn granted(id: i64, epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch)
}

/// Handles InitProducerId.
pub fn handle(ctx: &RequestContext<'_>, request: InitProducerIdRequest) -> InitProducerIdResponse {
    let (pid, epoch) = (request.producer_id.0, request.producer_epoch);
    if (pid == -1) != (epoch == -1) {
        return refused(ErrorCode::INVALID_REQUEST);
    }
    // A fresh id drawn before the coordinator runs: the shard's lock is never held across a
    // metadata commit. An id the coordinator does not need is skipped, never reused.
    let fresh = match ctx.broker.new_producer_id() {
        Ok(id) => id,
        Err((code, text)) => {
            tracing::error!(error = %text, "no producer id could be allocated");
            return refused(code);
        }
    };
    let Some(txn_id) = request.transactional_id.as_ref().map(|t| t.0.to_string()) else {
        return granted(fresh, 0);
    };
    let expected =
        (ctx.version() >= EXPECTED_PRODUCER_VERSION && pid != -1).then_some((pid, epoch));
    let timeout_ms = request.transaction_timeout_ms;
    let outcome = ctx.broker.txns().run_after_markers(&txn_id, |state| {
        state
            .machine
            .init_producer_id(now_ms(), &txn_id, timeout_ms, expected, &mut || fresh)
    });
    match outcome {
        Ok((id, epoch)) => granted(id, epoch),
        Err(code) => refused(crate::txn_coordinator::fenced_for_version(
            code,
            ctx.version(),
            4,
        )),
    }
}
