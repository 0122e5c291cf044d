//! DescribeTransactions (v0): the state of transactional ids (`kafka-transactions.sh
//! describe`): state, timeout, start time, producer id and epoch, partitions.

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kavka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId,
};
use kavka_protocol::ErrorCode;

use super::{topic_name, RequestContext};

/// Handles DescribeTransactions.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .into_iter()
        .map(|id| {
            let found = ctx.broker.txns().run(&id.0, |state| {
                (state.machine.get(&id.0).cloned(), Default::default())
            });
            let base = TransactionState::default()
                .with_transactional_id(id.clone())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
                .with_transaction_start_time_ms(-1);
            match found {
                Err(code) => base.with_error_code(code.code()),
                Ok(None) => base.with_error_code(ErrorCode::TRANSACTIONAL_ID_NOT_FOUND.code()),
                Ok(Some(m)) => {
                    let v = &m.value;
                    base.with_transaction_state(StrBytes::from_static_str(v.status.name()))
                        .with_transaction_timeout_ms(v.timeout_ms)
                        .with_transaction_start_time_ms(v.start_ms)
                        .with_producer_id(ProducerId(v.producer_id))
                        .with_producer_epoch(v.producer_epoch)
                        .with_topics(
                            v.partitions
                                .iter()
                                .map(|(t, ids)| {
                                    TopicData::default()
                                        .with_topic(topic_name(t))
                                        .with_partitions(ids.clone())
                                })
                                .collect(),
                        )
                }
            }
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
