//! `kavka leader-election` (kafka-leader-election.sh): preferred or unclean leader elections
//! (ElectLeaders) for one partition (`--topic` and `--partition`), those of a JSON file
//! (`--path-to-json-file`, `{"partitions": [{"topic": "t", "partition": 0}]}`) or all
//! (`--all-topic-partitions`), with Kafka's checks, report lines and exit status.

use std::collections::BTreeSet;

use kavka_client::{Admin, KafkaError};
use kavka_protocol::ErrorCode;

use crate::common;
use crate::ToolError;

/// Command-line flags of kafka-leader-election.sh.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A hostname and port for the broker to connect to, in the form host:port. Multiple comma
    /// separated URLs can be given. REQUIRED.
    #[arg(long = "bootstrap-server", value_name = "host:port")]
    bootstrap_server: Option<String>,
    /// Config properties file to pass to the admin client.
    #[arg(long = "command-config", value_name = "Config file")]
    command_config: Option<String>,
    /// (DEPRECATED) Configuration properties files to pass to the admin client.
    #[arg(long = "admin.config", value_name = "config file")]
    admin_config: Option<String>,
    /// The JSON file with the list of partitions for which leader elections should be
    /// performed. Not allowed if --all-topic-partitions or --topic flags are specified.
    #[arg(long = "path-to-json-file", value_name = "Path to JSON file")]
    path_to_json_file: Option<String>,
    /// Name of topic for which to perform an election. Not allowed if --path-to-json-file or
    /// --all-topic-partitions is specified.
    #[arg(long = "topic", value_name = "topic name")]
    topic: Option<String>,
    /// Partition id for which to perform an election. REQUIRED if --topic is specified.
    #[arg(long = "partition", value_name = "partition id")]
    partition: Option<i32>,
    /// Perform election on all of the eligible topic partitions based on the type of election.
    #[arg(long = "all-topic-partitions")]
    all_topic_partitions: bool,
    /// Type of election to attempt: "preferred" or "unclean". REQUIRED.
    #[arg(long = "election-type", value_name = "election type")]
    election_type: Option<String>,
}

/// Partitions by topic.
type TopicPartitions = Vec<(String, Vec<i32>)>;

/// The election type's protocol code and Kafka's name for it.
fn election_type(raw: &str) -> Result<(i8, &'static str), ToolError> {
    match raw.to_ascii_uppercase().as_str() {
        "PREFERRED" => Ok((0, "PREFERRED")),
        "UNCLEAN" => Ok((1, "UNCLEAN")),
        _ => Err(ToolError::usage(format!(
            "Cannot convert argument '{raw}' to an election type: expected preferred or unclean"
        ))),
    }
}

/// The partitions of a JSON election file.
fn json_partitions(path: &str) -> Result<TopicPartitions, ToolError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ToolError::failed(format!("Cannot read {path}: {e}")))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| ToolError::failed(format!("Replica election data is not JSON: {e}")))?;
    let list = json
        .get("partitions")
        .and_then(|p| p.as_array())
        .ok_or_else(|| {
            ToolError::failed("Replica election data is missing \"partitions\" field")
        })?;
    let mut seen = BTreeSet::new();
    let mut by_topic: TopicPartitions = Vec::new();
    for entry in list {
        let topic = entry.get("topic").and_then(|t| t.as_str());
        let partition = entry.get("partition").and_then(|p| p.as_i64());
        let (Some(topic), Some(partition)) = (topic, partition) else {
            return Err(ToolError::failed(format!(
                "Replica election data has an entry without topic and partition: {entry}"
            )));
        };
        let partition = i32::try_from(partition)
            .map_err(|_| ToolError::failed(format!("Partition {partition} is out of range")))?;
        if !seen.insert((topic.to_string(), partition)) {
            return Err(ToolError::failed(format!(
                "Replica election data contains duplicate partitions: {topic}-{partition}"
            )));
        }
        match by_topic.iter_mut().find(|(t, _)| t == topic) {
            Some((_, ps)) => ps.push(partition),
            None => by_topic.push((topic.to_string(), vec![partition])),
        }
    }
    Ok(by_topic)
}

/// The partitions the flags name (`None`: all), after Kafka's checks.
fn partitions(args: &Args) -> Result<Option<TopicPartitions>, ToolError> {
    let chosen = [
        args.topic.is_some(),
        args.all_topic_partitions,
        args.path_to_json_file.is_some(),
    ];
    if chosen.iter().filter(|c| **c).count() != 1 {
        return Err(ToolError::usage("One and only one of the following options is required: --topic, --all-topic-partitions, --path-to-json-file"));
    }
    match (&args.topic, args.partition) {
        (Some(_), None) => Err(ToolError::usage("Missing required option(s): --partition")),
        (None, Some(_)) => Err(ToolError::usage(
            "Option --partition is only allowed if --topic is used",
        )),
        (Some(topic), Some(p)) => Ok(Some(vec![(topic.clone(), vec![p])])),
        (None, None) => match &args.path_to_json_file {
            Some(path) => json_partitions(path).map(Some),
            None => Ok(None),
        },
    }
}

/// Runs kafka-leader-election.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let mut missing = Vec::new();
    if args.bootstrap_server.is_none() {
        missing.push("--bootstrap-server");
    }
    if args.election_type.is_none() {
        missing.push("--election-type");
    }
    if !missing.is_empty() {
        return Err(ToolError::usage(format!(
            "Missing required option(s): {}",
            missing.join(", ")
        )));
    }
    let (code, kind) = election_type(args.election_type.as_deref().unwrap_or_default())?;
    let wanted = partitions(&args)?;
    if args.admin_config.is_some() {
        println!("Option --admin.config has been deprecated and will be removed in a future version. Use --command-config instead.");
    }
    let config = args
        .command_config
        .as_deref()
        .or(args.admin_config.as_deref());
    let props = common::client_props(
        args.bootstrap_server.as_deref(),
        config,
        &common::Props::new(),
    )?;
    let admin = Admin::new(common::connect(&props, "kavka-leader-election").await?);
    let results = admin.elect_leaders(code, wanted).await?;
    let list = |code_is: &dyn Fn(ErrorCode) -> bool| {
        results
            .iter()
            .filter(|(_, _, c)| code_is(*c))
            .map(|(t, p, _)| format!("{t}-{p}"))
            .collect::<Vec<_>>()
    };
    let elected = list(&|c| c == ErrorCode::NONE);
    if !elected.is_empty() {
        println!(
            "Successfully completed leader election ({kind}) for partitions {}",
            elected.join(", ")
        );
    }
    let noop = list(&|c| c == ErrorCode::ELECTION_NOT_NEEDED);
    if !noop.is_empty() {
        println!(
            "Valid replica already elected for partitions {}",
            noop.join(", ")
        );
    }
    let failed: Vec<_> = results
        .iter()
        .filter(|(_, _, c)| *c != ErrorCode::NONE && *c != ErrorCode::ELECTION_NOT_NEEDED)
        .collect();
    for (topic, partition, code) in &failed {
        let error = KafkaError {
            code: *code,
            message: None,
        };
        println!(
            "Error completing leader election ({kind}) for partition: {topic}-{partition}: {error}"
        );
    }
    if !failed.is_empty() {
        return Err(ToolError::failed(format!(
            "{} replica(s) could not be elected",
            failed.len()
        )));
    }
    Ok(())
}
