//! librdkafka through the `rdkafka` crate: topic creation, a producer that counts deliveries,
//! a consumer by partition assignment, and the two loops the workloads share (produce N
//! records, consume a topic to its end).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// The client id every connection sends.
const CLIENT_ID: &str = "kavka-bench";
/// The consumer's group id: required by librdkafka, unused (no subscribe, no commits).
const GROUP_ID: &str = "kavka-bench-unused";
/// Time for a request (topic creation, watermarks, the final flush) before giving up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the producer's outstanding records at the end of a run.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(600);
/// A consumer that receives nothing for this long has stalled.
const CONSUME_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// librdkafka's default (1000 ms) pauses fetching a partition for a second whenever the local
/// queue is over `queued.min.messages`, which with 100 B records caps a consumer at about a
/// quarter of what the broker serves (measured: 29 MB/s instead of 114): the client, not the
/// broker, would be measured. The consumer's only departure from librdkafka's defaults.
const FETCH_QUEUE_BACKOFF_MS: &str = "0";
/// Records sent between two polls of the producer's delivery reports.
const POLL_EVERY_RECORDS: u64 = 1024;

/// A producer configuration: the figures the workloads vary, librdkafka's defaults for the rest
/// (batch.size 1 MB, no compression, no idempotence unless asked).
#[derive(Debug, Clone, Copy)]
pub struct ProducerSettings {
    /// "1" or "all".
    pub acks: &'static str,
    pub linger_ms: u32,
    /// `enable.idempotence` (librdkafka then requires acks=all).
    pub idempotent: bool,
    /// `max.in.flight.requests.per.connection`, librdkafka's default when `None`.
    pub max_in_flight: Option<u32>,
    /// A `transactional.id` (then records are sent in transactions, see `produce_n`).
    pub transactional_id: Option<&'static str>,
}

/// Counts delivery reports; the producer's context.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Records acknowledged by the broker (shared with the progress reporter).
    pub delivered: Arc<AtomicU64>,
    pub failed: AtomicU64,
    /// The first failure, for the error message.
    first_error: Mutex<Option<String>>,
    /// Send-to-acknowledgement times, when the values carry their send time.
    pub acks: Option<AckClock>,
}

/// Times acknowledgements of values whose first 8 bytes are their send time in nanoseconds
/// since `origin` (little-endian; `u64::MAX` marks a record not to time). A report is seen
/// when the producer is polled, so a time is at most one poll interval late.
#[derive(Debug)]
pub struct AckClock {
    pub origin: Instant,
    pub histogram: Mutex<hdrhistogram::Histogram<u64>>,
}

impl Deliveries {
    /// Counting, and timing acknowledgements with `clock`.
    pub fn timed(clock: AckClock) -> Deliveries {
        Deliveries {
            acks: Some(clock),
            ..Default::default()
        }
    }
}

impl AckClock {
    fn record(&self, payload: &[u8]) {
        let Some(stamp) = payload.get(..8) else {
            return;
        };
        let sent_ns = u64::from_le_bytes(stamp.try_into().expect("8 bytes"));
        if sent_ns == u64::MAX {
            return;
        }
        let now_ns = self.origin.elapsed().as_nanos() as u64;
        let us = now_ns.saturating_sub(sent_ns) / 1000;
        let mut histogram = self.histogram.lock().expect("ack histogram lock");
        histogram.saturating_record(us.max(1));
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                if let Some(clock) = &self.acks {
                    clock.record(rdkafka::Message::payload(message).unwrap_or_default());
                }
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first_error.lock().expect("error lock");
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

pub type CountingProducer = BaseProducer<Deliveries>;

fn base_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", CLIENT_ID);
    config
}

/// Creates `topic` with `partitions` partitions, replication factor 1, and topic `configs`.
pub fn create_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<()> {
    create_replicated_topic(bootstrap, topic, partitions, 1, configs)
}

/// Creates `topic` with `partitions` partitions of `replication_factor` replicas.
pub fn create_replicated_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    replication_factor: i32,
    configs: &[(&str, &str)],
) -> Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        base_config(bootstrap).create().context("admin client")?;
    let mut new_topic = NewTopic::new(
        topic,
        partitions,
        TopicReplication::Fixed(replication_factor),
    );
    for (key, value) in configs {
        new_topic = new_topic.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT));
    let results = futures_executor::block_on(admin.create_topics([&new_topic], &options))
        .with_context(|| format!("create topic {topic}"))?;
    for result in results {
        result.map_err(|(name, code)| anyhow!("create topic {name}: {code}"))?;
    }
    Ok(())
}

pub fn producer(bootstrap: &str, settings: ProducerSettings) -> Result<CountingProducer> {
    producer_with(bootstrap, settings, Deliveries::default())
}

/// A producer whose context is `deliveries` (e.g. with an [`AckClock`]).
pub fn producer_with(
    bootstrap: &str,
    settings: ProducerSettings,
    deliveries: Deliveries,
) -> Result<CountingProducer> {
    let mut config = base_config(bootstrap);
    if let Some(id) = settings.transactional_id {
        config.set("transactional.id", id);
    }
    if let Some(n) = settings.max_in_flight {
        config.set("max.in.flight.requests.per.connection", n.to_string());
    }
    config
        .set("acks", settings.acks)
        .set("linger.ms", settings.linger_ms.to_string())
        .set("enable.idempotence", settings.idempotent.to_string())
        .create_with_context(deliveries)
        .context("producer")
}

/// Queues one record, waiting (and serving delivery reports) while librdkafka's queue is full.
pub fn send(producer: &CountingProducer, topic: &str, partition: i32, value: &[u8]) -> Result<()> {
    let mut record = BaseRecord::<(), [u8]>::to(topic)
        .partition(partition)
        .payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                record = r;
                producer.poll(Duration::from_millis(5));
            }
            Err((e, _)) => bail!("produce to {topic}-{partition}: {e}"),
        }
    }
}

/// Waits for every outstanding record; fails if any was not acknowledged.
pub fn finish(producer: &CountingProducer) -> Result<()> {
    producer.flush(FLUSH_TIMEOUT).context("producer flush")?;
    let ctx = producer.context();
    let failed = ctx.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = ctx.first_error.lock().expect("error lock").clone();
        bail!(
            "{failed} records not acknowledged, first: {}",
            first.unwrap_or_default()
        );
    }
    Ok(())
}

/// What a produce or consume loop did.
#[derive(Debug, Clone, Copy)]
pub struct Moved {
    pub records: u64,
    /// Record value bytes (keys, headers and batch framing not counted).
    pub bytes: u64,
    pub elapsed: Duration,
}

/// Produces `records` values of `value_size` bytes round-robin over `partitions`, counting
/// acknowledgements into `producer.context().delivered`; the time runs until the last is
/// acknowledged.
/// Readies a producer before the clock starts, so that no row counts the client's start-up:
/// one record to `warm_topic` (a topic of its own, created here) is delivered, which connects
/// and, for an idempotent producer, waits for its producer id (librdkafka asks for it only
/// once a broker connection is up and retries on a timer); a transactional producer runs
/// `init_transactions` and one committed transaction there.
pub fn warm_up(
    producer: &CountingProducer,
    bootstrap: &str,
    warm_topic: &str,
    transactional: bool,
) -> Result<()> {
    create_topic(bootstrap, warm_topic, 1, &[])?;
    if transactional {
        producer
            .init_transactions(REQUEST_TIMEOUT)
            .context("init_transactions")?;
        producer.begin_transaction().context("begin_transaction")?;
    }
    send(producer, warm_topic, 0, b"warm-up")?;
    if transactional {
        commit(producer)?;
    }
    finish(producer)?;
    producer.context().delivered.store(0, Ordering::Relaxed);
    Ok(())
}

/// Commits the open transaction. The records are delivered first with short polls: the
/// crate's `commit_transaction` flushes by polling in 100 ms steps, which would add up to
/// 100 ms to every transaction and measure the client, not the broker.
fn commit(producer: &CountingProducer) -> Result<()> {
    let deadline = Instant::now() + FLUSH_TIMEOUT;
    while producer.in_flight_count() > 0 && Instant::now() < deadline {
        producer.poll(Duration::from_millis(1));
    }
    producer.commit_transaction(FLUSH_TIMEOUT).context("commit")
}

/// Sends `records` records round-robin over the partitions; with `txn_records`, in
/// transactions of that many records, each committed before the next begins (after
/// [`warm_up`] with `transactional`).
pub fn produce_n(
    producer: &CountingProducer,
    topic: &str,
    partitions: i32,
    records: u64,
    value_size: usize,
    txn_records: Option<u64>,
) -> Result<Moved> {
    let value: Vec<u8> = (0..value_size).map(|i| (i % 251) as u8).collect();
    let start = Instant::now();
    for i in 0..records {
        if let Some(n) = txn_records {
            if i % n == 0 {
                if i > 0 {
                    commit(producer)?;
                }
                producer.begin_transaction().context("begin_transaction")?;
            }
        }
        send(producer, topic, (i % partitions as u64) as i32, &value)?;
        if i % POLL_EVERY_RECORDS == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    if txn_records.is_some() {
        commit(producer)?;
    }
    finish(producer)?;
    Ok(Moved {
        records,
        bytes: records * value_size as u64,
        elapsed: start.elapsed(),
    })
}

/// A consumer without group membership: `assign()` with explicit offsets, no commits.
pub fn consumer(bootstrap: &str) -> Result<BaseConsumer> {
    consumer_at(bootstrap, "read_uncommitted")
}

/// [`consumer`] at an `isolation.level`.
pub fn consumer_at(bootstrap: &str, isolation_level: &str) -> Result<BaseConsumer> {
    base_config(bootstrap)
        .set("isolation.level", isolation_level)
        .set("group.id", GROUP_ID)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.queue.backoff.ms", FETCH_QUEUE_BACKOFF_MS)
        .create()
        .context("consumer")
}

/// Assigns every partition of `topic` from its beginning.
pub fn assign_from_beginning(consumer: &BaseConsumer, topic: &str, partitions: i32) -> Result<()> {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&list).context("assign")?;
    Ok(())
}

/// Waits until the consumer's group coordinator answers (asking for the committed offsets of
/// `topic`'s partitions). librdkafka looks for the coordinator of its `group.id` even when it
/// only assigns, and the first FindCoordinator makes the broker create `__consumer_offsets`
/// (50 partitions, replicated on a cluster): a one-time cost that must not fall inside a
/// measured run.
pub fn await_group_coordinator(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> Result<()> {
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    loop {
        match consumer.committed_offsets(list.clone(), Duration::from_secs(5)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                eprintln!("  group coordinator not ready yet: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(e).context("the group coordinator never answered"),
        }
    }
}

/// Reads every record of `topic` (log start to high watermark of each partition, as they are
/// when the call starts), counting them into `counter`.
/// Consumes the whole topic; `records` is how many it holds (`None`: the watermarks tell, which
/// is exact only without transaction markers). With `read_committed`, at that isolation level.
pub fn consume_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    counter: &AtomicU64,
    records: Option<u64>,
    read_committed: bool,
) -> Result<Moved> {
    let isolation = if read_committed {
        "read_committed"
    } else {
        "read_uncommitted"
    };
    let consumer = consumer_at(bootstrap, isolation)?;
    let mut expected = 0u64;
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, REQUEST_TIMEOUT)
            .with_context(|| format!("watermarks of {topic}-{p}"))?;
        expected += (high - low) as u64;
    }
    let expected = records.unwrap_or(expected);
    let start = Instant::now();
    assign_from_beginning(&consumer, topic, partitions)?;
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut last_progress = Instant::now();
    while records < expected {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                records += 1;
                bytes += message.payload_len() as u64;
                counter.store(records, Ordering::Relaxed);
                last_progress = Instant::now();
            }
            Some(Err(e)) => eprintln!("  consumer error (going on): {e}"),
            None => {}
        }
        if last_progress.elapsed() > CONSUME_STALL_TIMEOUT {
            bail!("consumer stalled at {records} of {expected} records of {topic}");
        }
    }
    Ok(Moved {
        records,
        bytes,
        elapsed: start.elapsed(),
    })
}
