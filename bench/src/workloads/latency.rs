//! P3: produce-to-consume latency at a fixed rate of 1 KiB records. Each value starts with the
//! time (ns since a common origin in this process) at which it was handed to the producer; the
//! consumer, in another thread, records now minus that time in a histogram. The producer's
//! delivery reports give the send-to-acknowledgement time of the same records beside it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use rdkafka::message::Message;
use rdkafka::producer::Producer;

use super::{topic_name, Target};
use crate::kafka::{self, Moved, ProducerSettings};
use crate::progress::with_progress;
use crate::report::{Figures, Percentiles, Row};
use crate::Options;

const VALUE_SIZE: usize = 1024;
/// The timestamp of warm-up records, which are not measured.
const WARM_UP: u64 = u64::MAX;
/// The histogram's range: 1 µs to an hour, 3 significant digits.
const HISTOGRAM_MAX_US: u64 = 3_600_000_000;
/// Longest wait for the consumer to see the warm-up records.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// A consumer that receives nothing for this long has stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the delivery-report thread waits for an event per poll.
const ACK_POLL: Duration = Duration::from_millis(10);
/// The producer's pacing step.
const PACING_SLEEP: Duration = Duration::from_micros(200);

/// What a latency run sends, and to what.
pub(crate) struct LatencyCase {
    /// Row label prefix, e.g. "P3 latency".
    pub name: &'static str,
    /// Produce rate, MB/s of 1 KiB records.
    pub mb_per_s: f64,
    /// "1" or "all".
    pub acks: &'static str,
    /// Replicas of the topic.
    pub replication_factor: i32,
    /// Topic configs.
    pub topic_configs: &'static [(&'static str, &'static str)],
}

/// P3: the single-broker case.
pub(crate) fn run(target: &Target, o: &Options) -> Result<Row> {
    let case = LatencyCase {
        name: "P3 latency",
        mb_per_s: o.latency_mb_per_s,
        acks: "1",
        replication_factor: 1,
        topic_configs: &[],
    };
    run_case(target, o, &case)
}

/// Produce-to-consume latency of `case`.
pub(crate) fn run_case(target: &Target, o: &Options, case: &LatencyCase) -> Result<Row> {
    let topic = topic_name("lat");
    kafka::create_replicated_topic(
        &target.bootstrap,
        &topic,
        o.partitions,
        case.replication_factor,
        case.topic_configs,
    )?;
    let rate = case.mb_per_s * 1e6 / VALUE_SIZE as f64;
    let total = ((rate * o.latency_secs).round() as u64).max(1);
    let rf = if case.replication_factor > 1 {
        format!(" RF={}", case.replication_factor)
    } else {
        String::new()
    };
    let workload = format!(
        "{} 1 KiB at {} MB/s{rf} acks={} linger.ms={}",
        case.name, case.mb_per_s, case.acks, o.latency_linger_ms
    );
    eprintln!(
        "{workload}: {total} records over {} s to {topic}",
        o.latency_secs
    );
    let origin = Instant::now();
    let deliveries = kafka::Deliveries::timed(kafka::AckClock {
        origin,
        histogram: std::sync::Mutex::new(Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3)?),
    });
    let producer = kafka::producer_with(
        &target.bootstrap,
        ProducerSettings {
            acks: case.acks,
            linger_ms: o.latency_linger_ms,
            idempotent: false,
            max_in_flight: None,
            transactional_id: None,
        },
        deliveries,
    )?;
    let consumer = kafka::consumer(&target.bootstrap)?;
    kafka::assign_from_beginning(&consumer, &topic, o.partitions)?;
    kafka::await_group_coordinator(&consumer, &topic, o.partitions)?;
    let warm = AtomicBool::new(false);
    let producer_failed = AtomicBool::new(false);
    let received = AtomicU64::new(0);
    let sending = AtomicBool::new(true);

    let ((moved, histogram), broker) = target.measure(|| {
        let out = with_progress(&workload, o.progress_every(), &received, || {
            std::thread::scope(|scope| {
                let consuming = scope.spawn(|| {
                    receive(
                        &consumer,
                        total,
                        o.partitions,
                        origin,
                        &warm,
                        &producer_failed,
                        &received,
                    )
                });
                // Serves delivery reports as they arrive: the sender's own polls take one report
                // event each and fall behind, which would time the poll, not the broker.
                let acks = scope.spawn(|| {
                    while sending.load(Ordering::Relaxed) {
                        producer.poll(ACK_POLL);
                    }
                });
                let sent = send_paced(&producer, &topic, o.partitions, total, rate, origin, &warm);
                sending.store(false, Ordering::Relaxed);
                if sent.is_err() {
                    producer_failed.store(true, Ordering::Relaxed);
                }
                acks.join()
                    .map_err(|_| anyhow!("delivery report thread panicked"))?;
                let received = consuming
                    .join()
                    .map_err(|_| anyhow!("consumer thread panicked"))?;
                sent.and(received)
            })
        })?;
        let bytes_moved = 2 * out.0.bytes;
        Ok((out, bytes_moved))
    })?;
    let acked = producer
        .context()
        .acks
        .as_ref()
        .map(|clock| percentiles(&clock.histogram.lock().expect("ack histogram lock")));
    Ok(Row {
        workload,
        figures: Figures::Latency {
            moved,
            broker,
            latency: percentiles(&histogram),
            acked,
        },
    })
}

fn percentiles(histogram: &Histogram<u64>) -> Percentiles {
    let at = |q: f64| Duration::from_micros(histogram.value_at_quantile(q));
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: Duration::from_micros(histogram.max()),
    }
}

fn stamp(value: &mut [u8], origin: Instant) {
    let now = origin.elapsed().as_nanos() as u64;
    value[..8].copy_from_slice(&now.to_le_bytes());
}

/// Sends one warm-up record per partition, waits for the consumer to see them all, then sends
/// `total` records at `rate` records/s.
fn send_paced(
    producer: &kafka::CountingProducer,
    topic: &str,
    partitions: i32,
    total: u64,
    rate: f64,
    origin: Instant,
    warm: &AtomicBool,
) -> Result<()> {
    let mut value = vec![0x5a_u8; VALUE_SIZE];
    value[..8].copy_from_slice(&WARM_UP.to_le_bytes());
    for p in 0..partitions {
        kafka::send(producer, topic, p, &value)?;
    }
    producer.flush(WARM_UP_TIMEOUT).context("warm-up records")?;
    let deadline = Instant::now() + WARM_UP_TIMEOUT;
    while !warm.load(Ordering::Relaxed) {
        if Instant::now() > deadline {
            bail!("the consumer did not receive the warm-up records");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let due = ((start.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        while sent < due {
            stamp(&mut value, origin);
            kafka::send(producer, topic, (sent % partitions as u64) as i32, &value)?;
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        std::thread::sleep(PACING_SLEEP);
    }
    kafka::finish(producer)
}

/// Receives the warm-up records (then sets `warm`) and `total` measured records; gives up when
/// the producer failed or nothing arrives for [`STALL_TIMEOUT`].
fn receive(
    consumer: &rdkafka::consumer::BaseConsumer,
    total: u64,
    partitions: i32,
    origin: Instant,
    warm: &AtomicBool,
    producer_failed: &AtomicBool,
    received: &AtomicU64,
) -> Result<(Moved, Histogram<u64>)> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_US, 3)?;
    let (mut warm_seen, mut records, mut bytes) = (0, 0u64, 0u64);
    let mut first_at: Option<Instant> = None;
    let mut last_at = Instant::now();
    while records < total {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                let now = Instant::now();
                last_at = now;
                let payload = message.payload().unwrap_or_default();
                let Some(stamp) = payload.get(..8) else {
                    bail!("a record without a timestamp");
                };
                let sent_ns = u64::from_le_bytes(stamp.try_into().expect("8 bytes"));
                if sent_ns == WARM_UP {
                    warm_seen += 1;
                    if warm_seen == partitions {
                        warm.store(true, Ordering::Relaxed);
                    }
                    continue;
                }
                let first = *first_at.get_or_insert(origin + Duration::from_nanos(sent_ns));
                let latency_us = ((now - origin).as_nanos() as u64).saturating_sub(sent_ns) / 1000;
                histogram.saturating_record(latency_us.max(1));
                records += 1;
                bytes += payload.len() as u64;
                received.store(records, Ordering::Relaxed);
                if records == total {
                    return Ok((
                        Moved {
                            records,
                            bytes,
                            elapsed: now - first,
                        },
                        histogram,
                    ));
                }
            }
            Some(Err(e)) => eprintln!("  consumer error (going on): {e}"),
            None => {}
        }
        if last_at.elapsed() > STALL_TIMEOUT || producer_failed.load(Ordering::Relaxed) {
            break;
        }
    }
    bail!("the consumer stalled at {records} of {total} records")
}
