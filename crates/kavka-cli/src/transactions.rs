//! `kavka transactions` (kafka-transactions.sh): list and describe transactional ids, describe
//! a partition's producers, find hanging transactions and abort them. Global options come
//! before the command, as in Kafka: `kavka transactions --bootstrap-server H:P list`.
//! Tables are printed as Kafka's `prettyPrintTable` prints them: columns padded to the widest
//! cell, separated by tabs.

use kavka_client::Admin;

use crate::common;
use crate::ToolError;

/// Command-line flags of kafka-transactions.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// REQUIRED: The server to connect to.
    #[arg(long = "bootstrap-server", value_name = "host:port")]
    bootstrap_server: Option<String>,
    /// Property file containing configs to be passed to Admin Client.
    #[arg(long = "command-config", value_name = "command config property file")]
    command_config: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The commands of kafka-transactions.sh.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List transactions.
    List,
    /// Describe the state of an active transactional-id.
    Describe {
        /// Transactional id.
        #[arg(long = "transactional-id")]
        transactional_id: String,
    },
    /// Describe the states of active producers for a topic partition.
    DescribeProducers {
        /// Topic name.
        #[arg(long)]
        topic: String,
        /// Partition number.
        #[arg(long)]
        partition: i32,
        /// The id of the broker to describe producers on (the leader; accepted for Kafka's
        /// syntax).
        #[arg(long = "broker-id")]
        broker_id: Option<i32>,
    },
    /// Abort a hanging transaction (which has no associated coordinator).
    Abort {
        /// Topic name.
        #[arg(long)]
        topic: String,
        /// Partition number.
        #[arg(long)]
        partition: i32,
        /// Start offset of the transaction to abort.
        #[arg(long = "start-offset")]
        start_offset: i64,
    },
    /// Find hanging transactions: open longer than the maximum transaction timeout.
    FindHanging {
        /// Broker id to search for hanging transactions.
        #[arg(long = "broker-id")]
        broker_id: Option<i32>,
        /// Topic name (all topics when absent).
        #[arg(long)]
        topic: Option<String>,
        /// Partition number (with --topic).
        #[arg(long)]
        partition: Option<i32>,
        /// Maximum transaction timeout in minutes to limit the scope of the search.
        #[arg(long = "max-transaction-timeout", default_value_t = 15)]
        max_transaction_timeout: i64,
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

/// Runs kafka-transactions.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let Some(command) = args.command else {
        return Err(ToolError::usage(
            "the command is missing: list, describe, describe-producers, abort or find-hanging",
        ));
    };
    if args.bootstrap_server.is_none() {
        return Err(ToolError::usage(
            "Missing required argument \"[bootstrap-server]\"",
        ));
    }
    let props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    let admin = Admin::new(common::connect(&props, "kavka-transactions").await?);
    match command {
        Command::List => {
            let rows: Vec<Vec<String>> = admin
                .list_transactions(&[], &[])
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
            topic, partition, ..
        } => {
            let rows: Vec<Vec<String>> = admin
                .describe_producers(&topic, partition)
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
        } => {
            admin
                .abort_transaction(&topic, partition, start_offset)
                .await?;
        }
        Command::FindHanging {
            topic,
            partition,
            max_transaction_timeout,
            ..
        } => {
            let topics = match &topic {
                Some(t) => vec![t.clone()],
                None => admin.list_topics(true).await?,
            };
            let md = admin.describe_topics(&topics).await?;
            let now = common::now_ms();
            let limit_ms = max_transaction_timeout * 60_000;
            let mut rows = Vec::new();
            for t in md {
                for p in &t.partitions {
                    if partition.is_some_and(|want| want != p.partition) {
                        continue;
                    }
                    for s in admin.describe_producers(&t.name, p.partition).await? {
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
