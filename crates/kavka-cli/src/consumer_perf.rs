//! `kavka consumer-perf-test` (kafka-consumer-perf-test.sh): consumes `--messages` records in a
//! group and prints Kafka's CSV-style header and result line (and, with
//! `--show-detailed-stats`, one line per reporting interval).

use std::time::{Duration, Instant};

use kavka_client::{Admin, Consumer, ConsumerConfig};

use crate::common::{self, IncludeList, Props};
use crate::ToolError;

/// Command-line flags of kafka-consumer-perf-test.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// REQUIRED: The server(s) to connect to.
    #[arg(
        long = "bootstrap-server",
        alias = "broker-list",
        value_name = "server to connect to"
    )]
    bootstrap_server: Option<String>,
    /// The topic to consume from.
    #[arg(long, value_name = "topic")]
    topic: Option<String>,
    /// Regular expression specifying list of topics to include for consumption.
    #[arg(long, value_name = "Java regex (String)")]
    include: Option<String>,
    /// The group id to consume on (default perf-consumer-NNNNN).
    #[arg(long, value_name = "gid")]
    group: Option<String>,
    /// The amount of data to fetch in a single request (max.partition.fetch.bytes).
    #[arg(long = "fetch-size", value_name = "Integer: size", default_value_t = 1024 * 1024)]
    fetch_size: u64,
    /// If the consumer does not already have an established offset to consume from, start
    /// with the latest message present in the log rather than the earliest message.
    #[arg(long = "from-latest")]
    from_latest: bool,
    /// The size of the tcp RECV size (accepted, unused).
    #[arg(long = "socket-buffer-size", value_name = "Integer: size")]
    socket_buffer_size: Option<u64>,
    /// Consumer config properties file.
    #[arg(
        long = "consumer.config",
        alias = "command-config",
        value_name = "config file"
    )]
    consumer_config: Option<String>,
    /// Print out the metrics (accepted; kavka has no client metrics yet).
    #[arg(long = "print-metrics")]
    print_metrics: bool,
    /// If set, stats are reported for each reporting interval as configured by
    /// reporting-interval.
    #[arg(long = "show-detailed-stats")]
    show_detailed_stats: bool,
    /// The maximum allowed time in milliseconds between returned records.
    #[arg(long, value_name = "Long: milliseconds", num_args = 0..=1, default_missing_value = "10000", default_value_t = 10_000)]
    timeout: u64,
    /// REQUIRED: The number of messages to consume.
    #[arg(long, value_name = "Long: count")]
    messages: Option<u64>,
    /// Interval in milliseconds at which to print progress info.
    #[arg(
        long = "reporting-interval",
        value_name = "Long: interval_ms",
        default_value_t = 5_000
    )]
    reporting_interval: u64,
    /// The date format to use for formatting the time field (only Kafka's default
    /// 'yyyy-MM-dd HH:mm:ss:SSS' is available; times are UTC).
    #[arg(long = "date-format", value_name = "date format")]
    date_format: Option<String>,
    /// If set, skips printing the header for the stats.
    #[arg(long = "hide-header")]
    hide_header: bool,
}

/// Runs kafka-consumer-perf-test.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let Some(messages) = args.messages else {
        return Err(ToolError::usage("Missing required argument \"[messages]\""));
    };
    if usize::from(args.topic.is_some()) + usize::from(args.include.is_some()) != 1 {
        return Err(ToolError::usage(
            "Exactly one of the following arguments is required: [topic], [include]",
        ));
    }
    let mut props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.consumer_config.as_deref(),
        &Props::new(),
    )?;
    let group = args
        .group
        .clone()
        .unwrap_or_else(|| format!("perf-consumer-{}", common::random_below(100_000)));
    props.insert("group.id".into(), group);
    props.insert(
        "max.partition.fetch.bytes".into(),
        args.fetch_size.to_string(),
    );
    props.insert(
        "auto.offset.reset".into(),
        if args.from_latest {
            "latest"
        } else {
            "earliest"
        }
        .into(),
    );
    props
        .entry("client.id".into())
        .or_insert_with(|| "perf-consumer-client".into());
    let (config, _unapplied) = ConsumerConfig::from_properties(&props)?;
    let client = common::connect(&props, "perf-consumer-client").await?;
    let topics = match (&args.topic, &args.include) {
        (Some(t), _) => vec![t.clone()],
        (None, Some(p)) => {
            let filter = IncludeList::new(p)?;
            Admin::new(client.clone())
                .list_topics(false)
                .await?
                .into_iter()
                .filter(|t| filter.allows(t, false))
                .collect()
        }
        (None, None) => Vec::new(),
    };
    if !args.hide_header {
        let extra = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";
        if args.show_detailed_stats {
            outln!("time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}");
        } else {
            outln!("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}");
        }
    }
    let mut consumer = Consumer::new(client, config).await?;
    consumer.subscribe(topics).await?;
    let start_ms = common::now_ms();
    let start = Instant::now();
    let timeout = Duration::from_millis(args.timeout);
    let interval = Duration::from_millis(args.reporting_interval.max(1));
    let (mut read, mut bytes) = (0u64, 0u64);
    let (mut last_read, mut last_bytes) = (0u64, 0u64);
    let mut last_report = Instant::now();
    let mut last_consumed = Instant::now();
    // Time until the group handed this consumer its partitions (Kafka's rebalance time).
    let mut join_ms: Option<u64> = None;
    let mut join_in_round = 0u64;
    while read < messages && last_consumed.elapsed() <= timeout {
        let records = consumer.poll(Duration::from_millis(100)).await?;
        if join_ms.is_none() && !consumer.assignment().is_empty() {
            let ms = start.elapsed().as_millis() as u64;
            join_ms = Some(ms);
            join_in_round = ms;
        }
        let now = Instant::now();
        if !records.is_empty() {
            last_consumed = now;
        }
        for r in &records {
            read += 1;
            bytes += r.key.as_ref().map_or(0, |k| k.len() as u64)
                + r.value.as_ref().map_or(0, |v| v.len() as u64);
            if now.duration_since(last_report) >= interval {
                if args.show_detailed_stats {
                    let elapsed_ms = now.duration_since(last_report).as_millis().max(1) as f64;
                    let mb = bytes as f64 / (1024.0 * 1024.0);
                    let interval_mb = (bytes - last_bytes) as f64 / (1024.0 * 1024.0);
                    let fetch_ms = (elapsed_ms as i64 - join_in_round as i64).max(0);
                    let (fetch_mb_sec, fetch_msg_sec) = if fetch_ms <= 0 {
                        (0.0, 0.0)
                    } else {
                        (
                            1000.0 * interval_mb / fetch_ms as f64,
                            1000.0 * (read - last_read) as f64 / fetch_ms as f64,
                        )
                    };
                    outln!(
                        "{}, 0, {mb:.4}, {:.4}, {read}, {:.4}, {join_in_round}, {fetch_ms}, {fetch_mb_sec:.4}, {fetch_msg_sec:.4}",
                        common::format_datetime_ms(common::now_ms()),
                        1000.0 * interval_mb / elapsed_ms,
                        1000.0 * (read - last_read) as f64 / elapsed_ms,
                    );
                }
                join_in_round = 0;
                last_report = now;
                last_read = read;
                last_bytes = bytes;
            }
        }
    }
    if read < messages {
        outln!("WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.", args.timeout);
    }
    let end_ms = common::now_ms();
    consumer.close().await?;
    if !args.show_detailed_stats {
        let elapsed_sec = ((end_ms - start_ms).max(1)) as f64 / 1000.0;
        let join = join_ms.unwrap_or(0) as i64;
        let fetch_ms = (end_ms - start_ms) - join;
        let mb = bytes as f64 / (1024.0 * 1024.0);
        let fetch_sec = fetch_ms.max(1) as f64 / 1000.0;
        outln!(
            "{}, {}, {mb:.4}, {:.4}, {read}, {:.4}, {join}, {fetch_ms}, {:.4}, {:.4}",
            common::format_datetime_ms(start_ms),
            common::format_datetime_ms(end_ms),
            mb / elapsed_sec,
            read as f64 / elapsed_sec,
            mb / fetch_sec,
            read as f64 / fetch_sec
        );
    }
    if args.print_metrics {
        outln!("(kavka: no client metrics to print)");
    }
    Ok(())
}
