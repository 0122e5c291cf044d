//! The record accumulator: per partition, a queue of batches, the last one open for appends.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kavka_protocol::records::BatchBuilder;
use tokio::sync::oneshot;

use super::{delivery_deadline, ProducerRecord, RecordMetadata};
use crate::config::ProducerConfig;
use crate::error::ClientError;
use crate::partitioner::StickyPartitioner;

/// A record waiting for its acknowledgement.
#[derive(Debug)]
pub(crate) struct Pending {
    /// Completes the record's future.
    pub(crate) tx: oneshot::Sender<Result<RecordMetadata, ClientError>>,
    /// Its CreateTime.
    pub(crate) timestamp: i64,
    /// Bytes of `buffer.memory` it holds.
    pub(crate) permits: usize,
}

/// The records of one partition sent (and retried) together.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// Open for appends until it is first sent.
    pub(crate) builder: Option<BatchBuilder>,
    /// The encoded batch, once closed (resent as is).
    pub(crate) built: Option<Bytes>,
    pub(crate) records: Vec<Pending>,
    /// When the first record was appended (for `linger.ms`).
    pub(crate) created: Instant,
    /// When the records fail with a timeout (`delivery.timeout.ms`).
    pub(crate) deadline: Instant,
    /// Sends so far.
    pub(crate) attempts: u32,
    /// No more appends: the sticky partitioner moved on (sent without waiting for linger).
    pub(crate) sealed: bool,
    /// Not before this (a retry's backoff).
    pub(crate) retry_at: Option<Instant>,
}

impl Batch {
    fn bytes(&self) -> usize {
        match (&self.builder, &self.built) {
            (Some(b), _) => b.records_bytes(),
            (None, Some(b)) => b.len(),
            (None, None) => 0,
        }
    }

    /// Closes the batch for appends and encodes it (once).
    pub(crate) fn close(&mut self) -> Result<Bytes, ClientError> {
        if let Some(builder) = self.builder.take() {
            let bytes = builder
                .build()
                .map_err(|e| ClientError::Codec(format!("compressing a batch: {e}")))?;
            self.built = Some(bytes);
        }
        Ok(self.built.clone().expect("closed batch is built"))
    }

    /// Completes every record with its result; returns the `buffer.memory` bytes released.
    pub(crate) fn complete(
        self,
        result: impl Fn(usize, &Pending) -> Result<RecordMetadata, ClientError>,
    ) -> usize {
        let mut released = 0;
        for (i, p) in self.records.into_iter().enumerate() {
            released += p.permits;
            let r = result(i, &p);
            let _ = p.tx.send(r);
        }
        released
    }
}

/// Batches waiting to be sent, and what the sender is doing.
#[derive(Debug)]
pub(crate) struct Accumulator {
    pub(crate) queues: BTreeMap<(String, i32), VecDeque<Batch>>,
    /// Partitions with a batch in flight (their next batch waits).
    pub(crate) in_flight: BTreeSet<(String, i32)>,
    /// Nodes with a produce request in flight.
    pub(crate) busy_nodes: BTreeSet<i32>,
    /// Flushes waiting: every batch is ready.
    pub(crate) flushing: usize,
    /// No more sends; the sender stops once everything is sent.
    pub(crate) closed: bool,
    pub(crate) partitioner: StickyPartitioner,
}

impl Accumulator {
    pub(crate) fn new() -> Accumulator {
        Accumulator {
            queues: BTreeMap::new(),
            in_flight: BTreeSet::new(),
            busy_nodes: BTreeSet::new(),
            flushing: 0,
            closed: false,
            partitioner: StickyPartitioner::new(),
        }
    }

    /// Nothing queued and nothing in flight.
    pub(crate) fn is_idle(&self) -> bool {
        self.queues.values().all(VecDeque::is_empty) && self.in_flight.is_empty()
    }

    /// Appends to the partition's open batch (a new one when full or closed). Returns whether
    /// the sender must look again: a batch is ready, or a new one started (its linger
    /// deadline is new).
    pub(crate) fn append(
        &mut self,
        record: &ProducerRecord,
        partition: i32,
        timestamp: i64,
        pending: Pending,
        config: &ProducerConfig,
    ) -> bool {
        let queue = self
            .queues
            .entry((record.topic.clone(), partition))
            .or_default();
        let size = record.size_bytes();
        let fits = |b: &Batch| {
            b.builder.is_some()
                && !b.sealed
                && (b.records.is_empty() || b.bytes() + size <= config.batch_size)
        };
        let new_batch = !queue.back().is_some_and(fits);
        if new_batch {
            queue.push_back(Batch {
                topic: record.topic.clone(),
                partition,
                builder: Some(BatchBuilder::new(config.compression)),
                built: None,
                records: Vec::new(),
                created: Instant::now(),
                deadline: delivery_deadline(config),
                attempts: 0,
                sealed: false,
                retry_at: None,
            });
        }
        let batch = queue.back_mut().expect("just pushed");
        let headers: Vec<(&[u8], Option<&[u8]>)> = record
            .headers
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_deref()))
            .collect();
        batch.builder.as_mut().expect("open batch").append(
            timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &headers,
        );
        batch.records.push(pending);
        let full = batch.bytes() >= config.batch_size;
        full || new_batch
    }

    /// Seals the open batch of a partition the sticky partitioner left. Returns whether there
    /// was one (then it is ready).
    pub(crate) fn seal(&mut self, topic: &str, partition: i32) -> bool {
        let key = (topic.to_string(), partition);
        match self.queues.get_mut(&key).and_then(|q| q.back_mut()) {
            Some(b) if b.builder.is_some() && !b.sealed => {
                b.sealed = true;
                true
            }
            _ => false,
        }
    }

    /// The partitions whose first batch may be sent now, and when to look again otherwise.
    pub(crate) fn ready(
        &self,
        now: Instant,
        linger: Duration,
        batch_size: usize,
    ) -> (Vec<(String, i32)>, Option<Instant>) {
        let mut ready = Vec::new();
        let mut next: Option<Instant> = None;
        let mut wake_at = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for (tp, queue) in &self.queues {
            let Some(front) = queue.front() else { continue };
            if self.in_flight.contains(tp) {
                continue;
            }
            if let Some(at) = front.retry_at.filter(|at| *at > now) {
                wake_at(at);
                continue;
            }
            let due = front.created + linger;
            if queue.len() > 1
                || front.builder.is_none()
                || front.sealed
                || front.bytes() >= batch_size
                || due <= now
                || self.flushing > 0
                || self.closed
                || front.deadline <= now
            {
                ready.push(tp.clone());
            } else {
                wake_at(due);
            }
        }
        (ready, next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending() -> Pending {
        let (tx, _rx) = oneshot::channel();
        Pending {
            tx,
            timestamp: 0,
            permits: 0,
        }
    }

    fn config() -> ProducerConfig {
        ProducerConfig {
            batch_size: 200,
            linger_ms: 1_000,
            ..ProducerConfig::default()
        }
    }

    #[test]
    fn a_batch_is_ready_when_full_lingered_flushed_or_sealed() {
        let config = config();
        let linger = Duration::from_millis(config.linger_ms);
        let mut acc = Accumulator::new();
        let record = ProducerRecord::new("t", None, Some(Bytes::from(vec![0u8; 80])));
        assert!(
            acc.append(&record, 0, 1, pending(), &config),
            "a new batch wakes the sender"
        );
        assert!(!acc.append(&record, 0, 1, pending(), &config));
        let now = Instant::now();
        let (ready, next) = acc.ready(now, linger, config.batch_size);
        assert!(ready.is_empty());
        assert!(next.unwrap() > now);
        assert!(!acc
            .ready(now + linger, linger, config.batch_size)
            .0
            .is_empty());
        // The third record does not fit: a second batch starts and the first is ready.
        assert!(acc.append(&record, 0, 1, pending(), &config));
        assert_eq!(acc.queues[&("t".to_string(), 0)].len(), 2);
        assert_eq!(acc.ready(now, linger, config.batch_size).0.len(), 1);
        // Another partition: sealed (the sticky partitioner left it) or flushed.
        acc.append(&record, 1, 1, pending(), &config);
        assert!(acc.seal("t", 1));
        assert!(!acc.seal("t", 1));
        assert_eq!(acc.ready(now, linger, config.batch_size).0.len(), 2);
        acc.append(&record, 2, 1, pending(), &config);
        acc.flushing = 1;
        assert_eq!(acc.ready(now, linger, config.batch_size).0.len(), 3);
        // A partition with a batch in flight waits.
        acc.in_flight.insert(("t".to_string(), 0));
        assert_eq!(acc.ready(now, linger, config.batch_size).0.len(), 2);
        assert!(!acc.is_idle());
    }
}
