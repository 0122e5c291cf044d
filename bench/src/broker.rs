//! A local `kavka server` process: started with a listener and a data directory, its stderr
//! drained by a thread that watches for the "kavka is ready" line, stopped with SIGTERM or
//! killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The line the broker logs once its listener is bound.
const READY_MESSAGE: &str = "kavka is ready";
/// The line the broker logs once every partition log is open (recovered after a crash).
const LOGS_LOADED_MESSAGE: &str = "partition logs loaded";
/// How long a clean shutdown may take before the process is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of the broker's log shown when it fails.
const LOG_TAIL_LINES: usize = 30;

/// A running broker this program started.
#[derive(Debug)]
pub struct LocalBroker {
    /// The process; `None` once it was stopped or killed.
    child: Option<Child>,
    /// When `exec` was called: the origin of every start-up duration.
    pub spawned_at: Instant,
    /// The broker's stderr so far, for diagnostics and for reading log fields.
    log: Arc<Mutex<String>>,
    /// Receives (time, bound address) when the ready line appears.
    ready_rx: mpsc::Receiver<(Instant, SocketAddr)>,
    /// Filled by [`LocalBroker::wait_ready`].
    ready: Option<(Instant, SocketAddr)>,
}

impl LocalBroker {
    /// Execs `bin server` with `listeners=<listener>`, `log.dirs=<data_dir>` and `extra`
    /// overrides, RUST_LOG=info. Returns at once: see [`LocalBroker::wait_ready`].
    pub fn spawn(bin: &Path, data_dir: &Path, listener: &str, extra: &[&str]) -> Result<Self> {
        let mut cmd = Command::new(bin);
        cmd.arg("server")
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://{listener}"))
            .arg("--override")
            .arg(format!("log.dirs={}", data_dir.display()))
            // No HTTP listener unless `extra` asks for one (the metrics workload does).
            .arg("--override")
            .arg("kavka.http.listener=");
        for e in extra {
            cmd.arg("--override").arg(e);
        }
        cmd.env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let spawned_at = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, ready_rx) = mpsc::channel();
        let sink = log.clone();
        // Drains stderr for the broker's whole life, so that logging never blocks it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains(READY_MESSAGE) {
                    if let Some(addr) = field(&line, "listener").and_then(|a| a.parse().ok()) {
                        let _ = tx.send((Instant::now(), addr));
                    }
                }
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        Ok(LocalBroker {
            child: Some(child),
            spawned_at,
            log,
            ready_rx,
            ready: None,
        })
    }

    /// Spawns the broker on a port the OS picks and waits for it to be ready.
    pub fn start(bin: &Path, data_dir: &Path, extra: &[&str]) -> Result<Self> {
        let mut broker = Self::spawn(bin, data_dir, "127.0.0.1:0", extra)?;
        broker.wait_ready(Duration::from_secs(600))?;
        Ok(broker)
    }

    /// Waits for the ready line; returns the bound address.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<SocketAddr> {
        if let Some((_, addr)) = self.ready {
            return Ok(addr);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.ready_rx.recv_timeout(Duration::from_millis(100)) {
                Ok(ready) => {
                    self.ready = Some(ready);
                    return Ok(ready.1);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("kavka exited before it was ready:\n{}", self.log_tail())
                }
            }
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("kavka exited with {status} at start:\n{}", self.log_tail());
                }
            }
            if Instant::now() > deadline {
                bail!("kavka not ready after {timeout:?}:\n{}", self.log_tail());
            }
        }
    }

    /// The bound address (after [`LocalBroker::wait_ready`]).
    pub fn addr(&self) -> SocketAddr {
        self.ready.expect("broker is ready").1
    }

    /// Time from exec to the ready line (after [`LocalBroker::wait_ready`]).
    pub fn exec_to_ready(&self) -> Duration {
        self.ready.expect("broker is ready").0 - self.spawned_at
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("broker is running").id()
    }

    /// The broker's stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// `elapsed_ms` of the "partition logs loaded" line.
    pub fn logs_loaded_ms(&self) -> Option<u64> {
        let log = self.log();
        let line = log.lines().find(|l| l.contains(LOGS_LOADED_MESSAGE))?;
        field(line, "elapsed_ms")?.parse().ok()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .context("kill -TERM")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("kavka exited with {status}:\n{}", self.log_tail());
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("kavka did not exit within {STOP_TIMEOUT:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("kill -9")?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        // Never leave a broker behind (an error or a panic on the way).
        let _ = self.kill();
    }
}

/// The value of `name=value` in a tracing log line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=");
    let at = line.find(&key)? + key.len();
    line[at..].split_whitespace().next()
}

/// A temporary data directory under `parent` (or the system's), removed on drop.
pub fn temp_data_dir(parent: Option<&PathBuf>, prefix: &str) -> Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    match parent {
        Some(p) => builder.tempdir_in(p),
        None => builder.tempdir(),
    }
    .context("temporary data directory")
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn reads_fields_of_a_log_line() {
        let line = "2026-01-01T00:00:00.000Z  INFO kavka_broker::server: kavka is ready \
                    listener=127.0.0.1:40123 advertised=127.0.0.1:40123 node.id=1";
        assert_eq!(field(line, "listener"), Some("127.0.0.1:40123"));
        assert_eq!(field(line, "id"), None);
        let line = "INFO kavka_broker::broker: partition logs loaded partitions=6 elapsed_ms=812";
        assert_eq!(field(line, "elapsed_ms"), Some("812"));
    }
}
