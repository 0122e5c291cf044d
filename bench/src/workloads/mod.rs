//! The workloads, run in order against one broker (P5 starts brokers of its own).

mod footprint;
mod latency;
mod throughput;

use std::path::Path;

use anyhow::{Context, Result};

use crate::broker::{temp_data_dir, LocalBroker};
use crate::procfs::{self, describe_machine};
use crate::report::{BrokerCost, Results};
use crate::{Options, Workload};

/// The broker the workloads talk to.
#[derive(Debug)]
pub(crate) struct Target {
    pub bootstrap: String,
    /// The process when this program started it: CPU and RSS can be read.
    local: Option<LocalBroker>,
    /// Its data directory, removed at the end.
    _data: Option<tempfile::TempDir>,
}

impl Target {
    fn open(o: &Options) -> Result<Target> {
        if let Some(bootstrap) = &o.bootstrap {
            return Ok(Target {
                bootstrap: bootstrap.clone(),
                local: None,
                _data: None,
            });
        }
        let data = temp_data_dir(o.data_dir.as_ref(), "kavka-bench-")?;
        let broker = LocalBroker::start(&o.kavka, data.path(), &[])?;
        eprintln!("kavka {} started, pid {}", broker.addr(), broker.pid());
        Ok(Target {
            bootstrap: broker.addr().to_string(),
            local: Some(broker),
            _data: Some(data),
        })
    }

    /// Runs `work` and reports the broker's CPU time and peak RSS over it (local broker only).
    /// `work` returns its result and the value bytes the broker moved.
    pub fn measure<T>(
        &self,
        work: impl FnOnce() -> Result<(T, u64)>,
    ) -> Result<(T, Option<BrokerCost>)> {
        let pid = self.local.as_ref().map(LocalBroker::pid);
        let before = pid.map(procfs::sample).transpose()?;
        let (out, bytes_moved) = work()?;
        let cost = match (pid, before) {
            (Some(pid), Some(before)) => {
                let after = procfs::sample(pid)?;
                Some(BrokerCost {
                    cpu_secs: after.cpu_secs - before.cpu_secs,
                    bytes_moved,
                    peak_rss_bytes: after.peak_rss_bytes,
                })
            }
            _ => None,
        };
        Ok((out, cost))
    }

    fn close(mut self) -> Result<()> {
        if let Some(broker) = self.local.as_mut() {
            broker.stop().context("stopping the benchmark broker")?;
        }
        Ok(())
    }
}

/// A topic name unique to this run (a shared `--bootstrap` broker may hold earlier runs').
pub(crate) fn topic_name(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("bench-{what}-{}-{nanos:09}", std::process::id())
}

pub(crate) fn run(o: &Options) -> Result<Results> {
    let machine = describe_machine();
    eprintln!("{machine}");
    let target_description = match &o.bootstrap {
        Some(b) => format!("{b} (--bootstrap: broker CPU and RSS n/a)"),
        None => describe_binary(&o.kavka),
    };
    let mut rows = Vec::new();
    let target = Target::open(o)?;
    let mut written = Vec::new();
    if o.runs(Workload::P1) {
        let (p1, topics) = throughput::produce(&target, o)?;
        rows.extend(p1);
        written = topics;
    }
    if o.runs(Workload::P2) {
        rows.extend(throughput::consume(&target, o, &written)?);
    }
    if o.runs(Workload::P3) {
        rows.push(latency::run(&target, o)?);
    }
    target.close()?;
    if o.runs(Workload::P5) {
        if o.bootstrap.is_some() {
            eprintln!("P5 skipped: it starts brokers of its own (no --bootstrap)");
        } else {
            rows.extend(footprint::run(o)?);
        }
    }
    Ok(Results {
        machine,
        target: target_description,
        rows,
    })
}

fn describe_binary(bin: &Path) -> String {
    let profile = if bin.components().any(|c| c.as_os_str() == "debug") {
        " (DEBUG build: figures are not representative)"
    } else {
        ""
    };
    format!("local kavka {}{profile}", bin.display())
}
