//! A Jepsen-style workload and checker for replication fault tests, on librdkafka (the
//! `rdkafka` crate: a real client with its idempotent producer). A producer
//! (`enable.idempotence=true`, so acks=all) sends unique values round-robin over a topic's
//! partitions and records every acknowledged (partition, offset, value); consumers read every
//! partition from the beginning and record what they read, in order. After the faults heal,
//! the checker reads the whole topic once more and verifies: every acknowledged record is at
//! its acknowledged offset (none lost), no value is stored twice (none duplicated), every
//! consumer read each partition with rising offsets (never going back) and only records that
//! are still there at those offsets (so per-partition order is total and the same for every
//! consumer, and no consumer saw a record that was later lost).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// A record: partition, offset, value.
pub type Entry = (i32, i64, String);

/// What a run produced and read.
#[derive(Debug, Default, Clone)]
pub struct History {
    /// Records the producer was told are stored, with their offsets.
    pub acked: Vec<Entry>,
    /// Values whose delivery failed (they may or may not be stored).
    pub failed: Vec<String>,
    /// Per consumer, what it read, in order.
    pub reads: Vec<Vec<Entry>>,
}

/// What the checker counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub acked: usize,
    pub failed: usize,
    pub stored: usize,
    pub read: usize,
}

#[derive(Debug, Default)]
struct Deliveries {
    acked: Mutex<Vec<Entry>>,
    failed: Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                self.acked
                    .lock()
                    .unwrap()
                    .push((m.partition(), m.offset(), value));
            }
            Err((_, m)) => {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                self.failed.lock().unwrap().push(value);
            }
        }
    }
}

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set("client.id", "kavka-jepsen")
        .set("log_level", "3");
    c
}

/// A consumer of every partition of `topic` from the beginning.
fn consumer(bootstrap: &str, topic: &str, partitions: i32) -> BaseConsumer {
    let consumer: BaseConsumer = config(bootstrap)
        .set("group.id", "kavka-jepsen-unused")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "error")
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    consumer
}

/// Each partition's end once the producer stopped: the consumers read up to it.
type Ends = Arc<Mutex<Option<HashMap<i32, i64>>>>;

/// How long consumers may take to reach the ends after the producer stopped.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running workload.
pub struct Workload {
    stop: Arc<AtomicBool>,
    ends: Ends,
    producer: JoinHandle<History>,
    consumers: Vec<JoinHandle<Vec<Entry>>>,
}

impl Workload {
    /// Starts a producer sending `rate_per_s` records per second over `partitions` partitions
    /// of `topic`, and `consumers` consumers of them.
    pub fn start(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        consumers: usize,
        rate_per_s: u32,
    ) -> Workload {
        let stop = Arc::new(AtomicBool::new(false));
        let ends: Ends = Arc::default();
        let producer = {
            let (stop, bootstrap, topic) = (stop.clone(), bootstrap.to_string(), topic.to_string());
            std::thread::spawn(move || produce(&bootstrap, &topic, partitions, rate_per_s, &stop))
        };
        let consumers = (0..consumers)
            .map(|_| {
                let (ends, bootstrap, topic) =
                    (ends.clone(), bootstrap.to_string(), topic.to_string());
                std::thread::spawn(move || consume(&bootstrap, &topic, partitions, &ends))
            })
            .collect();
        Workload {
            stop,
            ends,
            producer,
            consumers,
        }
    }

    /// Stops producing, waits for the outstanding deliveries, lets the consumers read up to
    /// every partition's end (the last acknowledged offset), and returns the history.
    pub fn finish(self) -> History {
        self.stop.store(true, Ordering::SeqCst);
        let mut history = self.producer.join().expect("producer thread");
        let mut ends: HashMap<i32, i64> = HashMap::new();
        for (p, o, _) in &history.acked {
            let end = ends.entry(*p).or_default();
            *end = (*end).max(o + 1);
        }
        *self.ends.lock().unwrap() = Some(ends);
        history.reads = self
            .consumers
            .into_iter()
            .map(|c| c.join().expect("consumer thread"))
            .collect();
        history
    }
}

fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    rate_per_s: u32,
    stop: &AtomicBool,
) -> History {
    let producer: BaseProducer<Deliveries> = config(bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create_with_context(Deliveries::default())
        .expect("producer");
    let every = Duration::from_secs(1) / rate_per_s.max(1);
    let mut next = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let value = format!("v{n}");
        let partition = (n % partitions as u64) as i32;
        let record = BaseRecord::<(), str>::to(topic)
            .payload(&value)
            .partition(partition);
        if let Err((e, _)) = producer.send(record) {
            panic!("librdkafka refused a record locally: {e}");
        }
        n += 1;
        producer.poll(Duration::ZERO);
        next += every;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    // Every record ends acknowledged or failed (message.timeout.ms).
    let _ = producer.flush(Duration::from_secs(40));
    let ctx = producer.context();
    let acked = std::mem::take(&mut *ctx.acked.lock().unwrap());
    let failed = std::mem::take(&mut *ctx.failed.lock().unwrap());
    History {
        acked,
        failed,
        reads: Vec::new(),
    }
}

fn consume(bootstrap: &str, topic: &str, partitions: i32, ends: &Ends) -> Vec<Entry> {
    let consumer = consumer(bootstrap, topic, partitions);
    let mut read = Vec::new();
    let mut next: HashMap<i32, i64> = HashMap::new();
    let mut deadline: Option<Instant> = None;
    loop {
        if let Some(ends) = ends.lock().unwrap().as_ref() {
            let at = *deadline.get_or_insert_with(|| Instant::now() + CATCH_UP_TIMEOUT);
            let caught_up = ends
                .iter()
                .all(|(p, end)| next.get(p).copied().unwrap_or(0) >= *end);
            if caught_up || Instant::now() > at {
                if !caught_up {
                    eprintln!(
                        "consumer stalled: read up to {next:?}, ends {ends:?}, position {:?}",
                        consumer.position().ok()
                    );
                }
                return read;
            }
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                next.insert(m.partition(), m.offset() + 1);
                read.push((m.partition(), m.offset(), value));
            }
            // Errors (a leader away, a broker down) are retried by the client.
            Some(Err(e)) if std::env::var_os("KAVKA_JEPSEN_DEBUG").is_some() => {
                eprintln!("consumer error: {e}");
            }
            Some(Err(_)) | None => {}
        }
    }
}

/// Every record of `topic` up to each partition's high watermark, by partition.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, Vec<(i64, String)>> {
    let consumer = consumer(bootstrap, topic, partitions);
    let mut ends = HashMap::new();
    for p in 0..partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(30))
            .expect("high watermark");
        ends.insert(p, high);
    }
    let mut log: BTreeMap<i32, Vec<(i64, String)>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = |log: &BTreeMap<i32, Vec<(i64, String)>>| {
        (0..partitions).all(|p| {
            let end = ends[&p];
            end == 0
                || log
                    .get(&p)
                    .and_then(|l| l.last())
                    .is_some_and(|(o, _)| *o >= end - 1)
        })
    };
    while !done(&log) {
        assert!(
            Instant::now() < deadline,
            "the final read did not reach the high watermarks {ends:?}"
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
            log.entry(m.partition())
                .or_default()
                .push((m.offset(), value));
        }
    }
    log
}

/// Checks `history` against the final `log`; the anomalies found, if any.
pub fn check(
    history: &History,
    log: &BTreeMap<i32, Vec<(i64, String)>>,
) -> Result<Stats, Vec<String>> {
    let mut anomalies = Vec::new();
    let mut at: HashMap<(i32, i64), &str> = HashMap::new();
    let mut stored: HashMap<&str, (i32, i64)> = HashMap::new();
    for (&p, records) in log {
        for (o, v) in records {
            at.insert((p, *o), v);
            if let Some(first) = stored.insert(v, (p, *o)) {
                anomalies.push(format!(
                    "duplicate: {v} stored at {first:?} and {:?}",
                    (p, *o)
                ));
            }
        }
    }
    for (p, o, v) in &history.acked {
        match at.get(&(*p, *o)) {
            Some(found) if *found == v => {}
            found => anomalies.push(format!(
                "lost: {v} acknowledged at {p}/{o}, there now: {found:?}; stored at {:?}",
                stored.get(v.as_str())
            )),
        }
    }
    let mut read = 0;
    for (c, reads) in history.reads.iter().enumerate() {
        let seen: std::collections::HashSet<&str> =
            reads.iter().map(|(_, _, v)| v.as_str()).collect();
        let unseen = history
            .acked
            .iter()
            .filter(|(_, _, v)| !seen.contains(v.as_str()))
            .count();
        if unseen > 0 {
            anomalies.push(format!(
                "consumer {c}: {unseen} acknowledged records never read (stalled?)"
            ));
        }
        let mut last: HashMap<i32, i64> = HashMap::new();
        for (p, o, v) in reads {
            read += 1;
            if let Some(prev) = last.insert(*p, *o) {
                if *o <= prev {
                    anomalies.push(format!(
                        "consumer {c}: offset of partition {p} went from {prev} to {o}"
                    ));
                }
            }
            if at.get(&(*p, *o)) != Some(&v.as_str()) {
                anomalies.push(format!(
                    "consumer {c}: read {v} at {p}/{o}, which the log now has as {:?}",
                    at.get(&(*p, *o))
                ));
            }
        }
    }
    if anomalies.is_empty() {
        Ok(Stats {
            acked: history.acked.len(),
            failed: history.failed.len(),
            stored: at.len(),
            read,
        })
    } else {
        Err(anomalies)
    }
}

/// A small seeded generator (xorshift) for the nemesis' choices.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `[lo, hi)`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

/// The seeds to run: `KAVKA_NEMESIS_SEEDS` (a count, from 1) or `default` of them;
/// `KAVKA_NEMESIS_SEED` runs that one alone.
pub fn seeds(default: u64) -> Vec<u64> {
    if let Some(one) = std::env::var("KAVKA_NEMESIS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![one];
    }
    let n = std::env::var("KAVKA_NEMESIS_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default);
    (1..=n).collect()
}
