//! Produce (key 0): checks each partition's batch header (one batch, not a control batch,
//! timestamps within the topic's bounds, no larger than a segment), then the log validates
//! length, magic and CRC32C (no record decoding), assigns offsets by rewriting the batch header
//! and appends the bytes. acks=all is refused with NOT_ENOUGH_REPLICAS before the append when
//! the ISR is smaller than `min.insync.replicas`, and on a replicated partition its answer
//! waits for the ISR to hold the batch (`produce_wait.rs`). Batches of idempotent
//! producers are checked by the log against the producer's epoch and sequence (from the header);
//! a retry of a batch already stored is answered with the stored batch's offsets.

use kavka_metadata::MetadataImage;
use kavka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kavka_protocol::messages::{ProduceRequest, ProduceResponse};
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

use super::produce_checks::{check_batches, keyless_records, transactional_producer};
use super::produce_wait::Wait;
use super::{message, Outcome, RequestContext};
use crate::broker::now_ms;
use crate::replica_manager::{AppendWake, Partition, PartitionError, ProducePolicy};
use kavka_protocol::records::RecordError;
use kavka_storage::AppendInfo;

fn partition_error(index: i32, code: ErrorCode, text: String) -> PartitionProduceResponse {
    PartitionProduceResponse::default()
        .with_index(index)
        .with_error_code(code.code())
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1)
        .with_error_message(message(text))
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

/// An append's outcome, its log start offset, and whom it leaves to wake.
type Appended = ((AppendInfo, i64), AppendWake);

/// Appends a batch (re-compressed first if the topic says so). An append that may fsync, or a
/// re-compression, runs where blocking the thread does not hold up other connections; a
/// page-cache write runs in place.
fn store(
    partition: &Partition,
    records: &[u8],
    now: i64,
) -> Result<Result<Appended, PartitionError>, RecordError> {
    let policy = partition.policy();
    let work = || {
        recompressed(records, &policy)
            .map(|r| partition.append_unwoken(r.as_deref().unwrap_or(records), now))
    };
    if policy.may_fsync || policy.compression.is_some() {
        super::blocking(work)
    } else {
        work()
    }
}

/// First Produce version of transactions version 2 (KIP-890 part 2).
const IMPLICIT_ADD_VERSION: i16 = 12;

/// KIP-890: a transactional batch is appended only to a partition in its producer's open
/// transaction, asked of the transaction coordinator. Before v12 the producer must have added
/// it (AddPartitionsToTxn, part 1); from v12 the coordinator adds it now (part 2).
fn verify_in_transaction(
    ctx: &RequestContext<'_>,
    transactional_id: Option<&str>,
    partition: &Partition,
    (producer_id, epoch): (i64, i16),
) -> Result<(), (ErrorCode, String)> {
    let Some(txn_id) = transactional_id else {
        return Err((
            ErrorCode::INVALID_TXN_STATE,
            "A transactional batch needs the request's transactional id".into(),
        ));
    };
    let target = [(partition.topic.to_string(), partition.index)];
    if ctx.version() >= IMPLICIT_ADD_VERSION {
        let added = super::blocking(|| {
            ctx.broker
                .txns()
                .add_implicitly(txn_id, (producer_id, epoch), &target)
        });
        return match added {
            Ok(()) => Ok(()),
            Err(
                ErrorCode::NOT_COORDINATOR
                | ErrorCode::COORDINATOR_NOT_AVAILABLE
                | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
            ) => Err((
                ErrorCode::NOT_ENOUGH_REPLICAS,
                "transaction coordinator not available".into(),
            )),
            Err(code) => Err((code, String::new())),
        };
    }
    let verified = ctx.broker.txns().run(txn_id, |state| {
        let v = state
            .machine
            .verify_partitions(txn_id, producer_id, epoch, &target);
        (v, Default::default())
    });
    match verified {
        Ok(Ok(v)) if v.first() == Some(&true) => Ok(()),
        Ok(Ok(_)) => Err((
            ErrorCode::INVALID_TXN_STATE,
            format!(
                "{}-{} is not in the open transaction of {txn_id}",
                partition.topic, partition.index
            ),
        )),
        Ok(Err(code)) => Err((code, String::new())),
        // The coordinator cannot answer yet: a retriable produce error, as Kafka maps it.
        Err(_) => Err((
            ErrorCode::NOT_ENOUGH_REPLICAS,
            "transaction coordinator not available".into(),
        )),
    }
}

/// Checks and appends one partition's batch; the partition's answer.
fn produce_partition(
    ctx: &RequestContext<'_>,
    transactional_id: Option<&str>,
    partition: &Partition,
    index: i32,
    records: &[u8],
    acks: i16,
    now: i64,
) -> (PartitionProduceResponse, Option<i64>, Option<AppendWake>) {
    let refused = |r: PartitionProduceResponse| (r, None, None);
    let policy = partition.policy();
    if let Err((code, text)) = check_batches(records, &policy, acks, partition.isr_size(), now) {
        return refused(partition_error(index, code, text));
    }
    if let Some(producer) = transactional_producer(records) {
        if let Err((code, text)) = verify_in_transaction(ctx, transactional_id, partition, producer)
        {
            return refused(partition_error(index, code, text));
        }
    }
    if policy.compacted {
        match keyless_records(records) {
            Ok(keyless) if keyless.is_empty() => {}
            Ok(keyless) => {
                let text = format!(
                    "Compacted topic cannot accept message without key in topic partition {}-{index}.",
                    partition.topic
                );
                let record_errors = keyless
                    .into_iter()
                    .map(|i| {
                        BatchIndexAndErrorMessage::default()
                            .with_batch_index(i)
                            .with_batch_index_error_message(message(text.clone()))
                    })
                    .collect();
                return refused(
                    partition_error(index, ErrorCode::INVALID_RECORD, text)
                        .with_record_errors(record_errors),
                );
            }
            Err(e) => {
                return refused(partition_error(
                    index,
                    ErrorCode::CORRUPT_MESSAGE,
                    e.to_string(),
                ))
            }
        }
    }
    match store(partition, records, now) {
        Err(e) => refused(partition_error(
            index,
            ErrorCode::CORRUPT_MESSAGE,
            e.to_string(),
        )),
        Ok(Ok(((info, log_start_offset), wake))) => {
            // A retried batch already stored waits the same way: it may not be replicated yet.
            let required =
                (acks == -1 && partition.is_replicated()).then_some(info.last_offset + 1);
            let answer = PartitionProduceResponse::default()
                .with_index(index)
                .with_base_offset(info.base_offset)
                .with_log_append_time_ms(info.log_append_time_ms)
                .with_log_start_offset(log_start_offset);
            (answer, required, Some(wake))
        }
        Ok(Err(e)) => {
            tracing::debug!(topic = %partition.topic, partition = index, error = %e, "produce refused");
            refused(partition_error(index, e.code(), e.to_string()))
        }
    }
}

/// Kafka's `BrokerTopicMetrics` of one partition's batch: its records and bytes when stored,
/// a failed request otherwise. The record count is the batch header's.
fn count_produce(m: &crate::observe::Metrics, partition: &Partition, records: &[u8], ok: bool) {
    let t = partition.topic_metrics(m);
    if !ok {
        t.produce_failed();
        return;
    }
    let count = kavka_protocol::batch::BatchView::parse(records)
        .map_or(0, |b| u64::try_from(b.record_count()).unwrap_or(0));
    t.produced(count, records.len() as u64);
}

/// Handles Produce. Each partition's batch is appended from the request frame itself. The
/// answers that wait for replication (acks=all) are returned with the outcome.
pub fn handle(ctx: &RequestContext<'_>, request: ProduceRequest) -> (Outcome, Vec<Wait>) {
    let broker = ctx.broker;
    let acks = request.acks;
    let acks_valid = matches!(acks, -1..=1);
    let image: std::sync::Arc<MetadataImage> = broker.image();
    let by_id = ctx.version() >= 13;
    let now = now_ms();
    let mut failed = false;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    let mut waits = Vec::new();
    // The fetches the appends woke, woken once every batch is in.
    let mut appended: Vec<(std::sync::Arc<Partition>, AppendWake)> = Vec::new();
    let transactional_id = request.transactional_id.map(|t| t.0.to_string());
    for (topic_at, topic) in request.topic_data.into_iter().enumerate() {
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
            let partition = resolved.and_then(|t| broker.led_partition(t, index));
            let result = match (acks_valid, partition, data.records.as_deref()) {
                (false, _, _) => partition_error(
                    index,
                    ErrorCode::INVALID_REQUIRED_ACKS,
                    format!("acks must be -1, 0 or 1, not {acks}"),
                ),
                (true, None, _) => partition_error(
                    index,
                    super::unhosted(resolved, index, missing),
                    String::new(),
                ),
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
                    let (result, required, wake) = produce_partition(
                        ctx,
                        transactional_id.as_deref(),
                        &partition,
                        index,
                        records,
                        acks,
                        now,
                    );
                    if let Some(m) = broker.metrics() {
                        count_produce(m, &partition, records, result.error_code == 0);
                    }
                    if let Some(wake) = wake {
                        appended.push((partition.clone(), wake));
                    }
                    if let Some(required) = required {
                        waits.push(Wait {
                            topic: topic_at,
                            partition: partitions.len(),
                            target: partition.clone(),
                            required,
                        });
                    }
                    result
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
    for (partition, wake) in appended {
        partition.wake(wake);
    }
    if acks == 0 {
        let outcome = if failed {
            Outcome::Close("acks=0 produce failed")
        } else {
            Outcome::Silent
        };
        return (outcome, Vec::new());
    }
    let outcome = Outcome::Respond(Response::Produce(
        ProduceResponse::default().with_responses(responses),
    ));
    (outcome, waits)
}
