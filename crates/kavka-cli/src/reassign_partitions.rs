//! `kavka reassign-partitions` (kafka-reassign-partitions.sh): moves partitions between
//! brokers. `--generate` proposes an assignment of the topics of `--topics-to-move-json-file`
//! over `--broker-list`; `--execute` starts the reassignments of `--reassignment-json-file`
//! (printing the current assignment to roll back to), with `--throttle` setting the
//! replication throttles of the brokers and partitions involved; `--verify` reports each
//! partition's state and clears the throttles once none is in progress; `--cancel` cancels
//! them; `--list` prints those in progress. Kafka's checks, messages and output.

use std::collections::{BTreeMap, BTreeSet};

use kavka_client::admin::{AlterConfigOp, AlterOpType, ConfigResource};
use kavka_client::Admin;
use kavka_protocol::ErrorCode;

use crate::common;
use crate::reassign_json::{self, Assignment, TopicPartition};
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
    #[arg(long, value_name = "throttle", allow_negative_numbers = true)]
    throttle: Option<i64>,
    /// The movement of replicas between log directories on the same broker will be throttled
    /// to this value (bytes/sec). Not supported: a broker has one directory per partition.
    #[arg(
        long = "replica-alter-log-dirs-throttle",
        value_name = "replicaAlterLogDirsThrottle",
        allow_negative_numbers = true
    )]
    replica_alter_log_dirs_throttle: Option<i64>,
    /// The maximum time in ms to wait for log directory replica assignment to begin.
    #[arg(long, value_name = "timeout")]
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

/// Broker-level throttle configs the tool sets and clears.
const BROKER_THROTTLES: [&str; 2] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];
/// Topic-level throttle configs.
const TOPIC_THROTTLES: [&str; 2] = [
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
];

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

fn read(path: &Option<String>) -> Result<String, ToolError> {
    let path = path.as_deref().unwrap_or_default();
    std::fs::read_to_string(path).map_err(|e| ToolError::failed(format!("Cannot read {path}: {e}")))
}

fn joined(parts: &BTreeSet<TopicPartition>) -> String {
    parts
        .iter()
        .map(|(t, p)| format!("{t}-{p}"))
        .collect::<Vec<_>>()
        .join(",")
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
        "generate" => generate(&admin, &args).await,
        "execute" => execute(&admin, &args).await,
        "verify" => verify(&admin, &args).await,
        "cancel" => cancel(&admin, &args).await,
        _ => list(&admin).await,
    }
}

/// The current replicas of every partition of `topics` (every topic must exist).
async fn current(admin: &Admin, topics: &BTreeSet<String>) -> Result<Assignment, ToolError> {
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

async fn generate(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let brokers: Vec<i32> = args
        .broker_list
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|b| {
            b.trim()
                .parse::<i32>()
                .map_err(|_| ToolError::failed(format!("For input string: \"{}\"", b.trim())))
        })
        .collect::<Result<_, _>>()?;
    let dup: BTreeSet<i32> = brokers
        .iter()
        .enumerate()
        .filter(|(i, b)| brokers[..*i].contains(b))
        .map(|(_, b)| *b)
        .collect();
    if !dup.is_empty() {
        return Err(ToolError::failed(format!(
            "Broker list contains duplicate entries: {dup:?}"
        )));
    }
    let topics = reassign_json::parse_topics(&read(&args.topics_to_move_json_file)?)?;
    let set: BTreeSet<String> = topics.iter().cloned().collect();
    if set.len() != topics.len() {
        return Err(ToolError::failed(
            "List of topics to reassign contains duplicate entries",
        ));
    }
    let current = current(admin, &set).await?;
    let live: BTreeSet<i32> = admin
        .describe_cluster()
        .await?
        .brokers
        .iter()
        .map(|b| b.node_id)
        .collect();
    let usable: Vec<i32> = brokers
        .iter()
        .copied()
        .filter(|b| live.contains(b))
        .collect();
    let mut proposed = Assignment::new();
    for topic in &set {
        let parts: Vec<(&TopicPartition, &Vec<i32>)> =
            current.iter().filter(|((t, _), _)| t == topic).collect();
        let rf = parts.first().map_or(1, |(_, r)| r.len());
        let assigned = reassign_json::assign(&usable, parts.len() as i32, rf)?;
        for (p, replicas) in assigned.into_iter().enumerate() {
            proposed.insert((topic.clone(), p as i32), replicas);
        }
    }
    println!(
        "Current partition replica assignment\n{}\n",
        reassign_json::format(&current)
    );
    println!(
        "Proposed partition reassignment configuration\n{}",
        reassign_json::format(&proposed)
    );
    Ok(())
}

async fn execute(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let proposed: Assignment =
        reassign_json::parse_reassignment(&read(&args.reassignment_json_file)?)?
            .into_iter()
            .collect();
    let ongoing = admin.list_partition_reassignments(None).await?;
    if !args.additional && !ongoing.is_empty() {
        return Err(ToolError::failed("Cannot execute because there is an existing partition assignment.  Use --additional to override this and create a new partition assignment in addition to the existing one. The --additional flag can also be used to change the throttle by resubmitting the current reassignment."));
    }
    let known: BTreeSet<i32> = admin
        .describe_cluster()
        .await?
        .brokers
        .iter()
        .map(|b| b.node_id)
        .collect();
    if let Some(b) = proposed.values().flatten().find(|b| !known.contains(b)) {
        return Err(ToolError::failed(format!("Unknown broker id {b}")));
    }
    let topics: BTreeSet<String> = proposed.keys().map(|(t, _)| t.clone()).collect();
    let all = current(admin, &topics).await?;
    let missing: Vec<String> = proposed
        .keys()
        .filter(|k| !all.contains_key(k))
        .map(|(t, p)| format!("{t}-{p}"))
        .collect();
    if !missing.is_empty() {
        return Err(ToolError::failed(format!(
            "Unable to find partition: {}",
            missing.join(", ")
        )));
    }
    let current: Assignment = all
        .into_iter()
        .filter(|(k, _)| proposed.contains_key(k))
        .collect();
    println!("Current partition replica assignment\n\n{}\n\nSave this to use as the --reassignment-json-file option during rollback", reassign_json::format(&current));
    if let Some(throttle) = args.throttle.filter(|t| *t >= 0) {
        println!("Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.");
        set_throttles(admin, &ongoing, &proposed, &current, throttle).await?;
        println!("The inter-broker throttle limit was set to {throttle} B/s");
    }
    let requests: Vec<(String, i32, Option<Vec<i32>>)> = proposed
        .iter()
        .map(|((t, p), r)| (t.clone(), *p, Some(r.clone())))
        .collect();
    let outcomes = admin.alter_partition_reassignments(&requests).await?;
    let errors: Vec<String> = outcomes
        .iter()
        .filter(|o| o.2 != ErrorCode::NONE)
        .map(|(t, p, code, m)| {
            format!(
                "{t}-{p}: {}",
                m.clone().unwrap_or_else(|| code.name().to_string())
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(ToolError::failed(format!(
            "Error reassigning partition(s):\n{}",
            errors.join("\n")
        )));
    }
    let parts: BTreeSet<TopicPartition> = proposed.keys().cloned().collect();
    let s = if parts.len() == 1 { "" } else { "s" };
    println!(
        "Successfully started partition reassignment{s} for {}",
        joined(&parts)
    );
    Ok(())
}

/// Sets Kafka's throttles for a reassignment: on each topic, the partitions' sources on the
/// leader side and their new replicas on the follower side; on every broker involved, both
/// rates.
async fn set_throttles(
    admin: &Admin,
    ongoing: &[kavka_client::admin::OngoingReassignment],
    proposed: &Assignment,
    current: &Assignment,
    throttle: i64,
) -> Result<(), ToolError> {
    // (sources, destinations) per partition: ongoing moves first, then the proposed ones.
    let mut moves: BTreeMap<TopicPartition, (BTreeSet<i32>, BTreeSet<i32>)> = BTreeMap::new();
    for r in ongoing {
        let sources = r
            .replicas
            .iter()
            .copied()
            .filter(|b| !r.adding.contains(b))
            .collect();
        moves.insert(
            (r.topic.clone(), r.partition),
            (sources, r.adding.iter().copied().collect()),
        );
    }
    for (tp, replicas) in proposed {
        let sources = match moves.get(tp) {
            Some((s, _)) => s.clone(),
            None => current
                .get(tp)
                .map(|r| r.iter().copied().collect())
                .unwrap_or_default(),
        };
        let destinations = replicas
            .iter()
            .copied()
            .filter(|b| !sources.contains(b))
            .collect();
        moves.insert(tp.clone(), (sources, destinations));
    }
    let mut by_topic: BTreeMap<&str, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut brokers: BTreeSet<i32> = BTreeSet::new();
    for ((topic, p), (sources, destinations)) in &moves {
        let entry = by_topic.entry(topic).or_default();
        entry.0.extend(sources.iter().map(|b| format!("{p}:{b}")));
        entry
            .1
            .extend(destinations.iter().map(|b| format!("{p}:{b}")));
        brokers.extend(sources.iter().chain(destinations));
    }
    let set = |name: &str, value: String| AlterConfigOp {
        name: name.into(),
        value: Some(value),
        op: AlterOpType::Set,
    };
    for (topic, (leader, follower)) in by_topic {
        let join = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>().join(",");
        let ops = [
            set(TOPIC_THROTTLES[0], join(leader)),
            set(TOPIC_THROTTLES[1], join(follower)),
        ];
        admin
            .incremental_alter_configs(&ConfigResource::Topic(topic.to_string()), &ops)
            .await?;
    }
    for broker in brokers {
        let ops: Vec<AlterConfigOp> = BROKER_THROTTLES
            .iter()
            .map(|n| set(n, throttle.to_string()))
            .collect();
        admin
            .incremental_alter_configs(&ConfigResource::Broker(broker.to_string()), &ops)
            .await?;
    }
    Ok(())
}

/// Removes every throttle of the brokers (all of the cluster's and those named) and topics.
async fn clear_throttles(
    admin: &Admin,
    targets: &[(TopicPartition, Vec<i32>)],
) -> Result<(), ToolError> {
    let mut brokers: BTreeSet<i32> = admin
        .describe_cluster()
        .await?
        .brokers
        .iter()
        .map(|b| b.node_id)
        .collect();
    brokers.extend(targets.iter().flat_map(|(_, r)| r.iter().copied()));
    let topics: BTreeSet<&str> = targets.iter().map(|((t, _), _)| t.as_str()).collect();
    let list = |v: Vec<String>| v.join(",");
    let s = if brokers.len() == 1 { "" } else { "s" };
    println!(
        "Clearing broker-level throttles on broker{s} {}",
        list(brokers.iter().map(i32::to_string).collect())
    );
    let delete = |name: &str| AlterConfigOp {
        name: name.into(),
        value: None,
        op: AlterOpType::Delete,
    };
    for b in &brokers {
        let ops: Vec<AlterConfigOp> = BROKER_THROTTLES.iter().map(|n| delete(n)).collect();
        admin
            .incremental_alter_configs(&ConfigResource::Broker(b.to_string()), &ops)
            .await?;
    }
    let s = if topics.len() == 1 { "" } else { "s" };
    println!(
        "Clearing topic-level throttles on topic{s} {}",
        list(topics.iter().map(|t| t.to_string()).collect())
    );
    for t in topics {
        let ops: Vec<AlterConfigOp> = TOPIC_THROTTLES.iter().map(|n| delete(n)).collect();
        admin
            .incremental_alter_configs(&ConfigResource::Topic(t.to_string()), &ops)
            .await?;
    }
    Ok(())
}

async fn verify(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let targets = reassign_json::parse_reassignment(&read(&args.reassignment_json_file)?)?;
    let ongoing = admin.list_partition_reassignments(None).await?;
    let topics: BTreeSet<String> = targets.iter().map(|((t, _), _)| t.clone()).collect();
    let names: Vec<String> = topics.iter().cloned().collect();
    let described = admin.describe_topics(&names).await?;
    let mut lines = vec!["Status of partition reassignment:".to_string()];
    let mut sorted = targets.clone();
    sorted.sort();
    for ((topic, p), target) in &sorted {
        if ongoing
            .iter()
            .any(|r| &r.topic == topic && r.partition == *p)
        {
            lines.push(format!(
                "Reassignment of partition {topic}-{p} is still in progress."
            ));
            continue;
        }
        let now: Vec<i32> = described
            .iter()
            .find(|t| &t.name == topic)
            .and_then(|t| t.partitions.iter().find(|x| x.partition == *p))
            .map(|x| x.replicas.clone())
            .unwrap_or_default();
        if &now == target {
            lines.push(format!(
                "Reassignment of partition {topic}-{p} is completed."
            ));
        } else {
            let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            lines.push(format!("There is no active reassignment of partition {topic}-{p}, but replica set is {} rather than {}.", ids(&now), ids(target)));
        }
    }
    println!("{}", lines.join("\n"));
    // Kafka prints the (here always empty) log directory moves' states on their own line.
    println!();
    if ongoing.is_empty() && !args.preserve_throttles {
        clear_throttles(admin, &targets).await?;
    }
    Ok(())
}

async fn cancel(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let targets = reassign_json::parse_reassignment(&read(&args.reassignment_json_file)?)?;
    let wanted: BTreeMap<String, Vec<i32>> =
        targets.iter().fold(BTreeMap::new(), |mut m, ((t, p), _)| {
            m.entry(t.clone()).or_default().push(*p);
            m
        });
    let ongoing = admin
        .list_partition_reassignments(Some(wanted.into_iter().collect()))
        .await?;
    let active: BTreeSet<TopicPartition> = ongoing
        .iter()
        .filter(|r| r.adding.is_empty() || !r.removing.is_empty())
        .map(|r| (r.topic.clone(), r.partition))
        .collect();
    if active.is_empty() {
        println!("None of the specified partition reassignments are active.");
    } else {
        let requests: Vec<(String, i32, Option<Vec<i32>>)> =
            active.iter().map(|(t, p)| (t.clone(), *p, None)).collect();
        let outcomes = admin.alter_partition_reassignments(&requests).await?;
        let errors: Vec<String> = outcomes
            .iter()
            .filter(|o| o.2 != ErrorCode::NONE)
            .map(|(t, p, code, m)| {
                format!(
                    "{t}-{p}: {}",
                    m.clone().unwrap_or_else(|| code.name().to_string())
                )
            })
            .collect();
        if !errors.is_empty() {
            let s = if errors.len() == 1 { "" } else { "s" };
            return Err(ToolError::failed(format!(
                "Error cancelling partition reassignment{s} for:\n{}",
                errors.join("\n")
            )));
        }
        let s = if active.len() == 1 { "" } else { "s" };
        println!(
            "Successfully cancelled partition reassignment{s} for: {}",
            joined(&active)
        );
    }
    // As Kafka prints it: no line break before the throttle lines.
    print!("None of the specified partition moves are active.");
    if !args.preserve_throttles {
        clear_throttles(admin, &targets).await?;
    } else {
        println!();
    }
    Ok(())
}

async fn list(admin: &Admin) -> Result<(), ToolError> {
    let mut ongoing = admin.list_partition_reassignments(None).await?;
    if ongoing.is_empty() {
        println!("No partition reassignments found.");
        return Ok(());
    }
    ongoing.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    let ids = |v: &[i32]| v.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    println!("Current partition reassignments:");
    for r in ongoing {
        let adding = if r.adding.is_empty() {
            String::new()
        } else {
            format!(" adding: {}.", ids(&r.adding))
        };
        let removing = if r.removing.is_empty() {
            String::new()
        } else {
            format!(" removing: {}.", ids(&r.removing))
        };
        println!(
            "{}-{}: replicas: {}.{adding}{removing}",
            r.topic,
            r.partition,
            ids(&r.replicas)
        );
    }
    Ok(())
}
