//! `kavka`: one binary for the broker, the metadata controller and Kafka's command-line tools
//! (`kavka topics`, `kavka console-producer`, ...; see `kavka-cli`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kavka_broker::BrokerConfig;

mod dev_cluster;
mod storage;

#[derive(Debug, Parser)]
#[command(
    name = "kavka",
    version,
    propagate_version = true,
    about = "Kafka-compatible event streaming platform"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of the tools' flag sets does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node that is broker and controller at once (no ZooKeeper, no external service).
    ///
    /// With no arguments it listens on 127.0.0.1:9092 and keeps its data in ./kavka-data.
    Server {
        /// A Kafka server.properties file (Java properties format).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        /// Set one config key, overriding the file; repeatable.
        #[arg(long = "override", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
    /// Run a local cluster of several nodes, each broker and controller, until Ctrl-C.
    ///
    /// Writes a server.properties per node under --dir, formats the nodes with one cluster id
    /// the first time, and starts a `kavka server` process for each.
    DevCluster(dev_cluster::DevClusterArgs),
    /// Format and inspect a node's log directories (Kafka's `kafka-storage.sh`).
    Storage {
        #[command(subcommand)]
        command: storage::StorageCommand,
    },
    /// Kafka's tools (`kavka topics --create ...` runs as `kafka-topics.sh --create ...`).
    #[command(flatten)]
    Tool(kavka_cli::Tool),
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn server(config: Option<PathBuf>, overrides: Vec<String>) -> ExitCode {
    let config = match BrokerConfig::load(config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kavka server: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kavka server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let running = match kavka_broker::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kavka server: {e}");
                return ExitCode::FAILURE;
            }
        };
        wait_for_signal().await;
        tracing::info!("shutdown requested");
        match running.shutdown().await {
            Ok(()) => {
                tracing::info!("shut down cleanly");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kavka server: shutdown: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Runs a tool on a runtime of its own; the tool reports its own failures.
fn tool(tool: kavka_cli::Tool) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kavka {}: cannot start the runtime: {e}", tool.name());
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(kavka_cli::run(tool));
    // A tool may leave a thread blocked on standard input: do not wait for it.
    runtime.shutdown_background();
    code
}

fn main() -> ExitCode {
    // A Kafka tool run with no arguments prints its help and fails.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [tool] = args.as_slice() {
        if let Some(code) = kavka_cli::report_no_arguments(tool) {
            return code;
        }
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // A tool's flag errors are reported as Kafka's tools report them (one line, the
            // usage, exit code 1); anything else as clap does.
            let name = std::env::args().nth(1).unwrap_or_default();
            if kavka_cli::TOOL_NAMES.contains(&name.as_str()) {
                return kavka_cli::report_parse_error(e, &name);
            }
            e.exit()
        }
    };
    match cli.command {
        Command::Server { config, overrides } => {
            init_logging();
            server(config, overrides)
        }
        Command::Storage { command } => storage::run(command),
        Command::DevCluster(args) => dev_cluster::run(args),
        Command::Tool(t) => tool(t),
    }
}
