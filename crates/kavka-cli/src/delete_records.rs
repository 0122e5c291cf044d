//! `kavka delete-records` (kafka-delete-records.sh): moves the log start offset of partitions
//! up to the offsets of Kafka's JSON file `{"partitions":[{"topic":..,"partition":..,
//! "offset":..}],"version":1}` (offset -1: the high watermark).

use kavka_client::Admin;
use serde_json::Value;

use crate::common;
use crate::ToolError;

/// Command-line flags of kafka-delete-records.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// REQUIRED: The server to connect to.
    #[arg(
        long = "bootstrap-server",
        value_name = "server(s) to use for bootstrapping"
    )]
    bootstrap_server: Option<String>,
    /// REQUIRED: The JSON file with offset per partition. The format to use is:
    /// {"partitions": [{"topic": "foo", "partition": 1, "offset": 1}], "version":1}
    #[arg(long = "offset-json-file", value_name = "Offset json file path")]
    offset_json_file: Option<String>,
    /// A property file containing configs to be passed to Admin Client.
    #[arg(
        long = "command-config",
        value_name = "command config property file path"
    )]
    command_config: Option<String>,
}

/// Parses the offset JSON file (version 1, the only one).
fn parse_offsets(text: &str) -> Result<Vec<(String, i32, i64)>, ToolError> {
    let js: Value = serde_json::from_str(text)
        .map_err(|_| ToolError::failed("The input string is not a valid JSON"))?;
    let version = js.get("version").map_or(Some(1), Value::as_i64);
    if version != Some(1) {
        return Err(ToolError::failed(format!(
            "Not supported version field value {}",
            js.get("version").map(Value::to_string).unwrap_or_default()
        )));
    }
    let partitions = js
        .get("partitions")
        .and_then(Value::as_array)
        .ok_or_else(|| ToolError::failed("Missing partitions field"))?;
    let mut out: Vec<(String, i32, i64)> = Vec::new();
    for p in partitions {
        let topic = p.get("topic").and_then(Value::as_str);
        let partition = p.get("partition").and_then(Value::as_i64);
        let offset = p.get("offset").and_then(Value::as_i64);
        let (Some(topic), Some(partition), Some(offset)) = (topic, partition, offset) else {
            return Err(ToolError::failed(format!(
                "Invalid partition entry (needs topic, partition and offset): {p}"
            )));
        };
        out.push((topic.to_string(), partition as i32, offset));
    }
    let mut duplicates: Vec<String> = out
        .iter()
        .enumerate()
        .filter(|(i, (t, p, _))| out[..*i].iter().any(|(t2, p2, _)| t2 == t && p2 == p))
        .map(|(_, (t, p, _))| format!("{t}-{p}"))
        .collect();
    duplicates.dedup();
    if !duplicates.is_empty() {
        return Err(ToolError::failed(format!(
            "Offset json file contains duplicate topic partitions: {}",
            duplicates.join(",")
        )));
    }
    Ok(out)
}

/// Runs kafka-delete-records.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let Some(file) = &args.offset_json_file else {
        return Err(ToolError::usage(
            "Missing required argument \"[offset-json-file]\"",
        ));
    };
    if args.bootstrap_server.is_none() {
        return Err(ToolError::usage(
            "Missing required argument \"[bootstrap-server]\"",
        ));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| ToolError::failed(format!("cannot read {file}: {e}")))?;
    let offsets = parse_offsets(&text)?;
    let props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    let client = common::connect(&props, "kavka-delete-records").await?;
    let admin = Admin::new(client);
    outln!("Executing records delete operation");
    let mut results = admin.delete_records(&offsets).await?;
    outln!("Records delete operation completed:");
    results.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    for r in results {
        match &r.result {
            Ok(low_watermark) => outln!(
                "partition: {}-{}\tlow_watermark: {low_watermark}",
                r.topic,
                r.partition
            ),
            Err(e) => outln!("partition: {}-{}\terror: {e}", r.topic, r.partition),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kafkas_offset_json() {
        let v = parse_offsets(
            r#"{"partitions":[{"topic":"a","partition":0,"offset":3},{"topic":"a","partition":1,"offset":-1}],"version":1}"#,
        )
        .unwrap();
        assert_eq!(v, vec![("a".into(), 0, 3), ("a".into(), 1, -1)]);
        assert!(parse_offsets("nope").is_err());
        assert!(parse_offsets(r#"{"version":1}"#).is_err());
        assert!(parse_offsets(
            r#"{"partitions":[{"topic":"a","partition":0,"offset":3},{"topic":"a","partition":0,"offset":4}]}"#
        )
        .is_err());
    }
}
