//! Produce (key 0): validates each partition's batches (header and CRC, no record decoding),
//! assigns offsets by rewriting batch headers, appends the bytes. On one node acks=1 and
//! acks=all are the same: the leader is the whole ISR.

use kavka_metadata::MetadataImage;
use kavka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kavka_protocol::messages::{ProduceRequest, ProduceResponse};
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

use super::{message, Outcome, RequestContext};
use crate::broker::now_ms;

fn partition_error(index: i32, code: ErrorCode, text: String) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message(text))
}

/// Handles Produce. `scratch` holds a partition's batches while their headers are rewritten.
pub fn handle(ctx: &RequestContext<'_>, request: ProduceRequest, scratch: &mut Vec<u8>) -> Outcome {
    let broker = ctx.broker;
    let acks = request.acks;
    let acks_valid = matches!(acks, -1..=1);
    let image: std::sync::Arc<MetadataImage> = broker.image();
    let by_id = ctx.version() >= 13;
    let now = now_ms();
    let mut appended = false;
    let mut failed = false;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let resolved = if by_id {
            image.topic_by_id(&topic.topic_id)
        } else {
            image.topic_by_name(topic.name.0.as_str())
        };
        let missing = if by_id {
            ErrorCode::UNKNOWN_TOPIC_ID
        } else {
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let index = data.index;
            let result = if !acks_valid {
                partition_error(
                    index,
                    ErrorCode::INVALID_REQUIRED_ACKS,
                    format!("acks must be -1, 0 or 1, not {acks}"),
                )
            } else if let Some(partition) =
                resolved.and_then(|t| broker.replicas.get(&t.name, index))
            {
                match data.records.as_deref() {
                    None | Some([]) => partition_error(
                        index,
                        ErrorCode::INVALID_RECORD,
                        "Produce request carries no record batch".into(),
                    ),
                    Some(records) => {
                        scratch.clear();
                        scratch.extend_from_slice(records);
                        match partition.append(scratch, now) {
                            Ok((info, log_start_offset)) => {
                                appended = true;
                                PartitionProduceResponse::default()
                                    .with_index(index)
                                    .with_base_offset(info.base_offset)
                                    .with_log_append_time_ms(info.log_append_time_ms)
                                    .with_log_start_offset(log_start_offset)
                            }
                            Err(e) => {
                                tracing::debug!(topic = %partition.topic, partition = index, error = %e, "produce refused");
                                partition_error(index, e.code(), e.to_string())
                            }
                        }
                    }
                }
            } else {
                partition_error(index, missing, String::new())
            };
            failed |= result.error_code != 0;
            partitions.push(result);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions),
        );
    }
    if appended {
        broker.replicas.purgatory.notify();
    }
    if acks == 0 {
        return if failed {
            Outcome::Close("acks=0 produce failed")
        } else {
            Outcome::Silent
        };
    }
    Outcome::Respond(Response::Produce(
        ProduceResponse::default().with_responses(responses),
    ))
}
