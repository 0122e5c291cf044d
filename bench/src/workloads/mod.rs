//! The workloads, run in order against one broker (P5 starts brokers of its own).

mod connections;
mod footprint;
mod latency;
mod replicated;
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
    /// The processes when this program started them: CPU and RSS can be read (summed CPU,
    /// the largest peak RSS over a cluster's nodes).
    local: Vec<LocalBroker>,
    /// Their data directories, removed at the end.
    _data: Vec<tempfile::TempDir>,
}

impl Target {
    /// Writes the page cache's dirty pages to disk (`sync`) when the brokers are local, so that
    /// a row does not pay for the write-back of what the rows before it wrote: several GB
    /// written by one row are still being flushed, and throttled by the kernel, seconds later.
    pub fn write_back(&self) -> Result<()> {
        if self.local.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let status = std::process::Command::new("sync")
            .status()
            .context("cannot run sync")?;
        anyhow::ensure!(status.success(), "sync failed: {status}");
        eprintln!("  sync: {:.1} s", started.elapsed().as_secs_f64());
        Ok(())
    }

    fn open(o: &Options) -> Result<Target> {
        if let Some(bootstrap) = &o.bootstrap {
            return Ok(Target {
                bootstrap: bootstrap.clone(),
                local: Vec::new(),
                _data: Vec::new(),
            });
        }
        let data = temp_data_dir(o.data_dir.as_ref(), "kavka-bench-")?;
        let broker = LocalBroker::start(&o.kavka, data.path(), &[])?;
        eprintln!("kavka {} started, pid {}", broker.addr(), broker.pid());
        Ok(Target {
            bootstrap: broker.addr().to_string(),
            local: vec![broker],
            _data: vec![data],
        })
    }

    /// Runs `work` and reports the broker's CPU time and peak RSS over it (local broker only).
    /// `work` returns its result and the value bytes the broker moved.
    pub fn measure<T>(
        &self,
        work: impl FnOnce() -> Result<(T, u64)>,
    ) -> Result<(T, Option<BrokerCost>)> {
        let pids: Vec<u32> = self.local.iter().map(LocalBroker::pid).collect();
        let before = pids
            .iter()
            .map(|&p| procfs::sample(p))
            .collect::<Result<Vec<_>>>()?;
        let (out, bytes_moved) = work()?;
        if pids.is_empty() {
            return Ok((out, None));
        }
        let (mut cpu_secs, mut peak_rss_bytes) = (0.0, 0);
        for (&pid, before) in pids.iter().zip(&before) {
            let after = procfs::sample(pid)?;
            cpu_secs += after.cpu_secs - before.cpu_secs;
            peak_rss_bytes = peak_rss_bytes.max(after.peak_rss_bytes);
        }
        let cost = BrokerCost {
            cpu_secs,
            bytes_moved,
            peak_rss_bytes,
        };
        Ok((out, Some(cost)))
    }

    /// A local cluster as the target (the replicated workload).
    pub fn cluster(cluster: crate::cluster::LocalCluster) -> Target {
        let bootstrap = cluster.bootstrap();
        let (local, data) = cluster.into_parts();
        Target {
            bootstrap,
            local,
            _data: data,
        }
    }

    /// The broker's resident memory now (the sum over a cluster's nodes); `None` for a broker
    /// this program did not start.
    pub(crate) fn rss_bytes(&self) -> Option<u64> {
        if self.local.is_empty() {
            return None;
        }
        let mut total = 0;
        for broker in &self.local {
            total += procfs::sample(broker.pid()).ok()?.rss_bytes;
        }
        Some(total)
    }

    pub(crate) fn close(mut self) -> Result<()> {
        for broker in &mut self.local {
            broker.stop().context("stopping a benchmark broker")?;
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
    if o.runs(Workload::P8) {
        rows.extend(connections::run(&target, o)?);
    }
    target.close()?;
    if o.runs(Workload::P4) {
        if o.bootstrap.is_some() {
            eprintln!("P4 skipped: it starts a cluster of its own (no --bootstrap)");
        } else {
            rows.extend(replicated::run(o)?);
        }
    }
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
