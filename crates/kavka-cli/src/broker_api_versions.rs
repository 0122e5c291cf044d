//! `kavka broker-api-versions` (kafka-broker-api-versions.sh): the ApiVersions answer of every
//! broker, in the layout of Kafka's `NodeApiVersions.toString(true)`.

use kavka_protocol::api::{codec_versions, ApiKey};

use crate::common;
use crate::ToolError;

/// Command-line flags of kafka-broker-api-versions.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// REQUIRED: The server to connect to.
    #[arg(
        long = "bootstrap-server",
        value_name = "server(s) to use for bootstrapping"
    )]
    bootstrap_server: Option<String>,
    /// A property file containing configs to be passed to Admin Client.
    #[arg(long = "command-config", value_name = "command config property file")]
    command_config: Option<String>,
}

/// APIs a broker never serves to clients (controller-only and inter-controller), left out of
/// the listing as Kafka's `ApiKeys.clientApis()` leaves them out.
const NOT_CLIENT_APIS: &[i16] = &[52, 53, 54, 56, 58, 59, 62, 63, 67, 70, 73, 82];

/// Runs kafka-broker-api-versions.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    let client = common::connect(&props, "kavka-broker-api-versions").await?;
    let metadata = client.metadata(Some(&[])).await?;
    let mut brokers = metadata.brokers.clone();
    brokers.sort_by_key(|b| b.node_id);
    for broker in brokers {
        let node = format!(
            "{}:{} (id: {} rack: {} isFenced: false)",
            broker.host,
            broker.port,
            broker.node_id,
            broker.rack.as_deref().unwrap_or("null")
        );
        match client.api_versions(broker.node_id).await {
            Ok(ranges) => outln!("{node} -> {}", listing(&ranges)),
            Err(e) => outln!("{node} -> ERROR: {e}"),
        }
    }
    Ok(())
}

/// `(\n\tProduce(0): 3 to 13 [usable: 13],\n\t...\n)`.
fn listing(ranges: &[kavka_client::ApiVersionRange]) -> String {
    let mut lines: Vec<(i16, String)> = ranges
        .iter()
        .map(|r| {
            let versions = if r.min == r.max {
                r.min.to_string()
            } else {
                format!("{} to {}", r.min, r.max)
            };
            let usable = match ApiKey::try_from(r.api_key) {
                Ok(api) => {
                    let (client_min, client_max) = codec_versions(api);
                    match r.usable() {
                        Some(v) => format!("[usable: {v}]"),
                        None if r.max < client_min => "[unusable: node too old]".to_string(),
                        None if r.min > client_max => "[unusable: node too new]".to_string(),
                        None => "[unusable]".to_string(),
                    }
                }
                Err(()) => String::new(),
            };
            let name = match ApiKey::try_from(r.api_key) {
                Ok(_) => r.name.clone(),
                Err(()) => "UNKNOWN".to_string(),
            };
            (
                r.api_key,
                format!("{name}({}): {versions} {usable}", r.api_key)
                    .trim_end()
                    .to_string(),
            )
        })
        .collect();
    for api in ApiKey::iter() {
        let key = api as i16;
        if NOT_CLIENT_APIS.contains(&key) || lines.iter().any(|(k, _)| *k == key) {
            continue;
        }
        lines.push((key, format!("{api:?}({key}): UNSUPPORTED")));
    }
    lines.sort_by_key(|(k, _)| *k);
    let body: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
    format!("(\n\t{}\n)", body.join(",\n\t"))
}
