//! `kavka get-offsets` (kafka-get-offsets.sh): the offset of every matching partition at a time
//! (earliest, latest, max timestamp, or the first offset at or after a timestamp), printed as
//! `topic:partition:offset`.

use kavka_client::{Admin, OffsetSpec};
use regex::Regex;

use crate::common::{self, IncludeList};
use crate::ToolError;

/// Command-line flags of kafka-get-offsets.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// REQUIRED. The server(s) to connect to in the form HOST1:PORT1,HOST2:PORT2.
    #[arg(long = "bootstrap-server", value_name = "HOST1:PORT1,...,HOST3:PORT3")]
    bootstrap_server: Option<String>,
    /// DEPRECATED, use --bootstrap-server instead.
    #[arg(long = "broker-list", value_name = "HOST1:PORT1,...,HOST3:PORT3")]
    broker_list: Option<String>,
    /// Comma separated list of topic-partition patterns: topic1:1,topic2:0-3,topic3,topic4:5-,
    /// topic5:-3.
    #[arg(
        long = "topic-partitions",
        value_name = "topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3"
    )]
    topic_partitions: Option<String>,
    /// The topic to get the offsets for. It also accepts a regular expression. If not present,
    /// all topics are queried.
    #[arg(long, value_name = "topic")]
    topic: Option<String>,
    /// Comma separated list of partition ids to get the offsets for.
    #[arg(long, value_name = "partition ids")]
    partitions: Option<String>,
    /// timestamp of the offsets before that: <timestamp> / -1 or latest / -2 or earliest / -3 or
    /// max-timestamp / -4 or earliest-local / -5 or latest-tiered.
    #[arg(
        long,
        value_name = "<timestamp> / -1 or latest / -2 or earliest / -3 or max-timestamp / -4 or earliest-local / -5 or latest-tiered",
        default_value = "latest",
        allow_negative_numbers = true
    )]
    time: String,
    /// Property file containing configs to be passed to Admin Client.
    #[arg(long = "command-config", value_name = "config file")]
    command_config: Option<String>,
    /// By default, internal topics are included. If specified, internal topics are excluded.
    #[arg(long = "exclude-internal-topics")]
    exclude_internal_topics: bool,
}

/// A partition filter of one rule.
#[derive(Debug)]
enum PartitionFilter {
    /// Any partition in the set (empty: all).
    Set(Vec<i32>),
    /// One partition.
    Unique(i32),
    /// `lower <= p < upper`.
    Range(i32, i32),
}

impl PartitionFilter {
    fn allows(&self, p: i32) -> bool {
        match self {
            PartitionFilter::Set(s) => s.is_empty() || s.contains(&p),
            PartitionFilter::Unique(u) => *u == p,
            PartitionFilter::Range(lo, hi) => *lo <= p && p < *hi,
        }
    }
}

/// Parses `--time` as Kafka's `parseOffsetSpec`; `None` for tiered-storage specs (no tiered
/// storage: no offset to print).
fn parse_time(time: &str) -> Result<Option<OffsetSpec>, ToolError> {
    Ok(match time {
        "earliest" | "-2" | "earliest-local" | "-4" => Some(OffsetSpec::Earliest),
        "latest" | "-1" => Some(OffsetSpec::Latest),
        "max-timestamp" | "-3" => Some(OffsetSpec::MaxTimestamp),
        "latest-tiered" | "-5" | "earliest-pending-upload" | "-6" => None,
        other => match other.parse::<i64>() {
            Ok(ts) => Some(OffsetSpec::Timestamp(ts)),
            Err(_) => {
                return Err(ToolError::failed(format!(
                    "Malformed time argument {other}. Please use -1 or latest / -2 or earliest / -3 or max-timestamp / -4 or earliest-local / -5 or latest-tiered / -6 or earliest-pending-upload, or a specified long format timestamp"
                )))
            }
        },
    })
}

fn parse_rules(args: &Args) -> Result<Vec<(IncludeList, PartitionFilter)>, ToolError> {
    if let Some(spec) = &args.topic_partitions {
        let pattern = Regex::new(r"^([^:,]*)(?::(?:([0-9]*)|(?:([0-9]*)-([0-9]*))))?$")
            .expect("static pattern");
        return spec
            .split(',')
            .map(|rule| {
                let caps = pattern.captures(rule).ok_or_else(|| {
                    ToolError::failed(format!("Invalid rule specification: {rule}"))
                })?;
                let group = |i: usize| caps.get(i).map(|m| m.as_str()).filter(|s| !s.is_empty());
                let topics = IncludeList::new(group(1).unwrap_or(".*"))?;
                let num = |s: &str| {
                    s.parse::<i32>().map_err(|_| {
                        ToolError::failed(format!("Invalid rule specification: {rule}"))
                    })
                };
                let partitions = if let Some(p) = group(2) {
                    PartitionFilter::Unique(num(p)?)
                } else {
                    let lo = group(3).map(num).transpose()?.unwrap_or(0);
                    let hi = group(4).map(num).transpose()?.unwrap_or(i32::MAX);
                    PartitionFilter::Range(lo, hi)
                };
                Ok((topics, partitions))
            })
            .collect();
    }
    let partitions = match args.partitions.as_deref().filter(|s| !s.is_empty()) {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|p| p.trim().parse::<i32>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                ToolError::failed(format!(
                    "--partitions expects a comma separated list of numeric partition ids, but received: {list}"
                ))
            })?,
    };
    Ok(vec![(
        IncludeList::new(args.topic.as_deref().unwrap_or(".*"))?,
        PartitionFilter::Set(partitions),
    )])
}

/// Runs kafka-get-offsets.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let bootstrap = args.bootstrap_server.clone().or(args.broker_list.clone());
    if bootstrap.is_none() {
        return Err(ToolError::usage(
            "Missing required argument \"[bootstrap-server]\"",
        ));
    }
    if args.topic_partitions.is_some() && (args.topic.is_some() || args.partitions.is_some()) {
        return Err(ToolError::failed(
            "--topic-partitions cannot be used with --topic or --partitions",
        ));
    }
    let spec = parse_time(&args.time)?;
    let rules = parse_rules(&args)?;
    let props = common::client_props(
        bootstrap.as_deref(),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    let client = common::connect(&props, "GetOffsetShell").await?;
    let admin = Admin::new(client);
    let exclude = args.exclude_internal_topics;
    let topics: Vec<String> = admin
        .list_topics(!exclude)
        .await?
        .into_iter()
        .filter(|t| rules.iter().any(|(f, _)| f.allows(t, exclude)))
        .collect();
    let mut partitions: Vec<(String, i32)> = Vec::new();
    if !topics.is_empty() {
        for td in admin.describe_topics(&topics).await? {
            for p in &td.partitions {
                let allowed = rules
                    .iter()
                    .any(|(f, pf)| f.allows(&td.name, exclude) && pf.allows(p.partition));
                if allowed {
                    partitions.push((td.name.clone(), p.partition));
                }
            }
        }
    }
    if partitions.is_empty() {
        return Err(ToolError::failed(
            "Could not match any topic-partitions with the specified filters",
        ));
    }
    let Some(spec) = spec else {
        return Ok(());
    };
    let mut listed = admin.list_offsets(&partitions, spec).await?;
    // Kafka sorts by `TopicPartition.toString()`, i.e. "topic-partition" as a string.
    listed.sort_by_key(|l| format!("{}-{}", l.topic, l.partition));
    for l in listed {
        match &l.error {
            Some(e) => eprintln!(
                "Skip getting offsets for topic-partition {}-{} due to error: {e}",
                l.topic, l.partition
            ),
            None if l.offset >= 0 => outln!("{}:{}:{}", l.topic, l.partition, l.offset),
            None => {}
        }
    }
    Ok(())
}
