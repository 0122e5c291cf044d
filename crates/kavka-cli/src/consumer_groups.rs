//! `kavka consumer-groups` (kafka-consumer-groups.sh): list, describe (offsets, members,
//! state), delete groups and their offsets, with Kafka's flags and tables. Describing lives in
//! `consumer_groups_describe`, resetting offsets in `consumer_groups_reset`.

use kavka_client::Admin;

use crate::common;
use crate::consumer_groups_describe::describe;
use crate::consumer_groups_reset;
use crate::ToolError;

/// Command-line flags of kafka-consumer-groups.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// REQUIRED: The server(s) to connect to.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    pub(crate) bootstrap_server: Option<String>,
    /// Property file containing configs to be passed to Admin Client.
    #[arg(long = "command-config", value_name = "command config property file")]
    pub(crate) command_config: Option<String>,
    /// The consumer group we wish to act on (repeatable).
    #[arg(long, value_name = "consumer group")]
    pub(crate) group: Vec<String>,
    /// Apply to all consumer groups.
    #[arg(long = "all-groups")]
    pub(crate) all_groups: bool,
    /// The topic whose consumer group information should be deleted or topic that should be
    /// included in the reset offset process: 'topicName:0,1,2' for partitions (repeatable).
    #[arg(long, value_name = "topic")]
    pub(crate) topic: Vec<String>,
    /// Consider all topics assigned to a group in the reset-offsets process.
    #[arg(long = "all-topics")]
    pub(crate) all_topics: bool,
    /// List all consumer groups.
    #[arg(long)]
    pub(crate) list: bool,
    /// Describe consumer group and list offset lag (number of messages not yet processed)
    /// related to given group.
    #[arg(long)]
    pub(crate) describe: bool,
    /// Pass in groups to delete topic partition offsets and ownership information over the
    /// entire consumer group.
    #[arg(long)]
    pub(crate) delete: bool,
    /// Delete offsets of consumer group. Supports one consumer group at the time, and multiple
    /// topics.
    #[arg(long = "delete-offsets")]
    pub(crate) delete_offsets: bool,
    /// Reset offsets of consumer group. Supports one consumer group at the time, and instances
    /// should be inactive.
    #[arg(long = "reset-offsets")]
    pub(crate) reset_offsets: bool,
    /// The timeout that can be set for some use cases (ms).
    #[arg(long, value_name = "Long: timeout (ms)", default_value_t = 5000)]
    pub(crate) timeout: u64,
    /// Only show results without executing changes on Consumer Groups (the default).
    #[arg(long = "dry-run")]
    pub(crate) dry_run: bool,
    /// Execute operation.
    #[arg(long)]
    pub(crate) execute: bool,
    /// Export operation execution to a CSV file.
    #[arg(long)]
    pub(crate) export: bool,
    /// Reset offsets to a specific offset.
    #[arg(
        long = "to-offset",
        value_name = "Long: offset",
        allow_negative_numbers = true
    )]
    pub(crate) to_offset: Option<i64>,
    /// Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'.
    #[arg(long = "to-datetime", value_name = "datetime")]
    pub(crate) to_datetime: Option<String>,
    /// Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'.
    #[arg(long = "by-duration", value_name = "duration")]
    pub(crate) by_duration: Option<String>,
    /// Reset offsets to values defined in a CSV file.
    #[arg(long = "from-file", value_name = "path to CSV file")]
    pub(crate) from_file: Option<String>,
    /// Reset offsets to current offset.
    #[arg(long = "to-current")]
    pub(crate) to_current: bool,
    /// Reset offsets shifting current offset by 'n', where 'n' can be positive or negative.
    #[arg(
        long = "shift-by",
        value_name = "Long: number-of-offsets",
        allow_negative_numbers = true
    )]
    pub(crate) shift_by: Option<i64>,
    /// Reset offsets to earliest offset.
    #[arg(long = "to-earliest")]
    pub(crate) to_earliest: bool,
    /// Reset offsets to latest offset.
    #[arg(long = "to-latest")]
    pub(crate) to_latest: bool,
    /// Describe members of the group.
    #[arg(long)]
    pub(crate) members: bool,
    /// Provide additional information, if any, when describing the group.
    #[arg(long)]
    pub(crate) verbose: bool,
    /// Describe the group and list all topic partitions in the group along with their offset
    /// lag (the default).
    #[arg(long)]
    pub(crate) offsets: bool,
    /// When specified with '--describe', includes the state of the group. When specified with
    /// '--list', it displays the state of all groups, optionally filtered ('Stable,Empty').
    #[arg(long, value_name = "String", num_args = 0..=1, default_missing_value = "")]
    pub(crate) state: Option<String>,
    /// When specified with '--list', displays the types of all groups (classic, consumer).
    #[arg(long = "type", value_name = "String", num_args = 0..=1, default_missing_value = "")]
    pub(crate) group_type: Option<String>,
}

const STATES: &[&str] = &[
    "Unknown",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
    "Empty",
    "Assigning",
    "Reconciling",
];

impl Args {
    fn check(&self) -> Result<(), ToolError> {
        let actions = [
            self.list,
            self.describe,
            self.delete,
            self.reset_offsets,
            self.delete_offsets,
        ];
        if actions.iter().filter(|a| **a).count() != 1 {
            return Err(ToolError::usage("Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets"));
        }
        if self.bootstrap_server.is_none() {
            return Err(ToolError::usage(
                "Missing required argument \"[bootstrap-server]\"",
            ));
        }
        let needs_groups = self.describe || self.delete || self.reset_offsets;
        if needs_groups && self.group.is_empty() && !self.all_groups {
            let action = if self.describe {
                "describe"
            } else if self.delete {
                "delete"
            } else {
                "reset-offsets"
            };
            return Err(ToolError::usage(format!(
                "Option [{action}] takes one of these options: [all-groups], [group]"
            )));
        }
        if self.describe
            && [self.members, self.offsets, self.state.is_some()]
                .iter()
                .filter(|a| **a)
                .count()
                > 1
        {
            return Err(ToolError::usage("Option [describe] takes at most one of these options: [members], [offsets], [state]"));
        }
        if self.delete_offsets && (self.group.len() != 1 || self.topic.is_empty()) {
            return Err(ToolError::usage(
                "Option [delete-offsets] takes the following options: [group], [topic]",
            ));
        }
        if self.reset_offsets {
            if self.dry_run && self.execute {
                return Err(ToolError::usage(
                    "Option [reset-offsets] only accepts one of [execute] and [dry-run]",
                ));
            }
            if self.all_topics && !self.topic.is_empty() {
                return Err(ToolError::usage(
                    "Option [reset-offsets] takes one of these options: [all-topics], [topic]",
                ));
            }
        }
        Ok(())
    }
}

/// Runs kafka-consumer-groups.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    args.check()?;
    let mut overrides = common::Props::new();
    overrides.insert("request.timeout.ms".into(), args.timeout.to_string());
    let mut props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    for (k, v) in overrides {
        props.entry(k).or_insert(v);
    }
    let client = common::connect(&props, "kavka-consumer-groups").await?;
    let admin = Admin::new(client);
    if args.list {
        list(&admin, &args).await
    } else if args.describe {
        describe(&admin, &args).await
    } else if args.delete {
        delete(&admin, &args).await
    } else if args.reset_offsets {
        consumer_groups_reset::run(&admin, &args).await
    } else {
        delete_offsets(&admin, &args).await
    }
}

/// Kafka's "Error: ..." line (stdout, after a blank line).
pub(crate) fn print_error(message: &str) {
    outln!("\nError: {message}");
}

/// Consumer groups (protocol type `consumer` or none), optionally in given states.
pub(crate) async fn group_ids(admin: &Admin) -> Result<Vec<String>, ToolError> {
    Ok(admin
        .list_groups(&[])
        .await?
        .into_iter()
        .filter(|g| g.protocol_type.is_empty() || g.protocol_type == "consumer")
        .map(|g| g.group_id)
        .collect())
}

pub(crate) async fn groups(admin: &Admin, args: &Args) -> Result<Vec<String>, ToolError> {
    if args.all_groups {
        group_ids(admin).await
    } else {
        Ok(args.group.clone())
    }
}

fn parse_states(input: &str) -> Result<Vec<String>, ToolError> {
    input
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            STATES
                .iter()
                .find(|k| k.eq_ignore_ascii_case(s) && **k != "Unknown")
                .map(|k| k.to_string())
                .ok_or_else(|| {
                    ToolError::usage(format!(
                        "Invalid state list '{input}'. Valid states are: {}",
                        STATES[1..].join(", ")
                    ))
                })
        })
        .collect()
}

async fn list(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    if args.state.is_none() && args.group_type.is_none() {
        for g in group_ids(admin).await? {
            outln!("{g}");
        }
        return Ok(());
    }
    let states = parse_states(args.state.as_deref().unwrap_or(""))?;
    let mut listings: Vec<_> = admin
        .list_groups(&states)
        .await?
        .into_iter()
        .filter(|g| g.protocol_type.is_empty() || g.protocol_type == "consumer")
        .filter(|g| states.is_empty() || g.state.as_ref().is_some_and(|s| states.contains(s)))
        .collect();
    listings.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    let width = listings
        .iter()
        .map(|g| g.group_id.len().max(15))
        .max()
        .unwrap_or(15)
        + 10;
    let mut header = format!("{:<width$}", "GROUP");
    if args.group_type.is_some() {
        header.push_str(&format!(" {:<20}", "TYPE"));
    }
    if args.state.is_some() {
        header.push_str(&format!(" {:<20}", "STATE"));
    }
    outln!("{header}");
    for g in listings {
        let mut line = format!("{:<width$}", g.group_id);
        if args.group_type.is_some() {
            let t = match g.group_type.as_deref() {
                None | Some("") | Some("classic") => "Classic",
                Some("consumer") => "Consumer",
                Some(other) => other,
            };
            line.push_str(&format!(" {t:<20}"));
        }
        if args.state.is_some() {
            line.push_str(&format!(" {:<20}", g.state.as_deref().unwrap_or("Unknown")));
        }
        outln!("{line}");
    }
    Ok(())
}

async fn delete(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let ids = groups(admin, args).await?;
    let results = admin.delete_groups(&ids).await?;
    let ok: Vec<String> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(g, _)| format!("'{g}'"))
        .collect();
    let failed: Vec<(&String, String)> = results
        .iter()
        .filter_map(|(g, r)| r.as_ref().err().map(|e| (g, e.to_string())))
        .collect();
    if failed.is_empty() {
        outln!(
            "Deletion of requested consumer groups ({}) was successful.",
            ok.join(", ")
        );
        return Ok(());
    }
    print_error("Deletion of some consumer groups failed:");
    for (g, e) in &failed {
        outln!("* Group '{g}' could not be deleted due to: {e}");
    }
    if !ok.is_empty() {
        outln!(
            "\nThese consumer groups were deleted successfully: {}",
            ok.join(", ")
        );
    }
    Err(ToolError::failed(format!(
        "{} consumer group(s) could not be deleted",
        failed.len()
    )))
}

/// `topic` or `topic:0,1,2` arguments as partitions (all of a topic's when none are named).
pub(crate) async fn topic_partitions(
    admin: &Admin,
    topics: &[String],
) -> Result<Vec<(String, i32)>, ToolError> {
    let mut out = Vec::new();
    let mut whole = Vec::new();
    for arg in topics {
        match arg.split_once(':') {
            Some((t, ps)) => {
                for p in ps.split(',') {
                    let p = p.trim().parse::<i32>().map_err(|_| {
                        ToolError::usage(format!(
                            "Invalid partition '{p}' specified in topic arg '{arg}''"
                        ))
                    })?;
                    out.push((t.to_string(), p));
                }
            }
            None => whole.push(arg.clone()),
        }
    }
    if !whole.is_empty() {
        for td in admin.describe_topics(&whole).await? {
            if let Some(e) = td.error {
                return Err(ToolError::failed(format!("{e}")));
            }
            out.extend(td.partitions.iter().map(|p| (td.name.clone(), p.partition)));
        }
    }
    Ok(out)
}

async fn delete_offsets(admin: &Admin, args: &Args) -> Result<(), ToolError> {
    let group = &args.group[0];
    let mut partitions = topic_partitions(admin, &args.topic).await?;
    partitions.sort();
    let results = admin.delete_group_offsets(group, &partitions).await;
    let topics = args.topic.join(", ");
    let (mut rows, top): (Vec<(String, i32, String)>, Option<String>) = match results {
        Ok(per_partition) => (
            per_partition
                .into_iter()
                .map(|((t, p), r)| {
                    (
                        t,
                        p,
                        r.map_or_else(|e| format!("Error: :{e}"), |_| "Successful".to_string()),
                    )
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    match &top {
        None => outln!("Request succeed for deleting offsets with topic {topics} group {group}"),
        Some(e) => print_error(&format!("Encounter some unknown error: {e}")),
    }
    rows.sort_by_key(|r| format!("{}{}", r.0, r.1));
    outln!("\n{:<30} {:<15} {:<15}", "TOPIC", "PARTITION", "STATUS");
    for (t, p, status) in rows {
        outln!("{t:<30} {p:<15} {status:<15}");
    }
    match top {
        Some(e) => Err(ToolError::failed(e)),
        None => Ok(()),
    }
}
