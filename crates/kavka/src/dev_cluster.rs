//! `kavka dev-cluster`: a local cluster in one command. It writes one `server.properties` per
//! node (every node a broker and a voter of one metadata quorum; with `--controllers N`, N
//! controller-only voters and `--nodes` broker-only nodes, Kafka's production layout), formats each node's
//! directories with one cluster id the first time, starts a `kavka server` process per node
//! (logs in `<dir>/node-<n>/server.log`), prints the bootstrap servers once every broker is
//! registered (a topic can be created right away), and stops them all on
//! Ctrl-C or SIGTERM. Run again on the same directory, it restarts the same cluster.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

use clap::Args;

/// Options of `kavka dev-cluster`.
#[derive(Debug, Args)]
pub struct DevClusterArgs {
    /// Number of brokers (each also a controller unless --controllers is given).
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// Separate roles: this many controller-only nodes (ids 1..N, on the controller ports),
    /// and the --nodes brokers broker-only (the ids after). 0: every node has both roles.
    #[arg(long, default_value_t = 0)]
    controllers: u16,
    /// Directory of the nodes' configs, data and logs.
    #[arg(long, default_value = "./kavka-cluster")]
    dir: PathBuf,
    /// Client port of node 1; node n listens on this + n - 1.
    #[arg(long, default_value_t = 9092)]
    base_port: u16,
    /// Controller-channel port of node 1; node n uses this + n - 1.
    #[arg(long, default_value_t = 19092)]
    controller_base_port: u16,
    /// HTTP port (`/metrics`, `/health`, `/ready`) of node 1; node n uses this + n - 1; 0:
    /// no HTTP listener.
    #[arg(long, default_value_t = 9644)]
    http_base_port: u16,
    /// Host the nodes listen on and advertise.
    #[arg(long, default_value = "localhost")]
    host: String,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("kavka dev-cluster: {message}");
    ExitCode::FAILURE
}

fn port(base: u16, node: u16) -> Option<u16> {
    base.checked_add(node.checked_sub(1)?)
}

/// The voters: every node without --controllers, else the first --controllers.
fn voter_count(args: &DevClusterArgs) -> u16 {
    if args.controllers == 0 {
        args.nodes
    } else {
        args.controllers
    }
}

/// The client port of broker `node` (the first broker on the base port).
fn client_port(args: &DevClusterArgs, node: u16) -> Option<u16> {
    port(args.base_port, node.checked_sub(args.controllers)?)
}

/// Writes node `node`'s config; its path.
fn write_config(args: &DevClusterArgs, node: u16, voters: &str) -> Result<PathBuf, String> {
    let dir = args.dir.join(format!("node-{node}"));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = dir.join("server.properties");
    let host = &args.host;
    let roles = if args.controllers == 0 {
        let client = client_port(args, node).ok_or("client port out of range")?;
        format!("process.roles=broker,controller\nlisteners=PLAINTEXT://{host}:{client}\n")
    } else if node <= args.controllers {
        let controller = port(args.controller_base_port, node).ok_or("port out of range")?;
        format!(
            "process.roles=controller\ncontroller.listener.names=CONTROLLER\n\
             listeners=CONTROLLER://{host}:{controller}\n"
        )
    } else {
        let client = client_port(args, node).ok_or("client port out of range")?;
        format!("process.roles=broker\nlisteners=PLAINTEXT://{host}:{client}\n")
    };
    let http = match args.http_base_port {
        0 => String::new(),
        base => format!(
            "{host}:{}",
            port(base, node).ok_or("HTTP port out of range")?
        ),
    };
    let text = format!(
        "# Written by kavka dev-cluster.\n{roles}node.id={node}\n\
         controller.quorum.voters={voters}\nlog.dirs={data}\nkavka.http.listener={http}\n",
        data = dir.join("data").display(),
    );
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

/// The cluster id kept in `<dir>/cluster.id`, made the first time.
fn cluster_id(dir: &Path) -> Result<String, String> {
    let path = dir.join("cluster.id");
    match std::fs::read_to_string(&path) {
        Ok(id) => Ok(id.trim().to_string()),
        Err(_) => {
            let id = kavka_broker::storage_tool::random_uuid();
            std::fs::write(&path, &id).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(id)
        }
    }
}

fn format(exe: &Path, config: &Path, cluster_id: &str) -> Result<(), String> {
    let out = Command::new(exe)
        .args([
            "storage",
            "format",
            "--ignore-formatted",
            "-t",
            cluster_id,
            "-c",
        ])
        .arg(config)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

fn start(exe: &Path, config: &Path) -> Result<Child, String> {
    let log_path = config.with_file_name("server.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    Command::new(exe)
        .arg("server")
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .map_err(|e| e.to_string())
}

/// Stops every node with SIGTERM: the broker-only nodes first, so that their controlled
/// shutdown finds the controllers still up, then the others.
fn terminate(children: &mut [(u16, Child)], controllers: u16) {
    let (controllers, brokers): (Vec<_>, Vec<_>) = children
        .iter_mut()
        .partition(|(node, _)| *node <= controllers);
    for mut group in [brokers, controllers] {
        for (_, child) in group.iter() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for (node, child) in group.iter_mut() {
            match child.wait() {
                Ok(status) if status.success() => println!("node {node} stopped"),
                Ok(status) => println!("node {node} exited with {status}"),
                Err(e) => println!("node {node}: {e}"),
            }
        }
    }
}

/// How long dev-cluster waits for every broker to be registered before it prints anyway.
const READY_WAIT_S: u64 = 60;

/// Waits until every address answers Metadata listing `brokers` brokers; `None` when they do,
/// else what is still missing when the wait ends.
async fn wait_ready(addresses: &[String], brokers: usize) -> Option<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(READY_WAIT_S);
    for address in addresses {
        loop {
            let config = kavka_client::ClientConfig {
                bootstrap_servers: vec![address.clone()],
                request_timeout_ms: 2_000,
                ..Default::default()
            };
            let seen = match kavka_client::Client::connect(config).await {
                Ok(client) => match client.metadata(Some(&[])).await {
                    Ok(m) => m.brokers.len(),
                    Err(_) => 0,
                },
                Err(_) => 0,
            };
            if seen >= brokers {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Some(format!("{address} sees {seen} of {brokers} brokers"));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    None
}

/// Runs the cluster until a signal.
pub fn run(args: DevClusterArgs) -> ExitCode {
    if args.nodes == 0 {
        return fail("--nodes must be at least 1");
    }
    let Ok(exe) = std::env::current_exe() else {
        return fail("cannot find the kavka binary");
    };
    if let Err(e) = std::fs::create_dir_all(&args.dir) {
        return fail(format!("{}: {e}", args.dir.display()));
    }
    let Some(total) = args.nodes.checked_add(args.controllers) else {
        return fail("too many nodes");
    };
    let mut voters = Vec::new();
    for node in 1..=voter_count(&args) {
        let Some(p) = port(args.controller_base_port, node) else {
            return fail("controller port out of range");
        };
        voters.push(format!("{node}@{}:{p}", args.host));
    }
    let voters = voters.join(",");
    let id = match cluster_id(&args.dir) {
        Ok(id) => id,
        Err(e) => return fail(e),
    };
    let mut children: Vec<(u16, Child)> = Vec::new();
    for node in 1..=total {
        let started = write_config(&args, node, &voters)
            .and_then(|config| format(&exe, &config, &id).map(|()| config))
            .and_then(|config| start(&exe, &config));
        match started {
            Ok(child) => children.push((node, child)),
            Err(e) => {
                terminate(&mut children, args.controllers);
                return fail(format!("node {node}: {e}"));
            }
        }
    }
    let bootstrap: Vec<String> = (args.controllers + 1..=total)
        .filter_map(|n| client_port(&args, n).map(|p| format!("{}:{p}", args.host)))
        .collect();
    let layout = if args.controllers == 0 {
        format!("{} nodes", args.nodes)
    } else {
        format!(
            "{} controllers and {} brokers",
            args.controllers, args.nodes
        )
    };
    println!(
        "cluster {id}: {layout}, logs in {}/node-*/server.log",
        args.dir.display()
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            terminate(&mut children, args.controllers);
            return fail(format!("cannot start the runtime: {e}"));
        }
    };
    // The bootstrap line is printed once the cluster takes a topic: every broker answers
    // Metadata naming all of them (registered and unfenced), so a command typed right after
    // it does not meet "0 broker(s) are registered".
    let brokers = usize::from(args.nodes);
    let ready = runtime.block_on(async {
        tokio::select! {
            missing = wait_ready(&bootstrap, brokers) => missing,
            _ = crate::wait_for_signal() => Some("interrupted".to_string()),
        }
    });
    if let Some(missing) = ready {
        println!("not ready after {READY_WAIT_S} s ({missing}); see the nodes' server.log");
    }
    println!("bootstrap servers: {}", bootstrap.join(","));
    println!("Ctrl-C stops every node");
    runtime.block_on(async {
        tokio::select! {
            _ = crate::wait_for_signal() => {}
            node = watch(&mut children) => println!("node {node} exited; stopping the others"),
        }
    });
    terminate(&mut children, args.controllers);
    ExitCode::SUCCESS
}

/// Returns the first node whose process exits.
async fn watch(children: &mut [(u16, Child)]) -> u16 {
    loop {
        for (node, child) in children.iter_mut() {
            if let Ok(Some(_)) = child.try_wait() {
                return *node;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
