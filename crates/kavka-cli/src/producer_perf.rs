//! `kavka producer-perf-test` (kafka-producer-perf-test.sh): produces `--num-records` records at
//! up to `--throughput` records/s and prints Kafka's progress line every 5 s and its final
//! summary with latency percentiles.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kavka_client::{Producer, ProducerConfig, ProducerRecord};

use crate::common::{self, Props};
use crate::ToolError;

/// How often a progress line is printed.
const REPORTING_INTERVAL_MS: u128 = 5_000;

/// Command-line flags of kafka-producer-perf-test.sh, as Kafka declares them (help texts
/// verbatim: they are laid out as Kafka's argparse4j lays them out), plus `--bootstrap-server`.
#[derive(Debug, clap::Args)]
#[command(
    infer_long_args = true,
    group(clap::ArgGroup::new("payload").required(true).multiple(false))
)]
pub struct Args {
    #[arg(
        long,
        value_name = "TOPIC",
        required = true,
        help = "produce messages to this topic"
    )]
    topic: Option<String>,
    #[arg(
        long = "num-records",
        value_name = "NUM-RECORDS",
        required = true,
        help = "number of messages to produce"
    )]
    num_records: Option<u64>,
    #[arg(
        long = "record-size",
        value_name = "RECORD-SIZE",
        group = "payload",
        help = "message size in bytes. Note that you must provide exactly one of --record-size \
                or --payload-file or --payload-monotonic."
    )]
    record_size: Option<usize>,
    #[arg(
        long = "payload-file",
        value_name = "PAYLOAD-FILE",
        group = "payload",
        help = "file to read the message payloads from. This works only for UTF-8 encoded text \
                files. Payloads will be read from this file and a payload will be randomly \
                selected when sending messages. Note that you must provide exactly one of \
                --record-size or --payload-file or --payload-monotonic."
    )]
    payload_file: Option<String>,
    #[arg(
        long = "payload-monotonic",
        group = "payload",
        help = "payload is monotonically increasing integer. Note that you must provide \
                exactly one of --record-size or --payload-file or --payload-monotonic."
    )]
    payload_monotonic: bool,
    #[arg(
        long = "payload-delimiter",
        value_name = "PAYLOAD-DELIMITER",
        default_value = "\\n",
        help = "provides delimiter to be used when --payload-file is provided. Defaults to new \
                line. Note that this parameter will be ignored if --payload-file is not \
                provided."
    )]
    payload_delimiter: String,
    #[arg(
        long,
        value_name = "THROUGHPUT",
        required = true,
        allow_negative_numbers = true,
        help = "throttle maximum message throughput to *approximately* THROUGHPUT messages/sec. \
                Set this to -1 to disable throttling."
    )]
    throughput: Option<f64>,
    #[arg(
        long = "producer-props",
        alias = "command-property",
        value_name = "PROP-NAME=PROP-VALUE",
        num_args = 1..,
        help = "kafka producer related configuration properties like \
                bootstrap.servers,client.id etc. These configs take precedence over those \
                passed via --producer.config."
    )]
    producer_props: Vec<String>,
    #[arg(
        long = "producer.config",
        alias = "command-config",
        value_name = "CONFIG-FILE",
        help = "producer config properties file."
    )]
    producer_config: Option<String>,
    #[arg(
        long = "print-metrics",
        help = "print out metrics at the end of the test."
    )]
    print_metrics: bool,
    #[arg(
        long = "transactional-id",
        value_name = "TRANSACTIONAL-ID",
        help = "The transactional id to use. This config takes precedence over the \
                transactional.id specified via --producer.config or --producer-props. Note \
                that if the transactional id is not specified while --transaction-duration-ms \
                is provided, the default value for the transactional id will be \
                performance-producer- followed by a random uuid."
    )]
    transactional_id: Option<String>,
    #[arg(
        long = "transaction-duration-ms",
        value_name = "TRANSACTION-DURATION",
        help = "The max age of each transaction. The commitTransaction will be called after \
                this time has elapsed. The value should be greater than 0. If the \
                transactional id is specified via --producer-props, --producer.config, or \
                --transactional-id but --transaction-duration-ms is not specified, the default \
                value will be 3000."
    )]
    transaction_duration_ms: Option<u64>,
    #[arg(
        long = "bootstrap-server",
        value_name = "BOOTSTRAP-SERVERS",
        help = "The server(s) to connect to (a kavka addition: overrides bootstrap.servers of \
                the properties)."
    )]
    bootstrap_server: Option<String>,
}

/// Kafka's `ProducerPerformance.Stats`.
#[derive(Debug)]
struct Stats {
    start: Instant,
    window_start: Instant,
    latencies: Vec<u32>,
    count: u64,
    bytes: u64,
    max_latency: u64,
    total_latency: u64,
    window_count: u64,
    window_max_latency: u64,
    window_total_latency: u64,
    window_bytes: u64,
    errors: u64,
}

impl Stats {
    fn new(records: u64) -> Stats {
        let now = Instant::now();
        Stats {
            start: now,
            window_start: now,
            latencies: Vec::with_capacity(records.min(10_000_000) as usize),
            count: 0,
            bytes: 0,
            max_latency: 0,
            total_latency: 0,
            window_count: 0,
            window_max_latency: 0,
            window_total_latency: 0,
            window_bytes: 0,
            errors: 0,
        }
    }

    fn record(&mut self, latency_ms: u64, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
        self.total_latency += latency_ms;
        self.max_latency = self.max_latency.max(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes;
        self.window_total_latency += latency_ms;
        self.window_max_latency = self.window_max_latency.max(latency_ms);
        self.latencies
            .push(latency_ms.min(u64::from(u32::MAX)) as u32);
        if self.window_start.elapsed().as_millis() >= REPORTING_INTERVAL_MS {
            self.print_window();
            self.window_start = Instant::now();
            self.window_count = 0;
            self.window_max_latency = 0;
            self.window_total_latency = 0;
            self.window_bytes = 0;
        }
    }

    fn print_window(&self) {
        let elapsed_ms = self.window_start.elapsed().as_millis().max(1) as f64;
        let recs_per_sec = 1000.0 * self.window_count as f64 / elapsed_ms;
        let mb_per_sec = 1000.0 * self.window_bytes as f64 / elapsed_ms / (1024.0 * 1024.0);
        outln!(
            "{} records sent, {recs_per_sec:.1} records/sec ({mb_per_sec:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.window_count,
            self.window_total_latency as f64 / self.window_count.max(1) as f64,
            self.window_max_latency as f64
        );
    }

    fn print_total(&mut self) {
        let elapsed_ms = self.start.elapsed().as_millis().max(1) as f64;
        let recs_per_sec = 1000.0 * self.count as f64 / elapsed_ms;
        let mb_per_sec = 1000.0 * self.bytes as f64 / elapsed_ms / (1024.0 * 1024.0);
        self.latencies.sort_unstable();
        let size = self.latencies.len();
        let pct = |p: f64| -> u32 {
            if size == 0 {
                0
            } else {
                self.latencies[((p * size as f64) as usize).min(size - 1)]
            }
        };
        outln!(
            "{} records sent, {recs_per_sec:.6} records/sec ({mb_per_sec:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            self.total_latency as f64 / self.count.max(1) as f64,
            self.max_latency as f64,
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(0.999)
        );
    }
}

/// Where record values come from.
enum Payloads {
    Fixed(Bytes),
    File(Vec<Bytes>),
    Monotonic,
}

impl Payloads {
    fn get(&self, i: u64, pick: &mut u64) -> Bytes {
        match self {
            Payloads::Fixed(b) => b.clone(),
            Payloads::File(list) => {
                // xorshift: a cheap random choice among the payloads, as Kafka picks randomly.
                *pick ^= *pick << 13;
                *pick ^= *pick >> 7;
                *pick ^= *pick << 17;
                list[(*pick % list.len() as u64) as usize].clone()
            }
            Payloads::Monotonic => Bytes::from(i.to_string()),
        }
    }
}

fn payloads(args: &Args) -> Result<Payloads, ToolError> {
    let given = [
        args.record_size.is_some(),
        args.payload_file.is_some(),
        args.payload_monotonic,
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(ToolError::usage("Either --record-size or --payload-file or --payload-monotonic must be specified but not both."));
    }
    if let Some(size) = args.record_size {
        let seed = common::random_below(u32::MAX) as usize;
        let bytes: Vec<u8> = (0..size)
            .map(|i| b'A' + ((i.wrapping_mul(7919) ^ seed) % 26) as u8)
            .collect();
        return Ok(Payloads::Fixed(Bytes::from(bytes)));
    }
    if let Some(path) = &args.payload_file {
        let delimiter = args
            .payload_delimiter
            .replace("\\n", "\n")
            .replace("\\t", "\t");
        outln!("Reading payloads from: {path}");
        let text = std::fs::read_to_string(path).map_err(|e| {
            ToolError::failed(format!(
                "File does not exist or empty file provided. {path}: {e}"
            ))
        })?;
        let list: Vec<Bytes> = text
            .split(delimiter.as_str())
            .filter(|p| !p.is_empty())
            .map(|p| Bytes::copy_from_slice(p.as_bytes()))
            .collect();
        if list.is_empty() {
            return Err(ToolError::failed(format!(
                "File does not exist or empty file provided. {path}"
            )));
        }
        outln!("Number of messages read: {}", list.len());
        return Ok(Payloads::File(list));
    }
    Ok(Payloads::Monotonic)
}

/// Runs kafka-producer-perf-test.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let (Some(topic), Some(num_records), Some(throughput)) =
        (args.topic.clone(), args.num_records, args.throughput)
    else {
        return Err(ToolError::usage(
            "the following arguments are required: --topic, --num-records, --throughput",
        ));
    };
    if args.transactional_id.is_some() || args.transaction_duration_ms.is_some() {
        return Err(ToolError::usage(
            "transactions are not supported by kavka yet",
        ));
    }
    let payloads = payloads(&args)?;
    let mut overrides = Props::new();
    for prop in &args.producer_props {
        match prop.split_once('=') {
            Some((k, v)) if !k.is_empty() && !v.contains('=') => {
                overrides.insert(k.to_string(), v.to_string());
            }
            _ => return Err(ToolError::usage(format!("Invalid property: {prop}"))),
        }
    }
    let props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.producer_config.as_deref(),
        &overrides,
    )?;
    let (config, _unapplied) = ProducerConfig::from_properties(&props)?;
    let client = common::connect(&props, "perf-producer-client").await?;
    let producer = Producer::new(client, config).await?;
    let stats = Arc::new(Mutex::new(Stats::new(num_records)));
    let mut deliveries = tokio::task::JoinSet::new();
    let start = Instant::now();
    let mut pick = 0x9E37_79B9_7F4A_7C15u64 ^ u64::from(common::random_below(u32::MAX));
    for i in 0..num_records {
        let value = payloads.get(i, &mut pick);
        let bytes = value.len() as u64;
        let record = ProducerRecord {
            topic: topic.clone(),
            partition: None,
            key: None,
            value: Some(value),
            headers: Vec::new(),
            timestamp_ms: None,
        };
        let sent_at = Instant::now();
        let delivery = producer.send(record).await?;
        let stats = stats.clone();
        let topic = topic.clone();
        deliveries.spawn(async move {
            let result = delivery.await;
            let latency = sent_at.elapsed().as_millis() as u64;
            let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Ok(_) => s.record(latency, bytes),
                Err(e) => {
                    s.errors += 1;
                    if s.errors <= 10 {
                        eprintln!("ERROR Error when sending message to topic {topic}: {e}");
                    }
                }
            }
        });
        while deliveries.try_join_next().is_some() {}
        // Kafka's ThroughputThrottler: sleep whenever ahead of the target rate.
        if throughput > 0.0 {
            let due = Duration::from_secs_f64((i + 1) as f64 / throughput);
            let elapsed = start.elapsed();
            if due > elapsed {
                tokio::time::sleep(due - elapsed).await;
            }
        }
    }
    producer.flush().await?;
    while deliveries.join_next().await.is_some() {}
    producer.close().await?;
    let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
    s.print_total();
    if args.print_metrics {
        outln!("(kavka: no client metrics to print)");
    }
    match s.errors {
        0 => Ok(()),
        n => Err(ToolError::failed(format!(
            "{n} record(s) could not be delivered"
        ))),
    }
}
