//! `kavka configs` (kafka-configs.sh): describe and alter topic and broker configs with
//! DescribeConfigs and IncrementalAlterConfigs, in Kafka's output layout.

use kavka_client::{Admin, AlterConfigOp, AlterOpType, ConfigEntry, ConfigResource, ConfigSource};

use crate::common;
use crate::ToolError;

/// Command-line flags of kafka-configs.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// The Kafka servers to connect to.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    bootstrap_server: Option<String>,
    /// The Kafka controllers to connect to (not supported: use --bootstrap-server).
    #[arg(long = "bootstrap-controller", value_name = "controller to connect to")]
    bootstrap_controller: Option<String>,
    /// Property file containing configs to be passed to Admin Client.
    #[arg(long = "command-config", value_name = "command config property file")]
    command_config: Option<String>,
    /// Alter the configuration for the entity.
    #[arg(long)]
    alter: bool,
    /// List configs for the given entity.
    #[arg(long)]
    describe: bool,
    /// List all configs for the given entity, including static and default ones.
    #[arg(long)]
    all: bool,
    /// Type of entity (topics/brokers); repeatable.
    #[arg(long = "entity-type", value_name = "String")]
    entity_type: Vec<String>,
    /// Name of entity (topic name/broker id); repeatable.
    #[arg(long = "entity-name", value_name = "String")]
    entity_name: Vec<String>,
    /// Default entity name for brokers (applies to the whole cluster).
    #[arg(long = "entity-default")]
    entity_default: bool,
    /// Key Value pairs of configs to add. Square brackets can be used to group values which
    /// contain commas: 'k1=v1,k2=[v1,v2,v2],k3=v3'.
    #[arg(long = "add-config", value_name = "String")]
    add_config: Option<String>,
    /// Path to a properties file with configs to add.
    #[arg(long = "add-config-file", value_name = "String")]
    add_config_file: Option<String>,
    /// Config keys to remove: 'k1,k2' (repeatable).
    #[arg(long = "delete-config", value_name = "String", value_delimiter = ',')]
    delete_config: Vec<String>,
    /// The topic's name (shortcut for --entity-type topics --entity-name).
    #[arg(long, value_name = "String")]
    topic: Option<String>,
    /// The broker's id (shortcut for --entity-type brokers --entity-name).
    #[arg(long, value_name = "String")]
    broker: Option<String>,
    /// The config for all brokers in the cluster (shortcut for --entity-type brokers
    /// --entity-default).
    #[arg(long = "broker-defaults")]
    broker_defaults: bool,
    /// Not supported by kavka (client quotas).
    #[arg(long, value_name = "String")]
    client: Option<String>,
    /// Not supported by kavka (user quotas and credentials).
    #[arg(long, value_name = "String")]
    user: Option<String>,
    /// Not supported by kavka (group configs).
    #[arg(long, value_name = "String")]
    group: Option<String>,
}

/// The entity a command works on: (entity type, name); `""` names the cluster default.
fn entity(args: &Args) -> Result<(String, Option<String>), ToolError> {
    if args.client.is_some() || args.user.is_some() || args.group.is_some() {
        return Err(ToolError::usage(
            "only topics and brokers configs are supported by kavka",
        ));
    }
    let mut types: Vec<String> = args.entity_type.clone();
    let mut names: Vec<String> = args.entity_name.clone();
    if let Some(t) = &args.topic {
        types.push("topics".into());
        names.push(t.clone());
    }
    if let Some(b) = &args.broker {
        types.push("brokers".into());
        names.push(b.clone());
    }
    if args.broker_defaults {
        types.push("brokers".into());
        names.push(String::new());
    }
    if args.entity_default {
        names.push(String::new());
    }
    match types.as_slice() {
        [] => Err(ToolError::usage(
            "At least one entity type must be specified",
        )),
        [t] if t == "topics" || t == "brokers" => {
            if names.len() > 1 {
                return Err(ToolError::usage(
                    "Only one entity name may be specified for topics and brokers",
                ));
            }
            let name = names.pop();
            if t == "topics" && name.as_deref() == Some("") {
                return Err(ToolError::usage(
                    "--entity-default is only valid with --entity-type brokers",
                ));
            }
            if t == "brokers" {
                if let Some(n) = name.as_deref().filter(|n| !n.is_empty()) {
                    if n.parse::<i32>().is_err() {
                        return Err(ToolError::usage(format!(
                            "The entity name for brokers must be a valid integer broker id, found: {n}"
                        )));
                    }
                }
            }
            Ok((t.clone(), name))
        }
        [t] if [
            "users",
            "clients",
            "ips",
            "broker-loggers",
            "client-metrics",
            "groups",
        ]
        .contains(&t.as_str()) =>
        {
            Err(ToolError::usage(format!(
                "entity type '{t}' is not supported by kavka yet (topics and brokers are)"
            )))
        }
        [t] => Err(ToolError::usage(format!(
            "Invalid entity type {t}, the entity type must be one of topics, brokers"
        ))),
        _ => Err(ToolError::usage(
            "Only one entity type may be specified for topics and brokers",
        )),
    }
}

fn resource(entity_type: &str, name: &str) -> ConfigResource {
    if entity_type == "topics" {
        ConfigResource::Topic(name.to_string())
    } else {
        ConfigResource::Broker(name.to_string())
    }
}

/// Runs kafka-configs.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    if usize::from(args.alter) + usize::from(args.describe) != 1 {
        return Err(ToolError::usage(
            "Command must include exactly one action: --describe, --alter",
        ));
    }
    if args.bootstrap_controller.is_some() && args.bootstrap_server.is_none() {
        return Err(ToolError::usage(
            "--bootstrap-controller is not supported by kavka: use --bootstrap-server",
        ));
    }
    let (entity_type, name) = entity(&args)?;
    if args.alter {
        if name.is_none() {
            return Err(ToolError::usage(format!(
                "--entity-name or --entity-default must be specified with --alter of {entity_type}"
            )));
        }
        if args.add_config.is_none()
            && args.add_config_file.is_none()
            && args.delete_config.is_empty()
        {
            return Err(ToolError::usage(
                "At least one of --add-config, --add-config-file, or --delete-config must be specified with --alter",
            ));
        }
    }
    let props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    let client = common::connect(&props, "kavka-configs").await?;
    let admin = Admin::new(client);
    if args.alter {
        alter(&admin, &args, &entity_type, &name.unwrap_or_default()).await
    } else {
        describe(&admin, &args, &entity_type, name).await
    }
}

/// Kafka's `--add-config` parsing: split at commas outside `[...]`, each `key=value` with the
/// brackets removed from the value.
fn parse_add_config(text: &str) -> Result<Vec<(String, String)>, ToolError> {
    let mut pairs = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    let mut items = Vec::new();
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ',' if depth <= 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    for item in items {
        let split = item.split_once('=').filter(|(k, v)| {
            !k.trim().is_empty() && (!v.contains('=') || v.trim_start().starts_with('['))
        });
        let Some((key, value)) = split else {
            return Err(ToolError::usage("Invalid entity config: all configs to be added must be in the format \"key=val\" or  \"key=[val1,val2]\" to group values which contain commas."));
        };
        let value: String = value.chars().filter(|c| *c != '[' && *c != ']').collect();
        pairs.push((key.trim().to_string(), value.trim().to_string()));
    }
    for (key, _) in &pairs {
        let ok = key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "$._-".contains(c));
        if !ok {
            return Err(ToolError::usage(format!(
                "Invalid character found for config key: {key}"
            )));
        }
    }
    Ok(pairs)
}

/// The source a config must come from to show up without `--all`.
fn dynamic_source(entity_type: &str, name: &str) -> ConfigSource {
    if entity_type == "topics" {
        ConfigSource::DYNAMIC_TOPIC_CONFIG
    } else if name.is_empty() {
        ConfigSource::DYNAMIC_DEFAULT_BROKER_CONFIG
    } else {
        ConfigSource::DYNAMIC_BROKER_CONFIG
    }
}

async fn entries(
    admin: &Admin,
    entity_type: &str,
    name: &str,
    synonyms: bool,
    all: bool,
) -> Result<Vec<ConfigEntry>, ToolError> {
    let wanted = dynamic_source(entity_type, name);
    let mut entries = admin
        .describe_configs(&resource(entity_type, name), synonyms)
        .await?;
    entries.retain(|e| all || e.source == wanted);
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

async fn alter(admin: &Admin, args: &Args, entity_type: &str, name: &str) -> Result<(), ToolError> {
    let mut to_add = Vec::new();
    if let Some(file) = &args.add_config_file {
        to_add.extend(common::load_properties(file)?);
    }
    if let Some(text) = &args.add_config {
        to_add.extend(parse_add_config(text)?);
    }
    let to_delete: Vec<String> = args
        .delete_config
        .iter()
        .map(|k| k.trim().to_string())
        .collect();
    let current = entries(admin, entity_type, name, false, false).await?;
    let invalid: Vec<&str> = to_delete
        .iter()
        .filter(|k| !current.iter().any(|e| &e.name == *k))
        .map(String::as_str)
        .collect();
    if !invalid.is_empty() {
        return Err(ToolError::failed(format!(
            "Invalid config(s): {}",
            invalid.join(",")
        )));
    }
    let mut ops: Vec<AlterConfigOp> = to_delete
        .into_iter()
        .map(|k| AlterConfigOp {
            name: k,
            value: None,
            op: AlterOpType::Delete,
        })
        .collect();
    ops.extend(to_add.into_iter().map(|(k, v)| AlterConfigOp {
        name: k,
        value: Some(v),
        op: AlterOpType::Set,
    }));
    admin
        .incremental_alter_configs(&resource(entity_type, name), &ops)
        .await?;
    let singular = entity_type.trim_end_matches('s');
    if name.is_empty() {
        outln!("Completed updating default config for {entity_type} in the cluster.");
    } else {
        outln!("Completed updating config for {singular} {name}.");
    }
    Ok(())
}

async fn describe(
    admin: &Admin,
    args: &Args,
    entity_type: &str,
    name: Option<String>,
) -> Result<(), ToolError> {
    let singular = entity_type.trim_end_matches('s');
    let names: Vec<String> = match name {
        Some(n) => {
            let exists = if entity_type == "topics" {
                admin.list_topics(true).await?.contains(&n)
            } else {
                n.is_empty()
                    || crate::common::broker_ids(admin)
                        .await?
                        .iter()
                        .any(|id| id.to_string() == n)
            };
            if !exists && !args.all {
                outln!("The {singular} '{n}' doesn't exist and doesn't have dynamic config.");
                return Ok(());
            }
            vec![n]
        }
        None if entity_type == "topics" => admin.list_topics(true).await?,
        None => {
            let mut ids: Vec<String> = crate::common::broker_ids(admin)
                .await?
                .iter()
                .map(i32::to_string)
                .collect();
            ids.push(String::new());
            ids
        }
    };
    for n in names {
        if n.is_empty() {
            outln!("Default configs for {entity_type} in the cluster are:");
        } else {
            let which = if args.all { "All" } else { "Dynamic" };
            outln!("{which} configs for {singular} {n} are:");
        }
        for e in entries(admin, entity_type, &n, true, args.all).await? {
            let synonyms: Vec<String> = e
                .synonyms
                .iter()
                .map(|(name, value, source)| {
                    format!("{source}:{name}={}", value.as_deref().unwrap_or("null"))
                })
                .collect();
            outln!(
                "  {}={} sensitive={} synonyms={{{}}}",
                e.name,
                e.value.as_deref().unwrap_or("null"),
                e.sensitive,
                synonyms.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_config_keeps_bracketed_commas() {
        let p =
            parse_add_config("retention.ms=1000,cleanup.policy=[compact,delete], a = b").unwrap();
        assert_eq!(
            p,
            vec![
                ("retention.ms".to_string(), "1000".to_string()),
                ("cleanup.policy".to_string(), "compact,delete".to_string()),
                ("a".to_string(), "b".to_string()),
            ]
        );
        assert!(parse_add_config("novalue").is_err());
        assert!(parse_add_config("bad key=1").is_err());
    }
}
