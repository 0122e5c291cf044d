//! `kavka topics` (kafka-topics.sh): create, list, describe, alter (partitions) and delete
//! topics, with Kafka's flags, checks, messages and `--describe` layout.

use kavka_client::{Admin, ConfigResource, ConfigSource, TopicMetadata};
use kavka_protocol::ErrorCode;

use crate::common::{self, IncludeList};
use crate::ToolError;

/// Command-line flags of kafka-topics.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// REQUIRED: The Kafka server to connect to.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    bootstrap_server: Option<String>,
    /// Property file containing configs to be passed to Admin Client.
    #[arg(long = "command-config", value_name = "command config property file")]
    command_config: Option<String>,
    /// List all available topics.
    #[arg(long)]
    list: bool,
    /// Create a new topic.
    #[arg(long)]
    create: bool,
    /// Delete a topic.
    #[arg(long)]
    delete: bool,
    /// Alter the number of partitions. (To alter topic configurations, the configs tool can be
    /// used.)
    #[arg(long)]
    alter: bool,
    /// List details for the given topics.
    #[arg(long)]
    describe: bool,
    /// The topic to create, alter, describe or delete. It also accepts a regular expression,
    /// except for --create option.
    #[arg(long, value_name = "topic")]
    topic: Option<String>,
    /// The topic-id to describe.
    #[arg(long = "topic-id", value_name = "topic-id")]
    topic_id: Option<String>,
    /// A topic configuration override for the topic being created (repeatable).
    #[arg(long, value_name = "name=value")]
    config: Vec<String>,
    /// This option is no longer supported and has been deprecated since 4.0.
    #[arg(long = "delete-config", value_name = "name")]
    delete_config: Vec<String>,
    /// The number of partitions for the topic being created or altered.
    #[arg(
        long,
        value_name = "Integer: # of partitions",
        allow_negative_numbers = true
    )]
    partitions: Option<i32>,
    /// The replication factor for each partition in the topic being created.
    #[arg(
        long = "replication-factor",
        value_name = "Integer: replication factor",
        allow_negative_numbers = true
    )]
    replication_factor: Option<i32>,
    /// A list of manual partition-to-broker assignments for the topic being created: partitions
    /// separated by commas, their replicas by colons (`1:2:3,2:3:1`).
    #[arg(
        long = "replica-assignment",
        value_name = "broker_id_for_part1_replica1 : broker_id_for_part1_replica2 , broker_id_for_part2_replica1 : broker_id_for_part2_replica2 , ..."
    )]
    replica_assignment: Option<String>,
    /// If set when describing topics, only show under-replicated partitions.
    #[arg(long = "under-replicated-partitions")]
    under_replicated_partitions: bool,
    /// If set when describing topics, only show partitions whose leader is not available.
    #[arg(long = "unavailable-partitions")]
    unavailable_partitions: bool,
    /// If set when describing topics, only show partitions whose isr count is less than the
    /// configured minimum.
    #[arg(long = "under-min-isr-partitions")]
    under_min_isr_partitions: bool,
    /// If set when describing topics, only show partitions whose isr count is equal to the
    /// configured minimum.
    #[arg(long = "at-min-isr-partitions")]
    at_min_isr_partitions: bool,
    /// If set when describing topics, only show topics that have overridden configs.
    #[arg(long = "topics-with-overrides")]
    topics_with_overrides: bool,
    /// If set when altering or deleting or describing topics, the action will only execute if
    /// the topic exists.
    #[arg(long = "if-exists")]
    if_exists: bool,
    /// If set when creating topics, the create request will not fail if the topic already
    /// exists.
    #[arg(long = "if-not-exists")]
    if_not_exists: bool,
    /// Exclude internal topics when listing or describing topics.
    #[arg(long = "exclude-internal")]
    exclude_internal: bool,
    /// The maximum partition size to be included in one DescribeTopicPartitions response.
    #[arg(
        long = "partition-size-limit-per-response",
        value_name = "Integer: maximum number of partitions per response"
    )]
    partition_size_limit_per_response: Option<i32>,
}

impl Args {
    fn reports(&self) -> bool {
        self.under_replicated_partitions
            || self.unavailable_partitions
            || self.under_min_isr_partitions
            || self.at_min_isr_partitions
    }

    /// Kafka's `checkArgs`: one action, required and invalid combinations.
    fn check(&self) -> Result<(), ToolError> {
        let actions = [
            self.create,
            self.list,
            self.alter,
            self.describe,
            self.delete,
        ];
        if actions.iter().filter(|a| **a).count() != 1 {
            return Err(ToolError::usage(
                "Command must include exactly one action: --list, --describe, --create, --alter or --delete",
            ));
        }
        if !self.delete_config.is_empty() {
            eprintln!("delete-config option is no longer supported and deprecated since version 4.0. The config will be fully removed in future releases.");
        }
        if self.bootstrap_server.is_none() {
            return Err(ToolError::usage("--bootstrap-server must be specified"));
        }
        if !self.list && !self.describe && self.topic.is_none() {
            return Err(ToolError::usage("Missing required argument \"[topic]\""));
        }
        if self.alter && !self.config.is_empty() {
            return Err(ToolError::usage("Option \"[alter]\" can't be used with option \"[config]\" (To alter topic configurations, the kafka-configs tool can be used.)"));
        }
        if self.alter && self.partitions.is_none() {
            return Err(ToolError::usage(
                "Missing required argument \"[partitions]\"",
            ));
        }
        let action = if self.create {
            "create"
        } else if self.list {
            "list"
        } else if self.alter {
            "alter"
        } else if self.describe {
            "describe"
        } else {
            "delete"
        };
        let invalid = |used: &str, ok: &[&str]| -> Result<(), ToolError> {
            if ok.contains(&action) {
                Ok(())
            } else {
                Err(ToolError::usage(format!(
                    "Option \"[{used}]\" can't be used with option \"[{action}]\""
                )))
            }
        };
        if !self.config.is_empty() {
            invalid("config", &["alter", "create"])?;
        }
        if self.partitions.is_some() {
            invalid("partitions", &["alter", "create"])?;
        }
        if self.replication_factor.is_some() {
            invalid("replication-factor", &["create"])?;
        }
        if self.replica_assignment.is_some() {
            invalid("replica-assignment", &["alter", "create"])?;
            if self.alter {
                return Err(ToolError::usage(
                    "--replica-assignment with --alter is not supported by kavka yet (new partitions are placed by the controller)",
                ));
            }
            for (set, name) in [
                (self.partitions.is_some(), "partitions"),
                (self.replication_factor.is_some(), "replication-factor"),
            ] {
                if set {
                    return Err(ToolError::usage(format!(
                        "Option \"[replica-assignment]\" can't be used with option \"[{name}]\""
                    )));
                }
            }
        }
        if self.reports() || self.topics_with_overrides {
            invalid("topics-with-overrides", &["describe"])?;
        }
        if self.if_exists {
            invalid("if-exists", &["alter", "delete", "describe"])?;
        }
        if self.if_not_exists {
            invalid("if-not-exists", &["create"])?;
        }
        if self.exclude_internal {
            invalid("exclude-internal", &["list", "describe"])?;
        }
        Ok(())
    }
}

/// Runs kafka-topics.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    args.check()?;
    let props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    let client = common::connect(&props, "kavka-topics").await?;
    let admin = Admin::new(client);
    if args.create {
        create(&admin, &args).await
    } else if args.list {
        for topic in matching_topics(&admin, &args).await? {
            outln!("{topic}");
        }
        Ok(())
    } else if args.alter {
        let topics = existing_topics(&admin, &args).await?;
        let total = args.partitions.unwrap_or_default();
        for topic in topics {
            admin.create_partitions(&topic, total).await?;
        }
        Ok(())
    } else if args.describe {
        describe(&admin, &args).await
    } else {
        for topic in existing_topics(&admin, &args).await? {
            admin.delete_topic(&topic).await?;
        }
        Ok(())
    }
}

/// `--config` values: `key=value`, spaces around `=` trimmed.
fn parse_configs(configs: &[String]) -> Result<Vec<(String, String)>, ToolError> {
    configs
        .iter()
        .map(|c| {
            let parts: Vec<&str> = c.split('=').collect();
            if parts.len() != 2 {
                return Err(ToolError::usage("requirement failed: Invalid topic config: all configs to be added must be in the format \"key=val\"."));
            }
            Ok((parts[0].trim().to_string(), parts[1].trim().to_string()))
        })
        .collect()
}

async fn create(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let name = args.topic.clone().unwrap_or_default();
    if let Some(rf) = args.replication_factor {
        if !(1..=i32::from(i16::MAX)).contains(&rf) {
            return Err(ToolError::usage(
                "The replication factor must be between 1 and 32767 inclusive",
            ));
        }
    }
    if args.partitions.is_some_and(|p| p < 1) {
        return Err(ToolError::usage("The partitions must be greater than 0"));
    }
    let configs = parse_configs(&args.config)?;
    if name.contains('.') || name.contains('_') {
        outln!("WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.");
    }
    let partitions = args.partitions.unwrap_or(-1);
    let replication_factor = args.replication_factor.map_or(-1, |rf| rf as i16);
    let assignment = match &args.replica_assignment {
        Some(raw) => parse_replica_assignment(raw)?,
        None => Vec::new(),
    };
    match admin
        .create_topic_assigned(
            &name,
            (partitions, replication_factor),
            &assignment,
            &configs,
            false,
        )
        .await
    {
        Ok(_) => {
            outln!("Created topic {name}.");
            Ok(())
        }
        Err(e) if args.if_not_exists && e.kafka_code() == Some(ErrorCode::TOPIC_ALREADY_EXISTS) => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// `--replica-assignment`'s `1:2:3,2:3:1` (a partition's broker ids, partitions in order), with
/// Kafka's checks: no broker twice in a partition, the same number of replicas everywhere.
fn parse_replica_assignment(raw: &str) -> Result<Vec<Vec<i32>>, ToolError> {
    let mut out: Vec<Vec<i32>> = Vec::new();
    for (i, list) in raw.split(',').enumerate() {
        let brokers = list
            .split(':')
            .map(|b| b.trim().parse::<i32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ToolError::usage(format!("Invalid replica assignment: {raw}")))?;
        let mut seen = brokers.clone();
        seen.sort_unstable();
        seen.dedup();
        if seen.len() != brokers.len() {
            return Err(ToolError::usage(format!(
                "Partition replica lists may not contain duplicate entries: {list}"
            )));
        }
        if out
            .first()
            .is_some_and(|first| first.len() != brokers.len())
        {
            return Err(ToolError::usage(format!(
                "Partition {i} has different replication factor: {list}"
            )));
        }
        out.push(brokers);
    }
    Ok(out)
}

/// Topics (internal included unless `--exclude-internal`), sorted, passing `--topic`.
async fn matching_topics(admin: &Admin, args: &Args) -> Result<Vec<String>, ToolError> {
    let all = admin.list_topics(!args.exclude_internal).await?;
    let filter = match &args.topic {
        Some(t) => Some(IncludeList::new(t)?),
        None => None,
    };
    Ok(all
        .into_iter()
        .filter(|t| match &filter {
            Some(f) => f.allows(t, args.exclude_internal),
            None => !(args.exclude_internal && common::is_internal(t)),
        })
        .collect())
}

/// Matching topics; an empty match for a named topic is an error unless `--if-exists`.
async fn existing_topics(admin: &Admin, args: &Args) -> Result<Vec<String>, ToolError> {
    let topics = matching_topics(admin, args).await?;
    if let Some(requested) = &args.topic {
        if topics.is_empty() && !requested.is_empty() && !args.if_exists {
            return Err(ToolError::failed(format!(
                "Topic '{requested}' does not exist as expected"
            )));
        }
    }
    Ok(topics)
}

fn join_ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

async fn describe(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let mut topics = existing_topics(admin, args).await?;
    if let Some(id) = args.topic_id.as_deref().filter(|id| !id.is_empty()) {
        // Describe by id: the topic whose id prints as given.
        let all = admin.describe_topics(&topics).await?;
        topics = all
            .into_iter()
            .filter(|t| topic_id_string(t).as_deref() == Some(id))
            .map(|t| t.name)
            .collect();
        if topics.is_empty() && !args.if_exists {
            return Err(ToolError::failed(format!(
                "TopicId '{id}' does not exist as expected"
            )));
        }
    }
    if topics.is_empty() {
        return Ok(());
    }
    let described = admin.describe_topics(&topics).await?;
    let live: Vec<i32> = crate::common::broker_ids(admin)
        .await?
        .into_iter()
        .collect();
    for topic in &topics {
        let Some(td) = described.iter().find(|t| &t.name == topic) else {
            continue;
        };
        if let Some(e) = &td.error {
            return Err(ToolError::failed(format!("{e}")));
        }
        let entries = admin
            .describe_configs(&ConfigResource::Topic(topic.clone()), false)
            .await?;
        let overrides: Vec<String> = entries
            .iter()
            .filter(|e| !matches!(e.source, ConfigSource::DEFAULT_CONFIG))
            .map(|e| format!("{}={}", e.name, e.value.as_deref().unwrap_or("null")))
            .collect();
        let min_isr = entries
            .iter()
            .find(|e| e.name == "min.insync.replicas")
            .and_then(|e| e.value.as_deref()?.parse::<usize>().ok())
            .unwrap_or(1);
        let mut partitions = td.partitions.clone();
        partitions.sort_by_key(|p| p.partition);
        if !args.reports() && (!args.topics_with_overrides || !overrides.is_empty()) {
            let mut line = format!("Topic: {topic}");
            if let Some(id) = topic_id_string(td) {
                line.push_str(&format!("\tTopicId: {id}"));
            }
            let rf = partitions.first().map_or(0, |p| p.replicas.len());
            line.push_str(&format!(
                "\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: {}",
                partitions.len(),
                overrides.join(",")
            ));
            outln!("{line}");
        }
        if args.topics_with_overrides {
            continue;
        }
        for p in &partitions {
            let leader = (p.leader >= 0).then_some(p.leader);
            let show = !args.reports()
                || (args.under_replicated_partitions && p.replicas.len() > p.isr.len())
                || (args.unavailable_partitions && leader.is_none_or(|l| !live.contains(&l)))
                || (args.under_min_isr_partitions && (leader.is_none() || p.isr.len() < min_isr))
                || (args.at_min_isr_partitions && p.isr.len() == min_isr);
            if show {
                outln!(
                    "\tTopic: {topic}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}\tElr: \tLastKnownElr: ",
                    p.partition,
                    leader.map_or("none".to_string(), |l| l.to_string()),
                    join_ids(&p.replicas),
                    join_ids(&p.isr)
                );
            }
        }
    }
    Ok(())
}

/// The topic id as Kafka prints it, `None` for the zero id.
fn topic_id_string(td: &TopicMetadata) -> Option<String> {
    let bytes = *td.topic_id.as_bytes();
    (bytes != [0u8; 16]).then(|| common::kafka_uuid(&bytes))
}
