//! `kavka metadata-quorum` (kafka-metadata-quorum.sh): `describe --status` and
//! `describe --replication` of the metadata quorum, in Kafka's layouts.

use kavka_client::admin::QuorumReplica;
use kavka_client::Admin;

use crate::common;
use crate::transactions::print_table;
use crate::ToolError;

/// Command-line flags of kafka-metadata-quorum.sh, as Kafka declares them (help texts
/// verbatim: they are laid out as Kafka's argparse4j lays them out).
#[derive(Debug, clap::Args)]
#[command(disable_help_subcommand = true, infer_long_args = true)]
pub struct Args {
    #[command(flatten)]
    endpoints: Endpoints,
    #[arg(
        long = "command-config",
        value_name = "COMMAND_CONFIG",
        help = "Property file containing configs to be passed to Admin Client."
    )]
    command_config: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Where to connect: brokers or (in Kafka) controllers, one of the two.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct Endpoints {
    #[arg(
        long = "bootstrap-server",
        value_name = "BOOTSTRAP_SERVER",
        help = "A comma-separated list of host:port pairs to use for establishing the \
                connection to the Kafka cluster."
    )]
    bootstrap_server: Option<String>,
    #[arg(
        long = "bootstrap-controller",
        value_name = "BOOTSTRAP_CONTROLLER",
        help = "A comma-separated list of host:port pairs to use for establishing the \
                connection to the Kafka controllers."
    )]
    bootstrap_controller: Option<String>,
}

/// The commands of kafka-metadata-quorum.sh (Kafka's add-controller and remove-controller,
/// KIP-853's dynamic quorum, are not offered: kavka's quorum membership is static).
#[derive(Debug, clap::Subcommand)]
enum Command {
    #[command(about = "Describe the metadata quorum info")]
    Describe {
        #[arg(
            long,
            help_heading = "Status",
            help = "A short summary of the quorum status and the other provides detailed \
                    information about the status of replication."
        )]
        status: bool,
        #[arg(
            long,
            help_heading = "Replication",
            help = "Detailed information about the status of replication"
        )]
        replication: bool,
        #[arg(
            long = "human-readable",
            help_heading = "Replication",
            help = "Human-readable output"
        )]
        human_readable: bool,
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
    let Command::Describe {
        status,
        replication,
        human_readable,
    } = args.command;
    if args.endpoints.bootstrap_controller.is_some() {
        return Err(ToolError::usage(
            "--bootstrap-controller is not supported by kavka: use --bootstrap-server",
        ));
    }
    if status && replication {
        return Err(ToolError::usage(
            "Only one of --status or --replication should be specified with describe sub-command",
        ));
    }
    if !status && !replication {
        return Err(ToolError::usage(
            "One of --status or --replication must be specified with describe sub-command",
        ));
    }
    if status && human_readable {
        return Err(ToolError::usage(
            "The option --human-readable is only supported along with --replication",
        ));
    }
    let props = common::client_props(
        args.endpoints.bootstrap_server.as_deref(),
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
    let now = common::now_ms();
    let timestamp = |ms: i64, what: &str| -> Result<String, ToolError> {
        if ms < 0 || !human_readable {
            return Ok(ms.to_string());
        }
        if ms == 0 || ms > now {
            return Err(ToolError::failed(format!(
                "Error while computing relative time, possible drift in system clock. \
                 Current timestamp is {now}, {what} timestamp is {ms}"
            )));
        }
        Ok(format!("{} ms ago", now - ms))
    };
    let row = |r: &QuorumReplica, status: &str| -> Result<Vec<String>, ToolError> {
        Ok(vec![
            r.replica_id.to_string(),
            common::kafka_uuid(r.directory_id.as_bytes()),
            r.log_end_offset.to_string(),
            (leader_leo - r.log_end_offset).to_string(),
            timestamp(r.last_fetch_timestamp, "last fetch")?,
            timestamp(r.last_caught_up_timestamp, "last caught up")?,
            status.to_string(),
        ])
    };
    // The leader first, then the other voters, then the observers, as Kafka lists them.
    let (leader, followers): (Vec<&QuorumReplica>, Vec<&QuorumReplica>) = quorum
        .voters
        .iter()
        .partition(|v| v.replica_id == quorum.leader_id);
    let mut rows = Vec::new();
    for v in leader {
        rows.push(row(v, "Leader")?);
    }
    for v in followers {
        rows.push(row(v, "Follower")?);
    }
    for o in &quorum.observers {
        rows.push(row(o, "Observer")?);
    }
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
