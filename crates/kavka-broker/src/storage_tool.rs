//! `kavka storage` (Kafka's `kafka-storage.sh`): formats the data directories of a node before
//! its first start, and reports what they hold. Offline: reads the node's configuration and
//! its `meta.properties` files, never a running broker.
//!
//! A bare `kavka server` still formats empty directories itself (a one-node cluster with a
//! fresh id); formatting first is how several nodes are given one cluster id.

use kavka_metadata::{
    kafka_uuid_from_str, kafka_uuid_to_string, random_kafka_uuid, MetaProperties,
};

use crate::config::BrokerConfig;

/// A new cluster id: a random UUID in Kafka's 22-character base64url form.
pub fn random_uuid() -> String {
    kafka_uuid_to_string(&random_kafka_uuid())
}

/// How to format.
#[derive(Debug, Clone, Default)]
pub struct FormatOptions {
    /// `--cluster-id` / `-t`.
    pub cluster_id: String,
    /// `--ignore-formatted` / `-g`: skip directories already formatted instead of failing.
    pub ignore_formatted: bool,
}

/// Formats every `log.dirs` entry not yet formatted; returns the lines to print. Fails, with
/// Kafka's message and nothing written, on an invalid cluster id or (without
/// `ignore_formatted`) a directory already formatted.
pub fn format(config: &BrokerConfig, options: &FormatOptions) -> Result<Vec<String>, String> {
    if kafka_uuid_from_str(&options.cluster_id).is_none() {
        return Err(format!(
            "Cluster ID string {} does not appear to be a valid UUID: expected 22 characters of base64url",
            options.cluster_id
        ));
    }
    let mut todo = Vec::new();
    for dir in &config.log_dirs {
        match MetaProperties::load(dir).map_err(|e| e.to_string())? {
            Some(_) if options.ignore_formatted => {}
            Some(_) => {
                return Err(format!(
                    "Log directory {} is already formatted. Use --ignore-formatted to ignore this directory and format the others.",
                    dir.display()
                ))
            }
            None => todo.push(dir),
        }
    }
    if todo.is_empty() {
        return Ok(vec![
            "All of the log directories are already formatted.".to_string()
        ]);
    }
    let mut lines = Vec::new();
    for dir in todo {
        let props = MetaProperties {
            cluster_id: options.cluster_id.clone(),
            ..MetaProperties::generate(config.node_id)
        };
        props.write(dir).map_err(|e| e.to_string())?;
        // A directory with no logs yet is clean: the first start has nothing to recover.
        let marker = dir.join(crate::log_manager::CLEAN_SHUTDOWN_MARKER);
        std::fs::write(&marker, b"").map_err(|e| format!("{}: {e}", marker.display()))?;
        let kind = if Some(dir) == config.log_dirs.first() {
            "metadata"
        } else {
            "data"
        };
        lines.push(format!("Formatting {kind} directory {}", dir.display()));
    }
    Ok(lines)
}

/// Kafka's `info` report of the directories; `Err` carries the report when it found problems
/// (the tool then exits non-zero).
pub fn info(config: &BrokerConfig) -> Result<String, String> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut metadata: Option<MetaProperties> = None;
    for dir in &config.log_dirs {
        if !dir.exists() {
            problems.push(format!("{} does not exist", dir.display()));
            continue;
        }
        match MetaProperties::load(dir) {
            Ok(Some(p)) => {
                found.push(dir.display().to_string());
                match &metadata {
                    Some(m) if m.cluster_id != p.cluster_id || m.node_id != p.node_id => problems
                        .push(format!(
                            "{} has cluster.id {} and node.id {}, unlike the other directories",
                            dir.display(),
                            p.cluster_id,
                            p.node_id
                        )),
                    Some(_) => {}
                    None => metadata = Some(p),
                }
            }
            Ok(None) => {
                found.push(dir.display().to_string());
                problems.push(format!("{} is not formatted.", dir.display()));
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    let mut out = String::new();
    let plural = if found.len() == 1 { "y" } else { "ies" };
    out.push_str(&format!("Found log director{plural}:\n"));
    for f in &found {
        out.push_str(&format!("  {f}\n"));
    }
    out.push('\n');
    if let Some(m) = &metadata {
        let dir_id = m
            .directory_id
            .map(|d| format!("directory.id={}, ", kafka_uuid_to_string(&d)))
            .unwrap_or_default();
        out.push_str(&format!(
            "Found metadata: {{cluster.id={}, {dir_id}node.id={}, version={}}}\n\n",
            m.cluster_id, m.node_id, m.version
        ));
    }
    if problems.is_empty() {
        return Ok(out);
    }
    let plural = if problems.len() == 1 { "" } else { "s" };
    out.push_str(&format!("Found problem{plural}:\n"));
    for p in &problems {
        out.push_str(&format!("  {p}\n"));
    }
    Err(out)
}
