//! `kavka cluster` (kafka-cluster.sh): `cluster-id` prints the cluster's id, `unregister --id
//! N` removes broker N's registration (UnregisterBroker), with Kafka's flags and messages.

use kavka_client::Admin;

use crate::common;
use crate::ToolError;

/// Flags every subcommand takes.
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// A list of host/port pairs to use for establishing the connection to the kafka cluster.
    #[arg(long = "bootstrap-server", short = 'b')]
    bootstrap_server: Option<String>,
    /// A property file containing configs to passed to AdminClient.
    #[arg(long = "config", short = 'c')]
    config: Option<String>,
}

/// Command-line flags of kafka-cluster.sh.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The commands of kafka-cluster.sh.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Get information about the ID of a cluster.
    ClusterId(Connection),
    /// Unregister a broker.
    Unregister {
        #[command(flatten)]
        connection: Connection,
        /// The ID of the broker to unregister.
        #[arg(long = "id", short = 'i')]
        id: i32,
    },
}

async fn admin(connection: &Connection) -> Result<Admin, ToolError> {
    let props = common::client_props(
        connection.bootstrap_server.as_deref(),
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
