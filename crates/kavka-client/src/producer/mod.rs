//! [`Producer`]: records are partitioned (murmur2 of the key, or a sticky partition for
//! unkeyed records, as the Java client), appended to their partition's open batch, and sent by
//! a background task when a batch reaches `batch.size` or has waited `linger.ms`; each record's
//! [`DeliveryFuture`] completes with its offset or its error.
//!
//! One produce request is in flight per broker (so a partition's batches arrive in order, even
//! when retried). Retriable errors (NOT_LEADER_OR_FOLLOWER, a lost connection...) refresh the
//! metadata and resend the batch after `retry.backoff.ms`, `retries` times at most and until
//! `delivery.timeout.ms`; other errors fail the batch's records with the Kafka error.
//!
//! Not done (yet): idempotence and transactions (producer id -1), splitting a batch refused as
//! MESSAGE_TOO_LARGE.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kavka_protocol::ErrorCode;
use tokio::sync::{oneshot, Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::client::Client;
use crate::config::ProducerConfig;
use crate::error::{ClientError, KafkaError};
use crate::partitioner::partition_for_key;

mod accumulator;
mod sender;

use accumulator::{Accumulator, Pending};

/// Bytes a record adds to a batch beyond its key, value and headers (length, attributes,
/// deltas, counts: varints of at most 5 or 10 bytes).
const RECORD_OVERHEAD_BYTES: usize = 21;
/// Bytes of a batch header.
const BATCH_OVERHEAD_BYTES: usize = kavka_protocol::batch::BATCH_HEADER_BYTES;

/// A record to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    /// Topic.
    pub topic: String,
    /// Partition; `None`: chosen from the key (or sticky when unkeyed).
    pub partition: Option<i32>,
    /// Key.
    pub key: Option<Bytes>,
    /// Value (`None`: a tombstone).
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// CreateTime timestamp; `None`: now.
    pub timestamp_ms: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with a key and value, no headers, partition chosen, timestamp now.
    pub fn new(topic: impl Into<String>, key: Option<Bytes>, value: Option<Bytes>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            partition: None,
            key,
            value,
            headers: Vec::new(),
            timestamp_ms: None,
        }
    }

    /// Bytes the record adds to an uncompressed batch, at most.
    fn size_bytes(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()) + 10)
            .sum();
        RECORD_OVERHEAD_BYTES
            + self.key.as_ref().map_or(0, |k| k.len())
            + self.value.as_ref().map_or(0, |v| v.len())
            + headers
    }
}

/// Where a record was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset (-1 with acks=0).
    pub offset: i64,
    /// The record's timestamp: its CreateTime, or the broker's LogAppendTime.
    pub timestamp_ms: i64,
}

/// Completes when the record is acknowledged (or failed).
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata, ClientError>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx).poll(cx).map(|r| {
            r.unwrap_or_else(|_| Err(ClientError::State("the producer dropped the record".into())))
        })
    }
}

/// What the producer handle and its sender task share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) config: ProducerConfig,
    pub(crate) state: Mutex<Accumulator>,
    /// Wakes the sender (a batch became ready, a flush, a close, a request ended).
    pub(crate) wake: Notify,
    /// Signals that batches completed (flush waits on it).
    pub(crate) progress: Notify,
    /// `buffer.memory`, in bytes of records.
    pub(crate) memory: Semaphore,
}

/// An asynchronous, batching producer (see the module documentation).
#[derive(Debug)]
pub struct Producer {
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
}

impl Producer {
    /// A producer over `client`, with its background sender task.
    pub async fn new(client: Client, config: ProducerConfig) -> Result<Producer, ClientError> {
        if ![-1, 0, 1].contains(&config.acks) {
            return Err(ClientError::Config(format!(
                "acks: invalid value {} (expected -1, 0 or 1)",
                config.acks
            )));
        }
        if config.batch_size == 0 || config.max_request_size == 0 || config.buffer_memory == 0 {
            return Err(ClientError::Config(
                "batch.size, max.request.size and buffer.memory must be positive".into(),
            ));
        }
        let shared = Arc::new(Shared {
            client,
            memory: Semaphore::new(config.buffer_memory.min(Semaphore::MAX_PERMITS)),
            config,
            state: Mutex::new(Accumulator::new()),
            wake: Notify::new(),
            progress: Notify::new(),
        });
        let task = tokio::spawn(sender::run(shared.clone()));
        Ok(Producer {
            shared,
            task: Some(task),
        })
    }

    /// Appends a record to its partition's batch; waits (up to `max.block.ms`) for topic
    /// metadata and for room in `buffer.memory`. The returned future completes when the
    /// record is acknowledged.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ClientError> {
        let shared = &self.shared;
        let config = &shared.config;
        if shared.state.lock().expect("producer lock").closed {
            return Err(ClientError::State("the producer is closed".into()));
        }
        let size = record.size_bytes();
        if size + BATCH_OVERHEAD_BYTES > config.max_request_size {
            return Err(KafkaError::new(
                ErrorCode::MESSAGE_TOO_LARGE,
                format!(
                    "The message is {size} bytes when serialized which is larger than {}, which \
                     is the value of the max.request.size configuration.",
                    config.max_request_size
                ),
            )
            .into());
        }
        let block = Duration::from_millis(config.max_block_ms);
        let count = shared
            .client
            .partition_count(&record.topic, true, block)
            .await?;
        let permits = size.min(config.buffer_memory) as u32;
        let acquired = tokio::time::timeout(block, shared.memory.acquire_many(permits))
            .await
            .map_err(|_| {
                ClientError::Timeout(format!(
                    "no room in buffer.memory ({} bytes) within max.block.ms",
                    config.buffer_memory
                ))
            })?
            .map_err(|_| ClientError::State("the producer is closed".into()))?;
        acquired.forget();
        let timestamp = record.timestamp_ms.unwrap_or_else(now_ms);
        let (tx, rx) = oneshot::channel();
        let mut state = shared.state.lock().expect("producer lock");
        let mut sealed = false;
        let partition = match (record.partition, &record.key) {
            (Some(p), _) if (0..count).contains(&p) => p,
            (Some(p), _) => {
                drop(state);
                shared.memory.add_permits(permits as usize);
                return Err(ClientError::State(format!(
                    "Invalid partition given with record: {p} is not in the range [0...{count}]."
                )));
            }
            (None, Some(key)) => partition_for_key(key, count),
            (None, None) => {
                let (p, left) =
                    state
                        .partitioner
                        .partition(&record.topic, count, size, config.batch_size);
                if let Some(left) = left {
                    sealed = state.seal(&record.topic, left);
                }
                p
            }
        };
        let wake = state.append(
            &record,
            partition,
            timestamp,
            Pending {
                tx,
                timestamp,
                permits: permits as usize,
            },
            config,
        );
        drop(state);
        if wake || sealed || config.linger_ms == 0 {
            shared.wake.notify_one();
        }
        Ok(DeliveryFuture { rx })
    }

    /// Sends every record appended so far without waiting for `linger.ms`, and waits until
    /// each is acknowledged or failed (their futures say which).
    pub async fn flush(&self) -> Result<(), ClientError> {
        let shared = &self.shared;
        shared.state.lock().expect("producer lock").flushing += 1;
        shared.wake.notify_one();
        loop {
            let progress = shared.progress.notified();
            tokio::pin!(progress);
            progress.as_mut().enable();
            if shared.state.lock().expect("producer lock").is_idle() {
                break;
            }
            progress.await;
        }
        shared.state.lock().expect("producer lock").flushing -= 1;
        Ok(())
    }

    /// Flushes, then stops the sender task.
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.flush().await?;
        self.shared.state.lock().expect("producer lock").closed = true;
        self.shared.wake.notify_one();
        if let Some(task) = self.task.take() {
            task.await
                .map_err(|e| ClientError::State(format!("producer sender task failed: {e}")))?;
        }
        Ok(())
    }
}

impl Drop for Producer {
    /// Without `close`, the sender still sends what was appended, then stops.
    fn drop(&mut self) {
        self.shared.state.lock().expect("producer lock").closed = true;
        self.shared.wake.notify_one();
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// When a batch created now must be delivered by.
pub(crate) fn delivery_deadline(config: &ProducerConfig) -> Instant {
    Instant::now() + Duration::from_millis(config.delivery_timeout_ms)
}
