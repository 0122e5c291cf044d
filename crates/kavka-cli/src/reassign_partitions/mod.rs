//! `kavka reassign-partitions` (kafka-reassign-partitions.sh): moves partitions between
//! brokers. `--generate` proposes an assignment of the topics of `--topics-to-move-json-file`
//! over `--broker-list`; `--execute` starts the reassignments of `--reassignment-json-file`
//! (printing the current assignment to roll back to), with `--throttle` setting the
//! replication throttles of the brokers and partitions involved; `--verify` reports each
//! partition's state and clears the throttles once none is in progress; `--cancel` cancels
//! them; `--list` prints those in progress. Kafka's checks, messages and output.

mod actions;
mod throttles;

use std::collections::BTreeSet;

use kavka_client::Admin;
use kavka_protocol::ErrorCode;

use crate::common;
use crate::reassign_json::{Assignment, TopicPartition};
use crate::ToolError;

/// Command-line flags of kafka-reassign-partitions.sh.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server(s) to use for bootstrapping. REQUIRED.
    #[arg(
        long = "bootstrap-server",
        value_name = "Server(s) to use for bootstrapping"
    )]
    bootstrap_server: Option<String>,
    /// Property file containing configs to be passed to Admin Client.
    #[arg(long = "command-config", value_name = "Admin client property file")]
    command_config: Option<String>,
    /// Generate a candidate partition reassignment configuration. Note that this only
    /// generates a candidate assignment, it does not execute it.
    #[arg(long)]
    generate: bool,
    /// Kick off the reassignment as specified by the --reassignment-json-file option.
    #[arg(long)]
    execute: bool,
    /// Verify if the reassignment completed as specified by the --reassignment-json-file
    /// option. If there is a throttle engaged for the replicas specified, and the rebalance has
    /// completed, the throttle will be removed.
    #[arg(long)]
    verify: bool,
    /// Cancel an active reassignment.
    #[arg(long)]
    cancel: bool,
    /// List all active partition reassignments.
    #[arg(long)]
    list: bool,
    /// The JSON file with the partition reassignment configuration.
    #[arg(
        long = "reassignment-json-file",
        value_name = "manual assignment json file path"
    )]
    reassignment_json_file: Option<String>,
    /// Generate a reassignment configuration to move the partitions of the specified topics
    /// to the list of brokers specified by the --broker-list option.
    #[arg(
        long = "topics-to-move-json-file",
        value_name = "topics to reassign json file path"
    )]
    topics_to_move_json_file: Option<String>,
    /// The list of brokers to which the partitions need to be reassigned in the form "0,1,2".
    /// Required with --generate.
    #[arg(long = "broker-list", value_name = "brokerlist")]
    broker_list: Option<String>,
    /// The movement of partitions between brokers will be throttled to this value (bytes/sec).
    #[arg(long, value_name = "Long: throttle", allow_negative_numbers = true)]
    throttle: Option<i64>,
    /// The movement of replicas between log directories on the same broker will be throttled
    /// to this value (bytes/sec). Not supported: a broker has one directory per partition.
    #[arg(
        long = "replica-alter-log-dirs-throttle",
        value_name = "Long: replicaAlterLogDirsThrottle",
        allow_negative_numbers = true
    )]
    replica_alter_log_dirs_throttle: Option<i64>,
    /// The maximum time in ms to wait for log directory replica assignment to begin.
    #[arg(long, value_name = "Long: timeout")]
    timeout: Option<i64>,
    /// Execute this reassignment in addition to any other ongoing ones.
    #[arg(long)]
    additional: bool,
    /// Do not modify broker or topic throttles.
    #[arg(long = "preserve-throttles")]
    preserve_throttles: bool,
    /// Disable rack aware replica assignment.
    #[arg(long = "disable-rack-aware")]
    disable_rack_aware: bool,
}

/// The one action given, after Kafka's checks of what goes with it.
fn action(args: &Args) -> Result<&'static str, ToolError> {
    let actions = [
        ("generate", args.generate),
        ("execute", args.execute),
        ("verify", args.verify),
        ("cancel", args.cancel),
        ("list", args.list),
    ];
    let given: Vec<&str> = actions.iter().filter(|a| a.1).map(|a| a.0).collect();
    let [action] = given[..] else {
        return Err(ToolError::usage("Command must include exactly one action: --generate, --execute, --verify, --cancel, --list"));
    };
    if args.bootstrap_server.is_none() {
        return Err(ToolError::usage(
            "Please specify either --bootstrap-server or --bootstrap-controller",
        ));
    }
    let (required, allowed): (&[&str], &[&str]) = match action {
        "verify" => (&["reassignment-json-file"], &["preserve-throttles"]),
        "generate" => (
            &["topics-to-move-json-file", "broker-list"],
            &["disable-rack-aware"],
        ),
        "execute" => (
            &["reassignment-json-file"],
            &[
                "additional",
                "throttle",
                "replica-alter-log-dirs-throttle",
                "timeout",
            ],
        ),
        "cancel" => (
            &["reassignment-json-file"],
            &["preserve-throttles", "timeout"],
        ),
        _ => (&[], &[]),
    };
    let given_options = [
        (
            "reassignment-json-file",
            args.reassignment_json_file.is_some(),
        ),
        (
            "topics-to-move-json-file",
            args.topics_to_move_json_file.is_some(),
        ),
        ("broker-list", args.broker_list.is_some()),
        ("throttle", args.throttle.is_some()),
        (
            "replica-alter-log-dirs-throttle",
            args.replica_alter_log_dirs_throttle.is_some(),
        ),
        ("timeout", args.timeout.is_some()),
        ("additional", args.additional),
        ("preserve-throttles", args.preserve_throttles),
        ("disable-rack-aware", args.disable_rack_aware),
    ];
    if let Some(missing) = required
        .iter()
        .find(|r| !given_options.iter().any(|(n, g)| n == *r && *g))
    {
        return Err(ToolError::usage(format!(
            "Missing required argument \"[{missing}]\""
        )));
    }
    if let Some((name, _)) = given_options
        .iter()
        .find(|(n, g)| *g && !required.contains(n) && !allowed.contains(n))
    {
        return Err(ToolError::usage(format!(
            "Option \"[{name}]\" can't be used with action \"[{action}]\""
        )));
    }
    Ok(action)
}

pub(crate) fn read(path: &Option<String>) -> Result<String, ToolError> {
    let path = path.as_deref().unwrap_or_default();
    std::fs::read_to_string(path).map_err(|e| ToolError::failed(format!("Cannot read {path}: {e}")))
}

pub(crate) fn joined(parts: &BTreeSet<TopicPartition>) -> String {
    parts
        .iter()
        .map(|(t, p)| format!("{t}-{p}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The partitions a reassignment request refused, as `topic-partition: reason` lines.
fn refused(outcomes: &[kavka_client::admin::ReassignmentOutcome]) -> Vec<String> {
    outcomes
        .iter()
        .filter(|o| o.2 != ErrorCode::NONE)
        .map(|(t, p, code, m)| {
            let why = m.clone().unwrap_or_else(|| code.name().to_string());
            format!("{t}-{p}: {why}")
        })
        .collect()
}

/// Runs kafka-reassign-partitions.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let action = action(&args)?;
    if args.replica_alter_log_dirs_throttle.is_some_and(|t| t >= 0) {
        return Err(ToolError::failed("moving replicas between log directories is not supported: there is no replica-alter-log-dirs throttle to set"));
    }
    let props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    let admin = Admin::new(common::connect(&props, "reassign-partitions-tool").await?);
    match action {
        "generate" => actions::generate(&admin, &args).await,
        "execute" => actions::execute(&admin, &args).await,
        "verify" => actions::verify(&admin, &args).await,
        "cancel" => actions::cancel(&admin, &args).await,
        _ => actions::list(&admin).await,
    }
}

/// The current replicas of every partition of `topics` (every topic must exist).
pub(crate) async fn current(
    admin: &Admin,
    topics: &BTreeSet<String>,
) -> Result<Assignment, ToolError> {
    let names: Vec<String> = topics.iter().cloned().collect();
    let mut out = Assignment::new();
    for t in admin.describe_topics(&names).await? {
        if t.error.is_some() {
            return Err(ToolError::failed(format!("Topic {} not found.", t.name)));
        }
        for p in t.partitions {
            out.insert((t.name.clone(), p.partition), p.replicas);
        }
    }
    Ok(out)
}
