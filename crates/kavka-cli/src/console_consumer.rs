//! `kavka console-consumer` (kafka-console-consumer.sh): reads records from a topic (in a
//! group, or from one partition) and prints them with Kafka's `DefaultMessageFormatter`
//! properties. Ends at `--max-messages`, after `--timeout-ms` without records, or at Ctrl-C,
//! always printing "Processed a total of N messages" to stderr.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use kavka_client::{Admin, Consumer, ConsumerConfig, ConsumerRecord};

use crate::common::{self, IncludeList, Props};
use crate::internal_formatters::InternalFormatter;
use crate::ToolError;

/// Command-line flags of kafka-console-consumer.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// The topic to consume from.
    #[arg(long, value_name = "topic")]
    topic: Option<String>,
    /// Regular expression specifying list of topics to include for consumption.
    #[arg(long, value_name = "Java regex (String)")]
    include: Option<String>,
    /// The partition to consume from. Consumption starts from the end of the partition unless
    /// '--offset' is specified.
    #[arg(long, value_name = "Integer: partition")]
    partition: Option<i32>,
    /// The offset to consume from (a non-negative number), or 'earliest' which means from
    /// beginning, or 'latest' which means from end.
    #[arg(long, value_name = "consume offset")]
    offset: Option<String>,
    /// Consumer config properties in the form key=value.
    #[arg(
        long = "consumer-property",
        alias = "command-property",
        value_name = "consumer_prop"
    )]
    consumer_property: Vec<String>,
    /// Consumer config properties file. Note that --consumer-property takes precedence.
    #[arg(
        long = "consumer.config",
        alias = "command-config",
        value_name = "config file"
    )]
    consumer_config: Option<String>,
    /// The name of a class to use for formatting kafka messages for display (only Kafka's
    /// DefaultMessageFormatter is available).
    #[arg(long, value_name = "class")]
    formatter: Option<String>,
    /// The properties to initialize the message formatter: print.timestamp, print.key,
    /// print.offset, print.partition, print.headers, print.value, key.separator,
    /// line.separator, headers.separator, null.literal.
    #[arg(long, alias = "formatter-property", value_name = "prop")]
    property: Vec<String>,
    /// Config properties file to initialize the message formatter.
    #[arg(long = "formatter-config", value_name = "config file")]
    formatter_config: Option<String>,
    /// If the consumer does not already have an established offset to consume from, start
    /// with the earliest message present in the log rather than the latest message.
    #[arg(long = "from-beginning")]
    from_beginning: bool,
    /// The maximum number of messages to consume before exiting. If not set, consumption is
    /// continual.
    #[arg(long = "max-messages", value_name = "Integer: num_messages")]
    max_messages: Option<u64>,
    /// If specified, exit if no message is available for consumption for the specified
    /// interval.
    #[arg(long = "timeout-ms", value_name = "Long: timeout_ms")]
    timeout_ms: Option<u64>,
    /// If there is an error when processing a message, skip it instead of halt.
    #[arg(long = "skip-message-on-error")]
    skip_message_on_error: bool,
    /// REQUIRED: The server(s) to connect to.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    bootstrap_server: Option<String>,
    /// The name of the class to use for deserializing keys (accepted; keys print as bytes).
    #[arg(long = "key-deserializer", value_name = "deserializer for key")]
    key_deserializer: Option<String>,
    /// The name of the class to use for deserializing values (accepted; values print as
    /// bytes).
    #[arg(long = "value-deserializer", value_name = "deserializer for values")]
    value_deserializer: Option<String>,
    /// Log lifecycle events of the consumer (accepted, unused).
    #[arg(long = "enable-systest-events")]
    enable_systest_events: bool,
    /// Set to read_committed in order to filter out transactional messages which are not
    /// committed. Set to read_uncommitted to read all messages.
    #[arg(long = "isolation-level", value_name = "String")]
    isolation_level: Option<String>,
    /// The consumer group id of the consumer.
    #[arg(long, value_name = "consumer group id")]
    group: Option<String>,
}

/// Kafka's `DefaultMessageFormatter`.
#[derive(Debug)]
struct Formatter {
    timestamp: bool,
    key: bool,
    offset: bool,
    partition: bool,
    headers: bool,
    value: bool,
    key_separator: Vec<u8>,
    line_separator: Vec<u8>,
    headers_separator: Vec<u8>,
    null_literal: Vec<u8>,
}

impl Formatter {
    fn new(props: &Props) -> Formatter {
        let flag = |k: &str, d: bool| {
            props
                .get(k)
                .map_or(d, |v| v.trim().eq_ignore_ascii_case("true"))
        };
        let bytes = |k: &str, d: &str| props.get(k).map_or(d, String::as_str).as_bytes().to_vec();
        Formatter {
            timestamp: flag("print.timestamp", false),
            key: flag("print.key", false),
            offset: flag("print.offset", false),
            partition: flag("print.partition", false),
            headers: flag("print.headers", false),
            value: flag("print.value", true),
            key_separator: bytes("key.separator", "\t"),
            line_separator: bytes("line.separator", "\n"),
            headers_separator: bytes("headers.separator", ","),
            null_literal: bytes("null.literal", "null"),
        }
    }

    fn write(&self, r: &ConsumerRecord, out: &mut Vec<u8>) {
        let sep = |out: &mut Vec<u8>, more: bool| {
            out.extend_from_slice(if more {
                &self.key_separator
            } else {
                &self.line_separator
            })
        };
        if self.timestamp {
            if r.timestamp_ms < 0 {
                out.extend_from_slice(b"NO_TIMESTAMP");
            } else {
                out.extend_from_slice(
                    format!("{}:{}", r.timestamp_type.name(), r.timestamp_ms).as_bytes(),
                );
            }
            sep(
                out,
                self.partition || self.offset || self.headers || self.key || self.value,
            );
        }
        if self.partition {
            out.extend_from_slice(format!("Partition:{}", r.partition).as_bytes());
            sep(out, self.offset || self.headers || self.key || self.value);
        }
        if self.offset {
            out.extend_from_slice(format!("Offset:{}", r.offset).as_bytes());
            sep(out, self.headers || self.key || self.value);
        }
        if self.headers {
            if r.headers.is_empty() {
                out.extend_from_slice(b"NO_HEADERS");
            }
            for (i, (k, v)) in r.headers.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(&self.headers_separator);
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b':');
                out.extend_from_slice(v.as_deref().unwrap_or(&self.null_literal));
            }
            sep(out, self.key || self.value);
        }
        if self.key {
            out.extend_from_slice(r.key.as_deref().unwrap_or(&self.null_literal));
            sep(out, self.value);
        }
        if self.value {
            out.extend_from_slice(r.value.as_deref().unwrap_or(&self.null_literal));
            out.extend_from_slice(&self.line_separator);
        }
    }
}

/// Where a partition consumer starts.
enum StartAt {
    Earliest,
    Latest,
    Offset(i64),
}

fn parse_offset(args: &Args) -> Result<StartAt, ToolError> {
    match args.offset.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None if args.from_beginning => Ok(StartAt::Earliest),
        None | Some("latest") => Ok(StartAt::Latest),
        Some("earliest") => Ok(StartAt::Earliest),
        Some(n) => match n.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(StartAt::Offset(o)),
            _ => Err(ToolError::usage(format!(
                "The provided offset value '{}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long.",
                args.offset.as_deref().unwrap_or_default()
            ))),
        },
    }
}

/// Consumer properties as Kafka's `ConsoleConsumerOptions.buildConsumerProps`.
fn consumer_props(args: &Args) -> Result<Props, ToolError> {
    let extra = common::parse_key_values(&args.consumer_property)?;
    let from_file = match &args.consumer_config {
        Some(path) => common::load_properties(path)?,
        None => Props::new(),
    };
    let mut groups: Vec<String> = Vec::new();
    for g in [
        args.group.clone(),
        from_file.get("group.id").cloned(),
        extra.get("group.id").cloned(),
    ]
    .into_iter()
    .flatten()
    {
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    if groups.len() > 1 {
        let list: Vec<String> = groups.iter().map(|g| format!("'{g}'")).collect();
        return Err(ToolError::usage(format!("The group ids provided in different places (directly using '--group', via '--consumer-property', or via '--consumer.config') do not match. Detected group ids: {}", list.join(", "))));
    }
    if !groups.is_empty() && args.partition.is_some() {
        return Err(ToolError::usage(
            "Options group and partition cannot be specified together.",
        ));
    }
    let mut props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.consumer_config.as_deref(),
        &extra,
    )?;
    match props.get("auto.offset.reset") {
        Some(v) if args.from_beginning && v != "earliest" => {
            return Err(ToolError::usage(format!("Can't simultaneously specify --from-beginning and 'auto.offset.reset={v}', please remove one option")));
        }
        Some(_) => {}
        None => {
            let reset = if args.from_beginning {
                "earliest"
            } else {
                "latest"
            };
            props.insert("auto.offset.reset".into(), reset.into());
        }
    }
    props
        .entry("client.id".into())
        .or_insert_with(|| "console-consumer".into());
    if let Some(level) = &args.isolation_level {
        props.insert("isolation.level".into(), level.clone());
    }
    match groups.pop() {
        Some(g) => {
            props.insert("group.id".into(), g);
        }
        None => {
            props.insert(
                "group.id".into(),
                format!("console-consumer-{}", common::random_below(100_000)),
            );
            props
                .entry("enable.auto.commit".into())
                .or_insert_with(|| "false".into());
        }
    }
    Ok(props)
}

/// Runs kafka-console-consumer.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    // Listen for Ctrl-C from the start: it ends the tool cleanly at any point.
    let mut interrupted = common::interrupted();
    if usize::from(args.topic.is_some()) + usize::from(args.include.is_some()) != 1 {
        return Err(ToolError::usage(
            "Exactly one of the following arguments is required: [topic], [include]",
        ));
    }
    if args.partition.is_some() {
        if args.topic.is_none() {
            return Err(ToolError::usage(
                "The topic is required when partition is specified.",
            ));
        }
        if args.from_beginning && args.offset.is_some() {
            return Err(ToolError::usage(
                "Options from-beginning and offset cannot be specified together.",
            ));
        }
    } else if args.offset.is_some() {
        return Err(ToolError::usage(
            "The partition is required when offset is specified.",
        ));
    }
    if args.bootstrap_server.is_none() {
        return Err(ToolError::usage(
            "Missing required argument \"[bootstrap-server]\"",
        ));
    }
    let internal = match &args.formatter {
        Some(class) if class.ends_with("DefaultMessageFormatter") => None,
        Some(class) => match InternalFormatter::by_class(class) {
            Some(f) => Some(f),
            None => return Err(ToolError::usage(format!("formatter {class} is not available (kavka has Kafka's DefaultMessageFormatter and its Offsets, GroupMetadata and TransactionLog formatters)"))),
        },
        None => None,
    };
    let start = parse_offset(&args)?;
    let mut formatter_props = match &args.formatter_config {
        Some(path) => common::load_properties(path)?,
        None => Props::new(),
    };
    formatter_props.extend(common::parse_key_values(&args.property)?);
    let formatter = Formatter::new(&formatter_props);
    let props = consumer_props(&args)?;
    let manual = args.partition.is_some();
    let (mut config, _unapplied) = ConsumerConfig::from_properties(&props)?;
    if manual {
        // Kafka's console consumer assigns the partition and commits nothing.
        config.enable_auto_commit = false;
    }
    let commit_on_exit = !manual && config.enable_auto_commit;
    let client = common::connect(&props, "console-consumer").await?;
    let topics = match (&args.topic, &args.include) {
        (Some(t), _) => vec![t.clone()],
        (None, Some(pattern)) => {
            let filter = IncludeList::new(pattern)?;
            let admin = Admin::new(client.clone());
            admin
                .list_topics(true)
                .await?
                .into_iter()
                .filter(|t| filter.allows(t, false))
                .collect()
        }
        (None, None) => Vec::new(),
    };
    let mut consumer = Consumer::new(client, config).await?;
    match args.partition {
        Some(p) => {
            let tp = (topics[0].clone(), p);
            consumer.assign(vec![tp.clone()]).await?;
            match start {
                StartAt::Earliest => consumer.seek_to_beginning(&[tp]).await?,
                StartAt::Latest => consumer.seek_to_end(&[tp]).await?,
                StartAt::Offset(o) => consumer.seek(&tp.0, tp.1, o).await?,
            }
        }
        None => consumer.subscribe(topics).await?,
    }
    let limit = args.max_messages.unwrap_or(u64::MAX);
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let mut count = 0u64;
    let mut last_record = Instant::now();
    let mut unprinted: BTreeMap<(String, i32), i64> = BTreeMap::new();
    let mut out = Vec::with_capacity(64 * 1024);
    let mut failure = None;
    'poll: while count < limit && !*interrupted.borrow() {
        let wait = timeout.map_or(Duration::from_millis(1000), |t| {
            t.saturating_sub(last_record.elapsed())
                .min(Duration::from_millis(1000))
        });
        let records = tokio::select! {
            r = consumer.poll(wait) => r,
            _ = interrupted.changed() => break 'poll,
        };
        let records = match records {
            Ok(r) => r,
            Err(e) => {
                failure = Some(ToolError::from(e));
                break;
            }
        };
        if records.is_empty() {
            if timeout.is_some_and(|t| last_record.elapsed() >= t) {
                eprintln!("ERROR Error processing message, terminating consumer process: org.apache.kafka.common.errors.TimeoutException");
                break;
            }
            continue;
        }
        last_record = Instant::now();
        out.clear();
        for r in &records {
            if count >= limit {
                let first = unprinted
                    .entry((r.topic.clone(), r.partition))
                    .or_insert(r.offset);
                *first = (*first).min(r.offset);
                continue;
            }
            match internal {
                Some(f) => {
                    if let Some(line) = f.format(r.key.as_deref(), r.value.as_deref()) {
                        out.extend_from_slice(line.as_bytes());
                        out.push(b'\n');
                    }
                }
                None => formatter.write(r, &mut out),
            }
            count += 1;
        }
        let mut stdout = std::io::stdout().lock();
        if stdout.write_all(&out).and_then(|_| stdout.flush()).is_err() {
            // The reader went away (a closed pipe): stop as Kafka does.
            break;
        }
    }
    eprintln!("Processed a total of {count} messages");
    // Records fetched but not printed are handed back, so the committed position is exactly
    // what was printed.
    for ((t, p), offset) in &unprinted {
        consumer.seek(t, *p, *offset).await?;
    }
    if commit_on_exit && failure.is_none() {
        consumer.commit_sync(None).await?;
    }
    consumer.close().await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
