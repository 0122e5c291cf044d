//! `kavka cluster` (kafka-cluster.sh): `cluster-id` prints the cluster's id, `unregister --id
//! N` removes broker N's registration (UnregisterBroker), with Kafka's flags and messages.

use kavka_client::Admin;

use crate::common;
use crate::ToolError;

/// Flags every command takes, as Kafka declares them (help texts verbatim: they are laid out
/// as Kafka's argparse4j lays them out).
#[derive(Debug, clap::Args)]
pub struct Connection {
    #[command(flatten)]
    endpoints: Endpoints,
    #[arg(
        long = "config",
        short = 'c',
        value_name = "CONFIG",
        help = "A property file containing configurations for the Admin client."
    )]
    config: Option<String>,
}

/// Where to connect: brokers or (in Kafka) controllers, one of the two.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
struct Endpoints {
    #[arg(
        long = "bootstrap-server",
        short = 'b',
        value_name = "BOOTSTRAP_SERVER",
        help = "A list of host/port pairs to use for establishing the connection to the Kafka \
                cluster."
    )]
    bootstrap_server: Option<String>,
    #[arg(
        long = "bootstrap-controller",
        short = 'C',
        value_name = "BOOTSTRAP_CONTROLLER",
        help = "A list of host/port pairs to use for establishing the connection to the KRaft \
                controllers."
    )]
    bootstrap_controller: Option<String>,
}

/// Command-line flags of kafka-cluster.sh.
#[derive(Debug, clap::Args)]
#[command(disable_help_subcommand = true, infer_long_args = true)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The commands of kafka-cluster.sh.
#[derive(Debug, clap::Subcommand)]
enum Command {
    #[command(about = "Get information about the ID of a cluster.")]
    ClusterId(Connection),
    #[command(about = "Unregister a broker.")]
    Unregister {
        #[command(flatten)]
        connection: Connection,
        #[arg(
            long = "id",
            short = 'i',
            value_name = "ID",
            help = "The ID of the broker to unregister."
        )]
        id: i32,
    },
}

async fn admin(connection: &Connection) -> Result<Admin, ToolError> {
    if connection.endpoints.bootstrap_controller.is_some() {
        return Err(ToolError::usage(
            "--bootstrap-controller is not supported by kavka: use --bootstrap-server",
        ));
    }
    let props = common::client_props(
        connection.endpoints.bootstrap_server.as_deref(),
        connection.config.as_deref(),
        &common::Props::new(),
    )?;
    Ok(Admin::new(common::connect(&props, "kavka-cluster").await?))
}

/// Runs kafka-cluster.sh.
pub async fn run(args: Args) -> Result<(), ToolError> {
    match args.command {
        Command::ClusterId(connection) => {
            let cluster = admin(&connection).await?.describe_cluster().await?;
            println!("Cluster ID: {}", cluster.cluster_id);
        }
        Command::Unregister { connection, id } => {
            admin(&connection).await?.unregister_broker(id).await?;
            println!("Broker {id} is no longer registered.");
        }
    }
    Ok(())
}
