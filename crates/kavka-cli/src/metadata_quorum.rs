//! `kavka metadata-quorum` (kafka-metadata-quorum.sh): `describe --status` and
//! `describe --replication` of the metadata quorum, in Kafka's layouts.

use kavka_client::admin::QuorumReplica;
use kavka_client::Admin;

use crate::common;
use crate::transactions::print_table;
use crate::ToolError;

/// Command-line flags of kafka-metadata-quorum.sh.
#[derive(Debug, clap::Args)]
#[command(infer_long_args = true)]
pub struct Args {
    /// A comma-separated list of host:port pairs to use for establishing the connection to the
    /// Kafka cluster.
    #[arg(long = "bootstrap-server", value_name = "host:port")]
    bootstrap_server: Option<String>,
    /// Property file containing configs to be passed to Admin Client.
    #[arg(long = "command-config", value_name = "command config property file")]
    command_config: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

/// The commands of kafka-metadata-quorum.sh.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Describe the metadata quorum info.
    Describe {
        /// A short summary of the quorum status and the other provides detailed information
        /// about the status of replication.
        #[arg(long)]
        status: bool,
        /// Detailed information about the status of replication.
        #[arg(long)]
        replication: bool,
    },
}

fn voters_json(replicas: &[QuorumReplica]) -> String {
    let items: Vec<String> = replicas
        .iter()
        .map(|r| {
            format!(
                "{{\"id\": {}, \"directoryId\": \"{}\", \"endpoints\": []}}",
                r.replica_id,
                common::kafka_uuid(r.directory_id.as_bytes())
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Runs kafka-metadata-quorum.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    let Some(Command::Describe {
        status,
        replication,
    }) = args.command
    else {
        return Err(ToolError::usage("the command is missing: describe"));
    };
    if status == replication {
        return Err(ToolError::usage(
            "One of --status or --replication must be specified with describe sub-command",
        ));
    }
    if args.bootstrap_server.is_none() {
        return Err(ToolError::usage(
            "Missing required argument \"[bootstrap-server]\"",
        ));
    }
    let props = common::client_props(
        args.bootstrap_server.as_deref(),
        args.command_config.as_deref(),
        &common::Props::new(),
    )?;
    let admin = Admin::new(common::connect(&props, "kavka-metadata-quorum").await?);
    let quorum = admin.describe_metadata_quorum().await?;
    let leader_leo = quorum
        .voters
        .iter()
        .find(|v| v.replica_id == quorum.leader_id)
        .map_or(quorum.high_watermark, |v| v.log_end_offset);
    if status {
        let cluster = admin.describe_cluster().await?;
        let max_lag = quorum
            .voters
            .iter()
            .map(|v| leader_leo - v.log_end_offset)
            .max()
            .unwrap_or(0);
        let leader_caught_up = quorum
            .voters
            .iter()
            .filter(|v| v.replica_id != quorum.leader_id && v.last_caught_up_timestamp >= 0)
            .map(|v| common::now_ms() - v.last_caught_up_timestamp)
            .max()
            .unwrap_or(0);
        outln!("ClusterId:              {}", cluster.cluster_id);
        outln!("LeaderId:               {}", quorum.leader_id);
        outln!("LeaderEpoch:            {}", quorum.leader_epoch);
        outln!("HighWatermark:          {}", quorum.high_watermark);
        outln!("MaxFollowerLag:         {max_lag}");
        outln!("MaxFollowerLagTimeMs:   {leader_caught_up}");
        outln!("CurrentVoters:          {}", voters_json(&quorum.voters));
        outln!("CurrentObservers:       {}", voters_json(&quorum.observers));
        return Ok(());
    }
    let row = |r: &QuorumReplica, status: &str| {
        vec![
            r.replica_id.to_string(),
            common::kafka_uuid(r.directory_id.as_bytes()),
            r.log_end_offset.to_string(),
            (leader_leo - r.log_end_offset).max(0).to_string(),
            r.last_fetch_timestamp.to_string(),
            r.last_caught_up_timestamp.to_string(),
            status.to_string(),
        ]
    };
    let mut rows: Vec<Vec<String>> = quorum
        .voters
        .iter()
        .map(|v| {
            let status = if v.replica_id == quorum.leader_id {
                "Leader"
            } else {
                "Follower"
            };
            row(v, status)
        })
        .collect();
    rows.extend(quorum.observers.iter().map(|o| row(o, "Observer")));
    print_table(
        &[
            "NodeId",
            "DirectoryId",
            "LogEndOffset",
            "Lag",
            "LastFetchTimestamp",
            "LastCaughtUpTimestamp",
            "Status",
        ],
        &rows,
    );
    Ok(())
}
