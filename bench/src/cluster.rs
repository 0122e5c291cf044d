//! Several `kavka server` processes on this machine as one cluster (every node a voter of the
//! metadata quorum and a broker), for the replicated workload: formatted with one cluster id
//! (`kavka storage format`), each on ports the OS picks.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::broker::{temp_data_dir, LocalBroker};

/// A running local cluster.
#[derive(Debug)]
pub struct LocalCluster {
    /// The nodes, node id = index + 1.
    pub brokers: Vec<LocalBroker>,
    /// Their data directories, removed at the end.
    _dirs: Vec<tempfile::TempDir>,
}

/// Free local ports for the controller channels (bound together, then released).
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?)
}

fn kavka(bin: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "kavka {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl LocalCluster {
    /// Formats and starts `n` nodes and waits until each listens.
    pub fn start(bin: &Path, parent: Option<&PathBuf>, n: usize) -> Result<LocalCluster> {
        let cluster_id = kavka(bin, &["storage", "random-uuid"])?;
        let voters = free_ports(n)?
            .iter()
            .enumerate()
            .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let (mut brokers, mut dirs) = (Vec::new(), Vec::new());
        for id in 1..=n {
            let dir = temp_data_dir(parent, "kavka-bench-node-")?;
            let logs = dir.path().join("logs");
            let settings = [
                format!("node.id={id}"),
                format!("controller.quorum.voters={voters}"),
            ];
            let props = dir.path().join("server.properties");
            let text = format!("log.dirs={}\n{}\n", logs.display(), settings.join("\n"));
            std::fs::write(&props, text)?;
            let props = props.to_string_lossy().to_string();
            kavka(bin, &["storage", "format", "-t", &cluster_id, "-c", &props])?;
            let extra: Vec<&str> = settings.iter().map(String::as_str).collect();
            brokers.push(LocalBroker::spawn(bin, &logs, "127.0.0.1:0", &extra)?);
            dirs.push(dir);
        }
        for b in &mut brokers {
            b.wait_ready(Duration::from_secs(600))?;
        }
        Ok(LocalCluster {
            brokers,
            _dirs: dirs,
        })
    }

    /// The nodes and their data directories.
    pub fn into_parts(self) -> (Vec<LocalBroker>, Vec<tempfile::TempDir>) {
        (self.brokers, self._dirs)
    }

    /// Every node's client address, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.brokers
            .iter()
            .map(|b| b.addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}
