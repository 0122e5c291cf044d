//! `kavka storage` (`kafka-storage.sh`): the command line over `kavka_broker::storage_tool`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kavka_broker::storage_tool::{self, FormatOptions};
use kavka_broker::BrokerConfig;

/// `kafka-storage.sh`'s commands.
#[derive(Debug, clap::Subcommand)]
pub enum StorageCommand {
    /// Print a new random cluster id.
    RandomUuid,
    /// Format the node's log directories with a cluster id, before its first start.
    Format {
        /// The cluster id (from `random-uuid`).
        #[arg(short = 't', long = "cluster-id", value_name = "CLUSTER_ID")]
        cluster_id: String,
        /// The node's server.properties.
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: PathBuf,
        /// Skip directories already formatted instead of failing.
        #[arg(short = 'g', long = "ignore-formatted")]
        ignore_formatted: bool,
        /// This node alone is the initial controller quorum (the default without controller.quorum.voters).
        #[arg(short = 's', long = "standalone")]
        standalone: bool,
        /// The initial voters, `id@host:port:directory-id,...` (must restate controller.quorum.voters).
        #[arg(short = 'I', long = "initial-controllers", value_name = "VOTERS")]
        initial_controllers: Option<String>,
        /// Format without an initial voter set.
        #[arg(short = 'N', long = "no-initial-controllers")]
        no_initial_controllers: bool,
        /// The metadata version to format with (accepted; Kavka has one).
        #[arg(short = 'r', long = "release-version", value_name = "VERSION")]
        release_version: Option<String>,
    },
    /// Describe the node's log directories.
    Info {
        /// The node's server.properties.
        #[arg(short = 'c', long = "config", value_name = "FILE")]
        config: PathBuf,
    },
}

fn load(config: &Path) -> Result<BrokerConfig, ExitCode> {
    BrokerConfig::load(Some(config), &[]).map_err(|e| {
        eprintln!("{e}");
        ExitCode::FAILURE
    })
}

/// Runs one storage command.
pub fn run(command: StorageCommand) -> ExitCode {
    match command {
        StorageCommand::RandomUuid => {
            println!("{}", storage_tool::random_uuid());
            ExitCode::SUCCESS
        }
        StorageCommand::Format {
            cluster_id,
            config,
            ignore_formatted,
            standalone: _,
            initial_controllers,
            no_initial_controllers: _,
            release_version: _,
        } => {
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if let Some(voters) = initial_controllers {
                // The quorum is the static `controller.quorum.voters`; the flag may restate it.
                let mut named: Vec<i32> = voters
                    .split(',')
                    .filter_map(|v| v.split_once('@').and_then(|(id, _)| id.trim().parse().ok()))
                    .collect();
                let mut configured: Vec<i32> = config.voters.iter().map(|v| v.id).collect();
                named.sort_unstable();
                configured.sort_unstable();
                if named.is_empty() || named != configured {
                    eprintln!(
                        "--initial-controllers must name the voters of controller.quorum.voters ({configured:?}): Kavka's quorum is the static voter set"
                    );
                    return ExitCode::FAILURE;
                }
            }
            let options = FormatOptions {
                cluster_id,
                ignore_formatted,
            };
            match storage_tool::format(&config, &options) {
                Ok(lines) => {
                    for l in lines {
                        println!("{l}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        StorageCommand::Info { config } => {
            let config = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match storage_tool::info(&config) {
                Ok(report) => {
                    print!("{report}");
                    ExitCode::SUCCESS
                }
                Err(report) => {
                    print!("{report}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
