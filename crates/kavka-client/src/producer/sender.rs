//! The producer's background task: takes ready batches, groups them by leader, sends one
//! produce request per broker at a time, and completes, retries or fails their records.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kavka_protocol::messages::ProduceRequest;
use kavka_protocol::request::Request;

use super::accumulator::Batch;
use super::{RecordMetadata, Shared};
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::topic_name;

/// Runs until the producer is closed and everything appended was sent.
pub(crate) async fn run(shared: Arc<Shared>) {
    let linger = Duration::from_millis(shared.config.linger_ms);
    loop {
        let now = Instant::now();
        let (ready, next_wake) = {
            let state = shared.state.lock().expect("producer lock");
            if state.closed && state.is_idle() {
                return;
            }
            state.ready(now, linger, shared.config.batch_size)
        };
        let mut by_leader: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
        let mut retry_soon = false;
        for (topic, partition) in ready {
            match shared.client.leader(&topic, partition).await {
                Ok(leader) => by_leader
                    .entry(leader)
                    .or_default()
                    .push((topic, partition)),
                Err(e) => {
                    retry_soon = true;
                    if !defer_or_fail(&shared, &topic, partition, &e) {
                        shared.progress.notify_waiters();
                    }
                }
            }
        }
        for (leader, partitions) in by_leader {
            let batches = {
                let mut state = shared.state.lock().expect("producer lock");
                if state.busy_nodes.contains(&leader) {
                    continue;
                }
                let mut batches = Vec::new();
                let mut bytes = 0;
                for tp in partitions {
                    let Some(queue) = state.queues.get_mut(&tp) else {
                        continue;
                    };
                    let Some(mut batch) = queue.pop_front() else {
                        continue;
                    };
                    match batch.close() {
                        Ok(b)
                            if batches.is_empty()
                                || bytes + b.len() <= shared.config.max_request_size =>
                        {
                            bytes += b.len();
                            batches.push(batch);
                            state.in_flight.insert(tp);
                        }
                        Ok(_) => queue.push_front(batch),
                        Err(e) => {
                            let released = batch.complete(|_, _| Err(e.duplicate()));
                            shared.memory.add_permits(released);
                        }
                    }
                }
                if !batches.is_empty() {
                    state.busy_nodes.insert(leader);
                }
                batches
            };
            if !batches.is_empty() {
                tokio::spawn(send(shared.clone(), leader, batches));
            }
        }
        let sleep_until = if retry_soon {
            Some(Instant::now() + Duration::from_millis(shared.config.retry_backoff_ms))
        } else {
            next_wake
        };
        match sleep_until {
            Some(at) => {
                tokio::select! {
                    _ = shared.wake.notified() => {}
                    _ = tokio::time::sleep_until(at.into()) => {}
                }
            }
            None => shared.wake.notified().await,
        }
    }
}

/// A partition whose leader is unknown: its first batch waits for a retry, or fails when the
/// error is not retriable or the delivery timeout passed. Returns whether it still waits.
fn defer_or_fail(shared: &Shared, topic: &str, partition: i32, e: &ClientError) -> bool {
    let mut state = shared.state.lock().expect("producer lock");
    let key = (topic.to_string(), partition);
    let Some(queue) = state.queues.get_mut(&key) else {
        return false;
    };
    let Some(front) = queue.front_mut() else {
        return false;
    };
    if e.is_retriable() && Instant::now() < front.deadline {
        front.retry_at =
            Some(Instant::now() + Duration::from_millis(shared.config.retry_backoff_ms));
        shared.client.invalidate_topic(topic);
        return true;
    }
    let batch = queue.pop_front().expect("front exists");
    drop(state);
    let e = if e.is_retriable() {
        expired(&batch, shared.config.delivery_timeout_ms, e)
    } else {
        e.duplicate()
    };
    let released = batch.complete(|_, _| Err(e.duplicate()));
    shared.memory.add_permits(released);
    false
}

/// Sends one produce request with `batches` to `leader` and settles each batch.
async fn send(shared: Arc<Shared>, leader: i32, batches: Vec<Batch>) {
    let config = &shared.config;
    let client = &shared.client;
    let mut by_topic: BTreeMap<&str, Vec<PartitionProduceData>> = BTreeMap::new();
    for b in &batches {
        by_topic.entry(b.topic.as_str()).or_default().push(
            PartitionProduceData::default()
                .with_index(b.partition)
                .with_records(b.built.clone()),
        );
    }
    let topic_data: Vec<TopicProduceData> = by_topic
        .into_iter()
        .map(|(topic, partitions)| {
            TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_topic_id(client.topic_id(topic))
                .with_partition_data(partitions)
        })
        .collect();
    let request = ProduceRequest::default()
        .with_acks(config.acks)
        .with_timeout_ms(i32::try_from(client.config().request_timeout_ms).unwrap_or(i32::MAX))
        .with_topic_data(topic_data);
    let mut results: Vec<Result<(i64, i64), ClientError>> = Vec::with_capacity(batches.len());
    if config.acks == 0 {
        let sent = client
            .send_only(leader, ApiKey::Produce, |_| Request::Produce(request))
            .await;
        for _ in &batches {
            results.push(match &sent {
                Ok(_) => Ok((-1, -1)),
                Err(e) => Err(e.duplicate()),
            });
        }
    } else {
        match client
            .request(leader, ApiKey::Produce, |_| Request::Produce(request))
            .await
            .and_then(|(version, r)| Ok((version, expect_response!(r, Produce)?)))
        {
            Ok((version, r)) => {
                for b in &batches {
                    let answer = r
                        .responses
                        .iter()
                        .filter(|t| {
                            if version >= 13 {
                                client.topic_id(&b.topic) == t.topic_id
                            } else {
                                t.name.0.as_str() == b.topic
                            }
                        })
                        .flat_map(|t| t.partition_responses.iter())
                        .find(|p| p.index == b.partition);
                    results.push(match answer {
                        None => Err(ClientError::Codec(format!(
                            "the produce response has no answer for {}-{}",
                            b.topic, b.partition
                        ))),
                        Some(p) => {
                            match KafkaError::from_wire(p.error_code, p.error_message.as_deref()) {
                                Some(e) => Err(e.into()),
                                None => Ok((p.base_offset, p.log_append_time_ms)),
                            }
                        }
                    });
                }
            }
            Err(e) => {
                for _ in &batches {
                    results.push(Err(e.duplicate()));
                }
            }
        }
    }
    settle(&shared, leader, batches, results);
}

/// Completes, requeues or fails each batch, then frees the node and its partitions.
fn settle(
    shared: &Shared,
    leader: i32,
    batches: Vec<Batch>,
    results: Vec<Result<(i64, i64), ClientError>>,
) {
    let config = &shared.config;
    let mut released = 0;
    let mut state = shared.state.lock().expect("producer lock");
    for (mut batch, result) in batches.into_iter().zip(results) {
        let tp = (batch.topic.clone(), batch.partition);
        state.in_flight.remove(&tp);
        match result {
            Ok((base_offset, log_append_time)) => {
                let topic = batch.topic.clone();
                let partition = batch.partition;
                released += batch.complete(|i, p| {
                    Ok(RecordMetadata {
                        topic: topic.clone(),
                        partition,
                        offset: if base_offset < 0 {
                            -1
                        } else {
                            base_offset + i as i64
                        },
                        timestamp_ms: if log_append_time >= 0 {
                            log_append_time
                        } else {
                            p.timestamp
                        },
                    })
                });
            }
            Err(e) => {
                batch.attempts += 1;
                let retry = e.is_retriable()
                    && batch.attempts <= config.retries
                    && Instant::now() < batch.deadline;
                if retry {
                    shared.client.invalidate_topic(&batch.topic);
                    batch.retry_at =
                        Some(Instant::now() + Duration::from_millis(config.retry_backoff_ms));
                    state.queues.entry(tp).or_default().push_front(batch);
                } else {
                    let e = if e.is_retriable() && Instant::now() >= batch.deadline {
                        expired(&batch, config.delivery_timeout_ms, &e)
                    } else {
                        e
                    };
                    released += batch.complete(|_, _| Err(e.duplicate()));
                }
            }
        }
    }
    state.busy_nodes.remove(&leader);
    drop(state);
    shared.memory.add_permits(released);
    shared.progress.notify_waiters();
    shared.wake.notify_one();
}

/// The error of a batch whose delivery timeout passed while it was retried.
fn expired(batch: &Batch, delivery_timeout_ms: u64, last: &ClientError) -> ClientError {
    ClientError::Timeout(format!(
        "{} record(s) for {}-{} expired after {delivery_timeout_ms} ms (delivery.timeout.ms): {last}",
        batch.records.len(),
        batch.topic,
        batch.partition,
    ))
}
