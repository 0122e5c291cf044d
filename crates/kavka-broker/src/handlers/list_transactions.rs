//! ListTransactions (v0-1): the transactional ids of every shard, filtered by state names and
//! producer ids (v1: and by running longer than `duration_filter` ms). Unknown state names are
//! listed back, as in Kafka.

use kavka_coordinator::txn::TxnStatus;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::list_transactions_response::TransactionState;
use kavka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kavka_protocol::ErrorCode;

use super::RequestContext;
use crate::broker::now_ms;
use crate::coordinator_runtime::{settle, READ_BARRIER_WAIT_MAX};

const STATES: [TxnStatus; 8] = [
    TxnStatus::Empty,
    TxnStatus::Ongoing,
    TxnStatus::PrepareCommit,
    TxnStatus::PrepareAbort,
    TxnStatus::CompleteCommit,
    TxnStatus::CompleteAbort,
    TxnStatus::Dead,
    TxnStatus::PrepareEpochFence,
];

/// Handles ListTransactions: every shard's transactions once its partition's ISR holds what
/// was read; a shard that is not serving (loading, or its ISR not answering in time) sets the
/// error, and one whose leadership moved meanwhile is left out (its new coordinator lists it).
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let wanted: Vec<&str> = request.state_filters.iter().map(|s| s.as_str()).collect();
    let unknown: Vec<StrBytes> = request
        .state_filters
        .iter()
        .filter(|s| !STATES.iter().any(|st| st.name() == s.as_str()))
        .cloned()
        .collect();
    let pids: Vec<i64> = request.producer_id_filters.iter().map(|p| p.0).collect();
    let min_duration_ms = if ctx.version() >= 1 {
        request.duration_filter
    } else {
        -1
    };
    let now = now_ms();
    let reads = ctx.broker.txns().read_every(|state| {
        state
            .machine
            .all()
            .filter(|(_, m)| wanted.is_empty() || wanted.contains(&m.value.status.name()))
            .filter(|(_, m)| pids.is_empty() || pids.contains(&m.value.producer_id))
            .filter(|(_, m)| {
                let v = &m.value;
                min_duration_ms < 0 || (v.start_ms >= 0 && now - v.start_ms >= min_duration_ms)
            })
            .map(|(id, m)| {
                TransactionState::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_string(id.clone())))
                    .with_producer_id(ProducerId(m.value.producer_id))
                    .with_transaction_state(StrBytes::from_static_str(m.value.status.name()))
            })
            .collect::<Vec<_>>()
    });
    let mut states = Vec::new();
    let mut error = ErrorCode::NONE;
    for read in settle(reads, READ_BARRIER_WAIT_MAX).await {
        match read {
            Ok(listed) => states.extend(listed),
            Err(ErrorCode::NOT_COORDINATOR) => {}
            Err(code) => error = code,
        }
    }
    ListTransactionsResponse::default()
        .with_error_code(error.code())
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}
