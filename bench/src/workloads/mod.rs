//! The workloads, run in order against one broker (P5 starts brokers of its own).

mod connections;
mod footprint;
mod latency;
mod metrics_cost;
mod replicated;
mod throughput;

use std::path::Path;

use anyhow::{Context, Result};

use rdkafka::producer::Producer;

use crate::broker::{temp_data_dir, LocalBroker};
use crate::kafka::{self, ProducerSettings};
use crate::procfs::{self, describe_machine};
use crate::progress::with_progress;
use crate::report::{BrokerCost, Figures, Results, Row};
use crate::{Options, Workload};

/// The linger.ms of the producers that run P1's produce in other workloads.
const LINGER_MS: u32 = 5;

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
        Target::local(o, &[])
    }

    /// A broker of this program's own, started with `extra` overrides.
    pub(crate) fn local(o: &Options, extra: &[&str]) -> Result<Target> {
        let data = temp_data_dir(o.data_dir.as_ref(), "kavka-bench-")?;
        let broker = LocalBroker::start(&o.kavka, data.path(), extra)?;
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

/// P1's produce (acks=1, linger.ms=5) of `records` values of `value_size` bytes to a new
/// topic, after a warm-up record and `sync`: the row, and the topic.
pub(crate) fn produce_once(
    target: &Target,
    o: &Options,
    records: u64,
    value_size: usize,
    workload: &str,
) -> Result<(Row, String)> {
    let topic = topic_name("produce");
    kafka::create_topic(&target.bootstrap, &topic, o.partitions, &[])?;
    let producer = kafka::producer(
        &target.bootstrap,
        ProducerSettings {
            acks: "1",
            linger_ms: LINGER_MS,
            idempotent: false,
            max_in_flight: None,
            transactional_id: None,
        },
    )?;
    eprintln!("{workload}: {records} records to {topic}");
    kafka::warm_up(
        &producer,
        &target.bootstrap,
        &format!("{topic}-warmup"),
        false,
    )?;
    target.write_back()?;
    let delivered = producer.context().delivered.clone();
    let (moved, broker) = target.measure(|| {
        let moved = with_progress(workload, o.progress_every(), &delivered, || {
            kafka::produce_n(&producer, &topic, o.partitions, records, value_size, None)
        })?;
        Ok((moved, moved.bytes))
    })?;
    let row = Row {
        workload: workload.to_string(),
        figures: Figures::Throughput { moved, broker },
    };
    Ok((row, topic))
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
    if o.runs(Workload::P9) {
        if o.bootstrap.is_some() {
            eprintln!("P9 skipped: it starts brokers of its own (no --bootstrap)");
        } else {
            rows.extend(metrics_cost::run(o)?);
        }
    }
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
