//! InitProducerId (v0-5) for idempotent producers: a producer id never given out before, with
//! epoch 0. As in Kafka, a request without a transactional id always gets a new id (the
//! producer id and epoch it names, v3+, are only checked to be both set or both -1).
//!
//! Transactional ids need the transaction coordinator, which this broker does not run yet:
//! such requests are refused with INVALID_REQUEST (not a retriable code, so the client fails at
//! once instead of retrying until its timeout), and FindCoordinator refuses the transaction
//! key type likewise.

use kavka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kavka_protocol::ErrorCode;

use super::RequestContext;

fn refused(code: ErrorCode) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

/// Handles InitProducerId.
pub fn handle(ctx: &RequestContext<'_>, request: InitProducerIdRequest) -> InitProducerIdResponse {
    if let Some(id) = request.transactional_id.as_ref() {
        tracing::warn!(transactional_id = %id.0, peer = %ctx.peer, "InitProducerId refused: transactions are not supported yet");
        return refused(ErrorCode::INVALID_REQUEST);
    }
    if (request.producer_id.0 == -1) != (request.producer_epoch == -1) {
        return refused(ErrorCode::INVALID_REQUEST);
    }
    match ctx.broker.new_producer_id() {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err((code, text)) => {
            tracing::error!(error = %text, "no producer id could be allocated");
            refused(code)
        }
    }
}
