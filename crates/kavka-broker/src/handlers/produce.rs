//! Produce (key 0): checks each partition's batch header (one batch, not a control batch,
//! timestamps within the topic's bounds, no larger than a segment), then the log validates
//! length, magic and CRC32C (no record decoding), assigns offsets by rewriting the batch header
//! and appends the bytes. On one node acks=1 and acks=all are the same, since the leader is the
//! whole ISR, except that acks=all honours `min.insync.replicas`. Batches of idempotent
//! producers are checked by the log against the producer's epoch and sequence (from the header);
//! a retry of a batch already stored is answered with the stored batch's offsets.

use kavka_metadata::MetadataImage;
use kavka_protocol::batch::{BatchHeader, BatchIter};
use kavka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kavka_protocol::messages::{ProduceRequest, ProduceResponse};
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

use super::{message, Outcome, RequestContext};
use crate::broker::now_ms;
use crate::replica_manager::{Partition, PartitionError, ProducePolicy};
use kavka_protocol::records::RecordError;
use kavka_storage::AppendInfo;

/// In-sync replicas of every partition on one node.
const ISR_SIZE: i32 = 1;

fn partition_error(index: i32, code: ErrorCode, text: String) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message(text))
}

/// Header checks Kafka makes before appending. Malformed bytes pass through: the log's
/// validation reports them with the right code.
fn check_batches(
    records: &[u8],
    policy: &ProducePolicy,
    acks: i16,
    now: i64,
) -> Result<(), (ErrorCode, String)> {
    let mut iter = BatchIter::new(records);
    let first = match iter.next() {
        Some(Ok(view)) => view,
        _ => return Ok(()),
    };
    if iter.position() < records.len() {
        return Err((
            ErrorCode::INVALID_RECORD,
            "Produce requests with version 3 and above must contain exactly one record batch per partition".into(),
        ));
    }
    let header = BatchHeader::parse(first.as_bytes())
        .map_err(|e| (ErrorCode::CORRUPT_MESSAGE, e.to_string()))?;
    if first.is_control() {
        return Err((
            ErrorCode::INVALID_RECORD,
            "Clients may not produce control batches".into(),
        ));
    }
    if first.is_transactional() {
        // No transaction coordinator yet, so no partition is ever part of a transaction.
        return Err((
            ErrorCode::INVALID_TXN_STATE,
            format!(
                "Producer {} wrote a transactional batch, but transactions are not supported yet",
                header.producer_id
            ),
        ));
    }
    if header.size_bytes as u64 > policy.segment_bytes {
        return Err((
            ErrorCode::RECORD_LIST_TOO_LARGE,
            format!(
                "The batch of {} bytes is larger than the segment size {}",
                header.size_bytes, policy.segment_bytes
            ),
        ));
    }
    if !policy.log_append_time {
        if header.max_timestamp > now.saturating_add(policy.timestamp_after_max_ms) {
            return Err((
                ErrorCode::INVALID_TIMESTAMP,
                format!(
                    "Timestamp {} is more than message.timestamp.after.max.ms={} ahead of the broker's time {now}",
                    header.max_timestamp, policy.timestamp_after_max_ms
                ),
            ));
        }
        if header.base_timestamp >= 0
            && header.base_timestamp < now.saturating_sub(policy.timestamp_before_max_ms)
        {
            return Err((
                ErrorCode::INVALID_TIMESTAMP,
                format!(
                    "Timestamp {} is more than message.timestamp.before.max.ms={} behind the broker's time {now}",
                    header.base_timestamp, policy.timestamp_before_max_ms
                ),
            ));
        }
    }
    if acks == -1 && policy.min_insync_replicas > ISR_SIZE {
        return Err((
            ErrorCode::NOT_ENOUGH_REPLICAS,
            format!(
                "The size of the ISR ({ISR_SIZE}) is below min.insync.replicas={}",
                policy.min_insync_replicas
            ),
        ));
    }
    Ok(())
}

/// The batch re-encoded with the topic's `compression.type`, when that names a codec other than
/// the batch's (the one produce path that decodes records, as in Kafka).
fn recompressed(
    records: &[u8],
    policy: &ProducePolicy,
) -> Result<Option<bytes::Bytes>, RecordError> {
    let Some(target) = policy.compression else {
        return Ok(None);
    };
    match kavka_protocol::batch::BatchView::parse_validated(records) {
        Ok(view) => kavka_protocol::recompress::recompress(&view, target),
        // Malformed: the log's validation reports it with the right code.
        Err(_) => Ok(None),
    }
}

/// Appends a batch (re-compressed first if the topic says so). An append that may fsync, or a
/// re-compression, runs where blocking the thread does not hold up other connections; a
/// page-cache write runs in place.
fn store(
    partition: &Partition,
    records: &[u8],
    now: i64,
) -> Result<Result<(AppendInfo, i64), PartitionError>, RecordError> {
    let policy = partition.policy();
    let work = || {
        recompressed(records, &policy)
            .map(|r| partition.append(r.as_deref().unwrap_or(records), now))
    };
    if policy.may_fsync || policy.compression.is_some() {
        super::blocking(work)
    } else {
        work()
    }
}

/// Handles Produce. Each partition's batch is appended from the request frame itself.
pub fn handle(ctx: &RequestContext<'_>, request: ProduceRequest) -> Outcome {
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
            let partition = resolved.and_then(|t| broker.replicas.get(&t.name, &t.topic_id, index));
            let result = match (acks_valid, partition, data.records.as_deref()) {
                (false, _, _) => partition_error(
                    index,
                    ErrorCode::INVALID_REQUIRED_ACKS,
                    format!("acks must be -1, 0 or 1, not {acks}"),
                ),
                (true, None, _) => partition_error(index, missing, String::new()),
                (true, Some(p), _) if crate::controller::is_internal_topic(&p.topic) => {
                    partition_error(
                        index,
                        ErrorCode::INVALID_TOPIC_EXCEPTION,
                        format!("Cannot append to internal topic {}", p.topic),
                    )
                }
                (true, Some(_), None | Some([])) => partition_error(
                    index,
                    ErrorCode::INVALID_RECORD,
                    "Produce request carries no record batch".into(),
                ),
                (true, Some(partition), Some(records)) => {
                    match check_batches(records, &partition.policy(), acks, now) {
                        Err((code, text)) => partition_error(index, code, text),
                        Ok(()) => {
                            let appended_result = match store(&partition, records, now) {
                                Ok(r) => r,
                                Err(e) => {
                                    failed = true;
                                    partitions.push(partition_error(
                                        index,
                                        ErrorCode::CORRUPT_MESSAGE,
                                        e.to_string(),
                                    ));
                                    continue;
                                }
                            };
                            match appended_result {
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
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_protocol::batch::Compression;
    use kavka_protocol::records::BatchBuilder;

    fn policy() -> ProducePolicy {
        ProducePolicy {
            min_insync_replicas: 1,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            segment_bytes: 1 << 30,
            log_append_time: false,
            may_fsync: false,
            compression: None,
        }
    }

    fn batch(ts: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(ts, None, Some(b"v"), &[]);
        b.build().unwrap().to_vec()
    }

    #[test]
    fn kafkas_header_checks() {
        let now = 1_800_000_000_000;
        assert!(check_batches(&batch(now), &policy(), 1, now).is_ok());
        let two = [batch(now), batch(now)].concat();
        assert_eq!(
            check_batches(&two, &policy(), 1, now).unwrap_err().0,
            ErrorCode::INVALID_RECORD
        );
        let future = batch(now + 7_200_000);
        assert_eq!(
            check_batches(&future, &policy(), 1, now).unwrap_err().0,
            ErrorCode::INVALID_TIMESTAMP
        );
        let p = ProducePolicy {
            log_append_time: true,
            ..policy()
        };
        assert!(
            check_batches(&future, &p, 1, now).is_ok(),
            "LogAppendTime replaces the timestamp"
        );
        let p = ProducePolicy {
            timestamp_before_max_ms: 1000,
            ..policy()
        };
        assert_eq!(
            check_batches(&batch(now - 5000), &p, 1, now).unwrap_err().0,
            ErrorCode::INVALID_TIMESTAMP
        );
        let p = ProducePolicy {
            min_insync_replicas: 2,
            ..policy()
        };
        assert_eq!(
            check_batches(&batch(now), &p, -1, now).unwrap_err().0,
            ErrorCode::NOT_ENOUGH_REPLICAS
        );
        assert!(
            check_batches(&batch(now), &p, 1, now).is_ok(),
            "acks=1 ignores min.insync.replicas"
        );
        let p = ProducePolicy {
            segment_bytes: 20,
            ..policy()
        };
        assert_eq!(
            check_batches(&batch(now), &p, 1, now).unwrap_err().0,
            ErrorCode::RECORD_LIST_TOO_LARGE
        );
        let mut control = batch(now);
        control[22] |= 0x20;
        let crc = crc32c::crc32c(&control[21..]);
        control[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            check_batches(&control, &policy(), 1, now).unwrap_err().0,
            ErrorCode::INVALID_RECORD
        );
    }
}
