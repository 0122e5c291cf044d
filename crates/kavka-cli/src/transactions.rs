//! `kavka transactions` (kafka-transactions.sh): list and describe transactional ids, describe
//! a partition's producers, find hanging transactions and abort them. Global options come
//! before the command, as in Kafka: `kavka transactions --bootstrap-server H:P list`.
//! Tables are printed as Kafka's `prettyPrintTable` prints them: columns padded to the widest
//! cell, separated by tabs.

use kavka_client::Admin;

use crate::common;
use crate::ToolError;

/// Command-line flags of kafka-transactions.sh, as Kafka declares them (help texts verbatim:
/// they are laid out as Kafka's argparse4j lays them out). Kafka's `-v, --version` replaces
/// clap's `-V, --version`.
#[derive(Debug, clap::Args)]
#[command(
    version,
    disable_version_flag = true,
    disable_help_subcommand = true,
    infer_long_args = true
)]
pub struct Args {
    #[arg(
        short = 'v',
        long = "version",
        action = clap::ArgAction::Version,
        help = "show the version of this Kafka distribution and exit"
    )]
    version: (),
    #[arg(
        long = "command-config",
        value_name = "FILE",
        help = "property file containing configs to be passed to admin client"
    )]
    command_config: Option<String>,
    #[arg(
        long = "bootstrap-server",
        value_name = "host:port",
        required = true,
        help = "hostname and port for the broker to connect to, in the form `host:port`  \
                (multiple comma-separated entries can be given)"
    )]
    bootstrap_server: String,
    #[command(subcommand)]
    command: Command,
}

/// The commands of kafka-transactions.sh.
#[derive(Debug, clap::Subcommand)]
enum Command {
    #[command(about = "list transactions")]
    List {
        #[arg(
            long = "duration-filter",
            value_name = "DURATION_FILTER",
            allow_negative_numbers = true,
            help = "Duration (in millis) to filter by: if < 0, all transactions will be \
                    returned; otherwise, only transactions running longer than this duration \
                    will be returned"
        )]
        duration_filter: Option<i64>,
    },
    #[command(
        about = "describe the state of an active transactional-id",
        long_about = "Describe the state of an active transactional-id."
    )]
    Describe {
        #[arg(
            long = "transactional-id",
            value_name = "TRANSACTIONAL_ID",
            help = "transactional id"
        )]
        transactional_id: String,
    },
    #[command(about = "describe the states of active producers for a topic partition")]
    DescribeProducers {
        #[arg(
            long = "broker-id",
            value_name = "BROKER_ID",
            help = "optional broker id to describe the producer state on a specific replica"
        )]
        broker_id: Option<i32>,
        #[arg(long, value_name = "TOPIC", help = "topic name")]
        topic: String,
        #[arg(long, value_name = "PARTITION", help = "partition number")]
        partition: i32,
    },
    #[command(about = "abort a hanging transaction (requires administrative privileges)")]
    Abort {
        #[arg(long, value_name = "TOPIC", help = "topic name")]
        topic: String,
        #[arg(long, value_name = "PARTITION", help = "partition number")]
        partition: i32,
        #[arg(
            long = "start-offset",
            value_name = "START_OFFSET",
            help_heading = "Brokers on versions 3.0 and above",
            help = "start offset of the transaction to abort"
        )]
        start_offset: Option<i64>,
        #[arg(
            long = "producer-id",
            value_name = "PRODUCER_ID",
            help_heading = "Brokers on versions older than 3.0",
            help = "producer id"
        )]
        producer_id: Option<i64>,
        #[arg(
            long = "producer-epoch",
            value_name = "PRODUCER_EPOCH",
            help_heading = "Brokers on versions older than 3.0",
            help = "producer epoch"
        )]
        producer_epoch: Option<i16>,
        #[arg(
            long = "coordinator-epoch",
            value_name = "COORDINATOR_EPOCH",
            allow_negative_numbers = true,
            help_heading = "Brokers on versions older than 3.0",
            help = "coordinator epoch"
        )]
        coordinator_epoch: Option<i32>,
    },
    #[command(about = "find hanging transactions")]
    FindHanging {
        #[arg(
            long = "broker-id",
            value_name = "BROKER_ID",
            help = "broker id to search for hanging transactions"
        )]
        broker_id: Option<i32>,
        #[arg(
            long = "max-transaction-timeout",
            value_name = "MAX_TRANSACTION_TIMEOUT",
            default_value_t = 15,
            help = "maximum transaction timeout in minutes to limit the scope of the search (15 \
                    minutes by default)"
        )]
        max_transaction_timeout: i32,
        #[arg(
            long,
            value_name = "TOPIC",
            help = "topic name to limit search to (required if --partition is specified)"
        )]
        topic: Option<String>,
        #[arg(long, value_name = "PARTITION", help = "partition number")]
        partition: Option<i32>,
    },
}

/// Kafka's `prettyPrintTable`: each column padded to its widest cell, tab-separated.
pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        outln!("{}", padded.join("\t").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// Kafka's message for an `abort` without the transaction's identity.
const ABORT_UNIDENTIFIED: &str = "The transaction to abort must be identified either with \
     --start-offset (for brokers on 3.0 or above) or with --producer-id, --producer-epoch, and \
     --coordinator-epoch (for older brokers)";

/// The checks Kafka makes of a command's arguments before it talks to the cluster.
fn check(command: &Command) -> Result<(), ToolError> {
    match command {
        Command::Abort {
            start_offset: None,
            producer_id,
            producer_epoch,
            coordinator_epoch,
            ..
        } => {
            if producer_id.is_none() {
                return Err(ToolError::usage(ABORT_UNIDENTIFIED));
            }
            if producer_epoch.is_none() {
                return Err(ToolError::usage(
                    "Missing required argument --producer-epoch",
                ));
            }
            if coordinator_epoch.is_none() {
                return Err(ToolError::usage(
                    "Missing required argument --coordinator-epoch",
                ));
            }
        }
        Command::FindHanging {
            broker_id,
            topic,
            partition,
            ..
        } => {
            if topic.is_none() && broker_id.is_none() {
                return Err(ToolError::usage(
                    "The `find-hanging` command requires either --topic or --broker-id to limit \
                     the scope of the search",
                ));
            }
            if partition.is_some() && topic.is_none() {
                return Err(ToolError::usage(
                    "The --partition argument requires --topic to be provided",
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Runs kafka-transactions.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let command = args.command;
    check(&command)?;
    let props = common::client_props(
        Some(&args.bootstrap_server),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    let admin = Admin::new(common::connect(&props, "kavka-transactions").await?);
    match command {
        Command::List { duration_filter } => {
            let rows: Vec<Vec<String>> = admin
                .list_transactions(&[], &[], duration_filter.unwrap_or(-1))
                .await?
                .into_iter()
                .map(|t| {
                    vec![
                        t.transactional_id,
                        t.coordinator.to_string(),
                        t.producer_id.to_string(),
                        t.state,
                    ]
                })
                .collect();
            print_table(
                &[
                    "TransactionalId",
                    "Coordinator",
                    "ProducerId",
                    "TransactionState",
                ],
                &rows,
            );
        }
        Command::Describe { transactional_id } => {
            let d = admin.describe_transaction(&transactional_id).await?;
            let (start, duration) = if d.start_time_ms >= 0 {
                (
                    d.start_time_ms.to_string(),
                    (common::now_ms() - d.start_time_ms).to_string(),
                )
            } else {
                ("None".to_string(), "None".to_string())
            };
            let partitions: Vec<String> = d
                .partitions
                .iter()
                .map(|(t, p)| format!("{t}-{p}"))
                .collect();
            print_table(
                &[
                    "CoordinatorId",
                    "TransactionalId",
                    "ProducerId",
                    "ProducerEpoch",
                    "TransactionState",
                    "TransactionTimeoutMs",
                    "CurrentTransactionStartTimeMs",
                    "TransactionDurationMs",
                    "TopicPartitions",
                ],
                &[vec![
                    d.coordinator.to_string(),
                    transactional_id,
                    d.producer_id.to_string(),
                    d.producer_epoch.to_string(),
                    d.state,
                    d.timeout_ms.to_string(),
                    start,
                    duration,
                    partitions.join(","),
                ]],
            );
        }
        Command::DescribeProducers {
            topic,
            partition,
            broker_id,
        } => {
            let rows: Vec<Vec<String>> = admin
                .describe_producers_on(&topic, partition, broker_id)
                .await?
                .into_iter()
                .map(|p| {
                    let opt = |v: i64| {
                        if v < 0 {
                            "None".to_string()
                        } else {
                            v.to_string()
                        }
                    };
                    vec![
                        p.producer_id.to_string(),
                        p.producer_epoch.to_string(),
                        opt(i64::from(p.coordinator_epoch)),
                        p.last_sequence.to_string(),
                        p.last_timestamp.to_string(),
                        opt(p.current_txn_start_offset),
                    ]
                })
                .collect();
            print_table(
                &[
                    "ProducerId",
                    "ProducerEpoch",
                    "LatestCoordinatorEpoch",
                    "LastSequence",
                    "LastTimestamp",
                    "CurrentTransactionStartOffset",
                ],
                &rows,
            );
        }
        Command::Abort {
            topic,
            partition,
            start_offset,
            producer_id,
            producer_epoch,
            coordinator_epoch,
        } => match (start_offset, producer_id, producer_epoch, coordinator_epoch) {
            (Some(offset), ..) => admin.abort_transaction(&topic, partition, offset).await?,
            (None, Some(id), Some(epoch), Some(coordinator_epoch)) => {
                admin
                    .abort_producer_transaction(&topic, partition, id, epoch, coordinator_epoch)
                    .await?
            }
            _ => return Err(ToolError::usage(ABORT_UNIDENTIFIED)),
        },
        Command::FindHanging {
            broker_id,
            topic,
            partition,
            max_transaction_timeout,
        } => {
            let topics = match &topic {
                Some(t) => vec![t.clone()],
                None => admin.list_topics(true).await?,
            };
            let md = admin.describe_topics(&topics).await?;
            let now = common::now_ms();
            let limit_ms = i64::from(max_transaction_timeout) * 60_000;
            let mut rows = Vec::new();
            for t in md {
                for p in &t.partitions {
                    if partition.is_some_and(|want| want != p.partition)
                        || broker_id.is_some_and(|b| !p.replicas.contains(&b))
                    {
                        continue;
                    }
                    let producers = admin
                        .describe_producers_on(&t.name, p.partition, broker_id)
                        .await?;
                    for s in producers {
                        let age_ms = now - s.last_timestamp;
                        if s.current_txn_start_offset < 0 || age_ms < limit_ms {
                            continue;
                        }
                        rows.push(vec![
                            t.name.clone(),
                            p.partition.to_string(),
                            s.producer_id.to_string(),
                            s.producer_epoch.to_string(),
                            s.coordinator_epoch.to_string(),
                            s.current_txn_start_offset.to_string(),
                            s.last_timestamp.to_string(),
                            (age_ms / 60_000).to_string(),
                        ]);
                    }
                }
            }
            print_table(
                &[
                    "Topic",
                    "Partition",
                    "ProducerId",
                    "ProducerEpoch",
                    "CoordinatorEpoch",
                    "StartOffset",
                    "LastTimestamp",
                    "Duration(min)",
                ],
                &rows,
            );
        }
    }
    Ok(())
}
