//! DescribeProducers (v0): the producers each partition knows (Kafka's `kafka-transactions.sh
//! describe-producers`): id, epoch, last sequence, the timestamp of the last batch, the epoch of
//! the coordinator of its last marker and the start offset of its open transaction (-1: none).

use kavka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kavka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kavka_protocol::ErrorCode;

use super::{message, RequestContext};

fn partition_error(index: i32, code: ErrorCode, text: String) -> PartitionResponse {
    PartitionResponse::default()
        .with_partition_index(index)
        .with_error_code(code.code())
        .with_error_message(message(text))
}

/// Handles DescribeProducers.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let image = ctx.broker.image();
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let resolved = image.topic_by_name(topic.name.0.as_str());
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let Some(partition) =
                        resolved.and_then(|t| ctx.broker.partition(&t.name, &t.topic_id, index))
                    else {
                        return partition_error(
                            index,
                            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                            String::new(),
                        );
                    };
                    match partition.producers() {
                        Ok(mut entries) => {
                            entries.sort_by_key(|e| e.producer_id);
                            let active = entries
                                .into_iter()
                                .map(|e| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(e.producer_id))
                                        .with_producer_epoch(i32::from(e.epoch))
                                        .with_last_sequence(e.last_seq())
                                        .with_last_timestamp(e.last_timestamp_ms)
                                        .with_coordinator_epoch(e.coordinator_epoch)
                                        .with_current_txn_start_offset(e.current_txn_first_offset)
                                })
                                .collect();
                            PartitionResponse::default()
                                .with_partition_index(index)
                                .with_active_producers(active)
                        }
                        Err(e) => partition_error(index, e.code(), e.to_string()),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
