//! `kavka-cli`: Kafka's command-line tools as `kavka <tool>` subcommands.
//!
//! Place in the graph: used by the `kavka` binary only; built on `kavka-client` (topics,
//! groups, configs, produce, consume), `kavka-protocol` (the offline `dump-log` reads segment
//! files with its batch and record readers) and the record decoders of `kavka-coordinator`
//! (console-consumer's formatters of the internal topics).
//!
//! Every tool accepts the flags of the Kafka tool it stands for, spelled as Kafka spells them
//! (`--bootstrap-server`, `--from-beginning`, `--producer.config`), and prints Kafka's output
//! layout, so runbooks and scripts written for `kafka-*.sh` work unchanged; `kavka install-shims
//! DIR` writes `kafka-*.sh` scripts that exec this binary. One module per tool; `common` holds
//! what they share (properties files, client set-up, topic filters, time formats).
//!
//! Errors: a wrong flag prints one line `kavka <tool>: <reason>` and the usage, exit code 1 (as
//! Kafka's tools); a failure at run time (unreachable broker, a Kafka error code) prints one line
//! `kavka <tool>: <reason>` naming the Kafka error, exit code 1.

use std::process::ExitCode;

use clap::Subcommand;

/// `print!` that ignores a closed standard output (`kavka topics --list | head -1`), as
/// Java's `System.out` does, instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `println!` that ignores a closed standard output.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub mod argparse_help;
pub mod argparse_tools;
mod common;
mod error;
pub mod help;
mod internal_formatters;

pub mod broker_api_versions;
pub mod cluster;
pub mod configs;
pub mod console_consumer;
pub mod console_producer;
pub mod consumer_groups;
mod consumer_groups_describe;
mod consumer_groups_reset;
pub mod consumer_perf;
pub mod delete_records;
pub mod dump_log;
pub mod get_offsets;
pub mod leader_election;
mod line_reader;
pub mod metadata_quorum;
pub mod producer_perf;
pub mod reassign_json;
pub mod reassign_partitions;
pub mod shims;
pub mod topics;
pub mod transactions;

pub use error::ToolError;

/// The tools, one subcommand each (flattened into the `kavka` binary's commands).
#[derive(Debug, Subcommand)]
pub enum Tool {
    /// Create, delete, describe, or change a topic (kafka-topics.sh).
    Topics(topics::Args),
    /// Read lines from standard input and produce them as records (kafka-console-producer.sh).
    ConsoleProducer(console_producer::Args),
    /// Read records from topics and print them to standard output (kafka-console-consumer.sh).
    ConsoleConsumer(console_consumer::Args),
    /// List, describe, delete consumer groups, reset their offsets (kafka-consumer-groups.sh).
    ConsumerGroups(consumer_groups::Args),
    /// Describe or alter topic and broker configs (kafka-configs.sh).
    Configs(configs::Args),
    /// Print the API versions every broker serves (kafka-broker-api-versions.sh).
    BrokerApiVersions(broker_api_versions::Args),
    /// Print offsets of topic partitions (kafka-get-offsets.sh).
    GetOffsets(get_offsets::Args),
    /// Delete records below given offsets (kafka-delete-records.sh).
    DeleteRecords(delete_records::Args),
    /// Measure produce throughput and latency (kafka-producer-perf-test.sh).
    ProducerPerfTest(producer_perf::Args),
    /// Measure consume throughput (kafka-consumer-perf-test.sh).
    ConsumerPerfTest(consumer_perf::Args),
    /// Print the batches and records of log segment and index files (kafka-dump-log.sh).
    DumpLog(dump_log::Args),
    /// List, describe and abort transactions, describe producers (kafka-transactions.sh).
    Transactions(transactions::Args),
    /// Describe the metadata quorum (kafka-metadata-quorum.sh).
    MetadataQuorum(metadata_quorum::Args),
    /// Print the cluster id or unregister a broker (kafka-cluster.sh).
    Cluster(cluster::Args),
    /// Elect preferred or unclean partition leaders (kafka-leader-election.sh).
    LeaderElection(leader_election::Args),
    /// Move partitions between brokers (kafka-reassign-partitions.sh).
    ReassignPartitions(reassign_partitions::Args),
    /// Write kafka-*.sh scripts into DIR that run these tools through this binary.
    InstallShims(shims::Args),
}

/// The subcommand names of the tools, as typed after `kavka`.
pub const TOOL_NAMES: &[&str] = &[
    "topics",
    "console-producer",
    "console-consumer",
    "consumer-groups",
    "configs",
    "broker-api-versions",
    "get-offsets",
    "delete-records",
    "producer-perf-test",
    "consumer-perf-test",
    "dump-log",
    "transactions",
    "metadata-quorum",
    "cluster",
    "leader-election",
    "reassign-partitions",
    "install-shims",
];

impl Tool {
    /// The subcommand name (for messages).
    pub fn name(&self) -> &'static str {
        match self {
            Tool::Topics(_) => "topics",
            Tool::ConsoleProducer(_) => "console-producer",
            Tool::ConsoleConsumer(_) => "console-consumer",
            Tool::ConsumerGroups(_) => "consumer-groups",
            Tool::Configs(_) => "configs",
            Tool::BrokerApiVersions(_) => "broker-api-versions",
            Tool::GetOffsets(_) => "get-offsets",
            Tool::DeleteRecords(_) => "delete-records",
            Tool::ProducerPerfTest(_) => "producer-perf-test",
            Tool::ConsumerPerfTest(_) => "consumer-perf-test",
            Tool::DumpLog(_) => "dump-log",
            Tool::Transactions(_) => "transactions",
            Tool::MetadataQuorum(_) => "metadata-quorum",
            Tool::Cluster(_) => "cluster",
            Tool::LeaderElection(_) => "leader-election",
            Tool::ReassignPartitions(_) => "reassign-partitions",
            Tool::InstallShims(_) => "install-shims",
        }
    }
}

/// Runs a tool to completion on the caller's runtime; failures are reported on stderr.
pub async fn run(tool: Tool) -> ExitCode {
    let name = tool.name();
    let result = match tool {
        Tool::Topics(a) => topics::run(a).await,
        Tool::ConsoleProducer(a) => console_producer::run(a).await,
        Tool::ConsoleConsumer(a) => console_consumer::run(a).await,
        Tool::ConsumerGroups(a) => consumer_groups::run(a).await,
        Tool::Configs(a) => configs::run(a).await,
        Tool::BrokerApiVersions(a) => broker_api_versions::run(a).await,
        Tool::GetOffsets(a) => get_offsets::run(a).await,
        Tool::DeleteRecords(a) => delete_records::run(a).await,
        Tool::ProducerPerfTest(a) => producer_perf::run(a).await,
        Tool::ConsumerPerfTest(a) => consumer_perf::run(a).await,
        Tool::DumpLog(a) => dump_log::run(a),
        Tool::Transactions(a) => transactions::run(a).await,
        Tool::MetadataQuorum(a) => metadata_quorum::run(a).await,
        Tool::Cluster(a) => cluster::run(a).await,
        Tool::LeaderElection(a) => leader_election::run(a).await,
        Tool::ReassignPartitions(a) => reassign_partitions::run(a).await,
        Tool::InstallShims(a) => shims::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error::report(name, &e);
            ExitCode::FAILURE
        }
    }
}

/// Reports a command-line parse error of a tool as Kafka's tools do. Help goes to stdout with
/// exit code 0 (Kafka's tools print it on stderr and exit with 1; a help that pipes into `less`
/// is worth the difference); `--version` prints the version. Anything else is Kafka's message
/// for the mistake, then (for the tools Kafka parses with joptsimple) the option table, exit
/// code 1.
pub fn report_parse_error(err: clap::Error, tool: &str) -> ExitCode {
    use clap::error::ErrorKind;
    if argparse_tools::is_argparse_tool(tool) {
        let args: Vec<String> = std::env::args().skip(2).collect();
        return argparse_tools::report_parse_error(&err, tool, &args);
    }
    let jopt = help::JOPT_TOOLS.contains(&tool);
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand if jopt => {
            outln!("{}", help::render(tool).trim_end_matches('\n'));
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayVersion => {
            outln!("{}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            ExitCode::SUCCESS
        }
        _ => {
            let reason = if jopt {
                error::jopt_message(&err)
            } else {
                error::clap_message(&err)
            };
            error::report(tool, &ToolError::Usage(reason));
            ExitCode::FAILURE
        }
    }
}

/// What a Kafka tool does when run with no arguments at all: its help on stderr, exit code 1.
/// `None` for the tools that Kafka does not treat so.
pub fn report_no_arguments(tool: &str) -> Option<ExitCode> {
    if tool == "producer-perf-test" {
        // Kafka's ProducerPerformance prints its help (on stdout) and succeeds.
        let parser = argparse_tools::parser(tool, None)?;
        out!("{}", parser.help(argparse_help::width()));
        return Some(ExitCode::SUCCESS);
    }
    if !help::JOPT_TOOLS.contains(&tool) || tool == "install-shims" {
        return None;
    }
    eprint!("{}", help::render(tool));
    Some(ExitCode::FAILURE)
}
