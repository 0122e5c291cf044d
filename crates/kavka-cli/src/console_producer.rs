//! `kavka console-producer` (kafka-console-producer.sh): each line of standard input becomes a
//! record, parsed as Kafka's `LineMessageReader` does (`parse.key`, `key.separator`,
//! `parse.headers`, `null.marker`...). A `>` prompt is printed only when standard input is a
//! terminal.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use kavka_client::{Producer, ProducerConfig, ProducerRecord};

use crate::common::{self, Props};
use crate::line_reader::LineReader;
use crate::ToolError;

/// Command-line flags of kafka-console-producer.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// REQUIRED: The topic id to produce messages to.
    #[arg(long, value_name = "topic")]
    topic: Option<String>,
    /// REQUIRED unless --broker-list(deprecated) is specified. The server(s) to connect to.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    bootstrap_server: Option<String>,
    /// DEPRECATED, use --bootstrap-server instead; ignored if --bootstrap-server is specified.
    #[arg(long = "broker-list", value_name = "broker-list")]
    broker_list: Option<String>,
    /// If set message send requests to the brokers are synchronously, one at a time as they
    /// arrive.
    #[arg(long)]
    sync: bool,
    /// The compression codec: either 'none', 'gzip', 'snappy', 'lz4', or 'zstd'. If specified
    /// without value, then it defaults to 'gzip'.
    #[arg(long = "compression-codec", value_name = "compression-codec", num_args = 0..=1, default_missing_value = "gzip")]
    compression_codec: Option<String>,
    /// Number of messages to send in a single batch (the producer's batch.size).
    #[arg(long = "batch-size", value_name = "Integer: size")]
    batch_size: Option<u64>,
    /// The number of retries before the producer gives up (the producer's retries).
    #[arg(long = "message-send-max-retries", value_name = "Integer")]
    message_send_max_retries: Option<u64>,
    /// Backoff before each retry (the producer's retry.backoff.ms).
    #[arg(long = "retry-backoff-ms", value_name = "Long")]
    retry_backoff_ms: Option<u64>,
    /// The most time a record waits for a batch to fill, in ms (the producer's linger.ms).
    #[arg(long, value_name = "Long: timeout_ms")]
    timeout: Option<u64>,
    /// The required `acks` of the producer requests.
    #[arg(
        long = "request-required-acks",
        value_name = "request required acks",
        allow_negative_numbers = true
    )]
    request_required_acks: Option<String>,
    /// The ack timeout of the producer requests.
    #[arg(
        long = "request-timeout-ms",
        value_name = "Integer: request timeout ms"
    )]
    request_timeout_ms: Option<u64>,
    /// Forced metadata refresh period (the producer's metadata.max.age.ms).
    #[arg(
        long = "metadata-expiry-ms",
        value_name = "Long: metadata expiration interval"
    )]
    metadata_expiry_ms: Option<u64>,
    /// The max time that the producer will block for during a send request.
    #[arg(long = "max-block-ms", value_name = "Long: max block on send")]
    max_block_ms: Option<u64>,
    /// The total memory used by the producer to buffer records (the producer's buffer.memory).
    #[arg(long = "max-memory-bytes", value_name = "Long: total memory in bytes")]
    max_memory_bytes: Option<u64>,
    /// The buffer size allocated for a partition (the producer's batch.size).
    #[arg(
        long = "max-partition-memory-bytes",
        value_name = "Integer: memory in bytes per partition"
    )]
    max_partition_memory_bytes: Option<u64>,
    /// The size of the tcp send buffer (accepted, unused).
    #[arg(long = "socket-buffer-size", value_name = "Integer: size")]
    socket_buffer_size: Option<u64>,
    /// The class to read lines with (only Kafka's default LineMessageReader is available).
    #[arg(long = "line-reader", value_name = "reader_class")]
    line_reader: Option<String>,
    /// Properties of the line reader: parse.key, key.separator, parse.headers,
    /// headers.delimiter, headers.separator, headers.key.separator, ignore.error, null.marker.
    #[arg(long, value_name = "prop")]
    property: Vec<String>,
    /// Config properties file for the message reader.
    #[arg(long = "reader-config", value_name = "config file")]
    reader_config: Option<String>,
    /// A mechanism to pass user-defined properties in the form key=value to the producer.
    #[arg(
        long = "producer-property",
        alias = "command-property",
        value_name = "producer_prop"
    )]
    producer_property: Vec<String>,
    /// Producer config properties file. Note that --producer-property takes precedence.
    #[arg(
        long = "producer.config",
        alias = "command-config",
        value_name = "config file"
    )]
    producer_config: Option<String>,
}

/// Producer properties: file, --producer-property, then the explicit flags (Kafka's
/// `maybeMergeOptions`: a flag given wins, a default only fills a gap).
fn producer_props(args: &Args) -> Result<Props, ToolError> {
    let bootstrap = args.bootstrap_server.clone().or(args.broker_list.clone());
    let overrides = common::parse_key_values(&args.producer_property)?;
    let mut props = common::client_props(
        bootstrap.as_deref(),
        args.producer_config.as_deref(),
        &overrides,
    )?;
    let mut merge = |key: &str, given: Option<String>, default: &str| match given {
        Some(v) => {
            props.insert(key.to_string(), v);
        }
        None => {
            props
                .entry(key.to_string())
                .or_insert_with(|| default.to_string());
        }
    };
    merge("compression.type", args.compression_codec.clone(), "none");
    merge("linger.ms", args.timeout.map(|v| v.to_string()), "1000");
    merge("acks", args.request_required_acks.clone(), "-1");
    merge(
        "request.timeout.ms",
        args.request_timeout_ms.map(|v| v.to_string()),
        "1500",
    );
    merge(
        "retries",
        args.message_send_max_retries.map(|v| v.to_string()),
        "3",
    );
    merge(
        "retry.backoff.ms",
        args.retry_backoff_ms.map(|v| v.to_string()),
        "100",
    );
    merge(
        "metadata.max.age.ms",
        args.metadata_expiry_ms.map(|v| v.to_string()),
        "300000",
    );
    merge(
        "max.block.ms",
        args.max_block_ms.map(|v| v.to_string()),
        "60000",
    );
    merge(
        "buffer.memory",
        args.max_memory_bytes.map(|v| v.to_string()),
        "33554432",
    );
    let batch = args
        .max_partition_memory_bytes
        .or(args.batch_size)
        .map(|v| v.to_string());
    merge("batch.size", batch, "16384");
    props
        .entry("client.id".into())
        .or_insert_with(|| "console-producer".into());
    if props.get("compression.type").map(String::as_str) == Some("") {
        props.insert("compression.type".into(), "gzip".into());
    }
    Ok(props)
}

/// Reads standard input on a thread (blocking reads, the prompt before each) into a channel.
fn spawn_stdin_reader() -> tokio::sync::mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let prompt = std::io::stdin().is_terminal();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        loop {
            if prompt {
                print!(">");
                let _ = std::io::stdout().flush();
            }
            let mut buf = Vec::new();
            match input.read_until(b'\n', &mut buf) {
                Ok(0) => return,
                Ok(_) => {
                    if buf.ends_with(b"\n") {
                        buf.pop();
                        if buf.ends_with(b"\r") {
                            buf.pop();
                        }
                    }
                    let line = String::from_utf8_lossy(&buf).into_owned();
                    if tx.blocking_send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    rx
}

/// Runs kafka-console-producer.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    // Listen for Ctrl-C from the start: it ends the tool cleanly at any point.
    let mut interrupted = common::interrupted();
    let Some(topic) = args.topic.clone() else {
        return Err(ToolError::usage("Missing required argument \"[topic]\""));
    };
    if args.bootstrap_server.is_none() && args.broker_list.is_none() {
        return Err(ToolError::usage(
            "Missing required argument \"[bootstrap-server]\"",
        ));
    }
    if let Some(class) = &args.line_reader {
        if !class.ends_with("LineMessageReader") {
            return Err(ToolError::usage(format!("line reader {class} is not available (kavka reads lines as Kafka's LineMessageReader)")));
        }
    }
    let mut reader_props = match &args.reader_config {
        Some(path) => common::load_properties(path)?,
        None => Props::new(),
    };
    reader_props.extend(common::parse_key_values(&args.property)?);
    let reader = LineReader::new(&reader_props)?;
    let props = producer_props(&args)?;
    let (config, _unapplied) = ProducerConfig::from_properties(&props)?;
    // Lines typed at a terminal come one at a time: send what waits once input has been idle
    // for linger.ms, so a record never waits for the next line.
    let idle_flush = std::time::Duration::from_millis(config.linger_ms.max(1));
    let mut unflushed = false;
    let client = common::connect(&props, "console-producer").await?;
    let producer = Producer::new(client, config).await?;
    let failures = Arc::new(AtomicUsize::new(0));
    let mut deliveries = tokio::task::JoinSet::new();
    let mut lines = spawn_stdin_reader();
    let mut number = 0u64;
    let mut result = Ok(());
    while !*interrupted.borrow() {
        let line = tokio::select! {
            line = lines.recv() => line,
            _ = interrupted.changed() => break,
            _ = tokio::time::sleep(idle_flush), if unflushed => {
                producer.flush().await?;
                unflushed = false;
                continue;
            }
        };
        let line = match line {
            None => break,
            Some(Ok(line)) => line,
            Some(Err(e)) => {
                result = Err(ToolError::failed(format!(
                    "cannot read standard input: {e}"
                )));
                break;
            }
        };
        number += 1;
        let (key, value, headers) = match reader.parse(&line, number) {
            Ok(parsed) => parsed,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let record = ProducerRecord {
            topic: topic.clone(),
            partition: None,
            key,
            value,
            headers,
            timestamp_ms: None,
        };
        let delivery = producer.send(record).await?;
        unflushed = true;
        if args.sync {
            // One record at a time: send it now rather than after linger.ms.
            producer.flush().await?;
            delivery.await?;
        } else {
            let failures = failures.clone();
            let topic = topic.clone();
            deliveries.spawn(async move {
                if let Err(e) = delivery.await {
                    failures.fetch_add(1, Ordering::Relaxed);
                    eprintln!("ERROR Error when sending message to topic {topic} with error: {e}");
                }
            });
            while deliveries.try_join_next().is_some() {}
        }
    }
    producer.flush().await?;
    while deliveries.join_next().await.is_some() {}
    producer.close().await?;
    result?;
    match failures.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(ToolError::failed(format!(
            "{n} record(s) could not be delivered"
        ))),
    }
}
