//! The benchmark of Kavka, or of any Kafka-compatible broker, through librdkafka (the `rdkafka`
//! crate: a client neither written for nor tuned to Kavka).
//!
//! Not part of the broker's crate graph: it talks to a `kavka` process over the wire only.
//! [`run`] starts a release `kavka server` on a free port with a temporary data directory (or
//! uses `--bootstrap`), runs the workloads and returns [`Results`], which [`report`] renders as
//! one markdown table:
//!
//! - P1 produce: 1 KiB and 100 B values, acks=1, linger.ms=5, one producer, N partitions;
//!   1 KiB with acks=all to a topic with `flush.messages=1` (fsync before every ack).
//! - P2 consume: everything P1 wrote (from the page cache), one consumer, by assignment.
//! - P3 latency: produce-to-consume latency at a fixed rate, from a timestamp in the payload.
//! - P4 replicated: three local brokers; 1 KiB produce to one replica with acks=1 and to three
//!   with acks=all (same run), and P3's latency with three replicas and acks=all.
//! - P5 footprint: idle RSS, exec to first ApiVersions answer, recovery after kill -9.
//!
//! While the broker is local, each throughput row also gives the broker's CPU seconds per GB
//! moved (utime + stime from `/proc/<pid>/stat`) and its peak RSS (`VmHWM`).

pub mod broker;
pub mod cluster;
pub mod kafka;
pub mod procfs;
pub mod progress;
pub mod report;
pub mod workloads;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};

pub use report::{Figures, Results, Row};

/// A workload of the suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Produce throughput.
    P1,
    /// Consume throughput (reads what P1 wrote: needs P1).
    P2,
    /// Produce-to-consume latency at a fixed rate.
    P3,
    /// Replication: three local brokers, RF=3 acks=all against RF=1 acks=1, and latency.
    P4,
    /// Footprint: idle RSS, start-up time, recovery after kill -9 (local broker only).
    P5,
    /// Connections: many idle client connections beside one producer (RSS per connection,
    /// the producer's throughput with and without them).
    P8,
    /// Metrics: the same produce and consume against a broker without and one with its HTTP
    /// listener (and so its metrics), side by side.
    P9,
}

/// Command line of `kavka-bench` (and what `bench/run` passes on).
#[derive(Debug, Clone, Parser)]
#[command(
    name = "kavka-bench",
    about = "Benchmark Kavka (or any Kafka-compatible broker) through librdkafka",
    // bench/run passes --kavka first; a --kavka of the caller's replaces it.
    args_override_self = true
)]
pub struct Options {
    /// The kavka binary to start (ignored with --bootstrap).
    #[arg(long, default_value = "target/release/kavka")]
    pub kavka: PathBuf,
    /// Run against this broker instead of starting one (broker CPU and RSS are then n/a, and P5
    /// is skipped).
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap: Option<String>,
    /// Where the temporary data directories go (default: the system's temp directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Tiny counts and durations: checks that every workload works, measures nothing.
    #[arg(long)]
    pub smoke: bool,
    /// Workloads to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "p1,p2,p3,p4,p5,p8,p9")]
    pub workloads: Vec<Workload>,
    /// Partitions of every benchmark topic.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// P1: records of 1 KiB (acks=1).
    #[arg(long, default_value_t = 1_000_000)]
    pub records_1k: u64,
    /// P1: records of 100 B (acks=1).
    #[arg(long, default_value_t = 3_000_000)]
    pub records_100b: u64,
    /// P1: records of 1 KiB with acks=all and fsync before each acknowledgement.
    #[arg(long, default_value_t = 1_000_000)]
    pub records_durable: u64,
    /// P3: produce rate, in MB/s of 1 KiB records.
    #[arg(long, default_value_t = 50.0)]
    pub latency_mb_per_s: f64,
    /// P3: how long to produce at that rate, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub latency_secs: f64,
    /// P4: records of 1 KiB in each throughput row. The three local brokers write every byte
    /// three times to one disk: this many keep the RF=3 row (3 × 500 MB) within the page cache
    /// of a small box, so that the row measures replication; past the kernel's dirty-page
    /// limit it runs at a third of the disk's write speed.
    #[arg(long, default_value_t = 500_000)]
    pub replicated_records_1k: u64,
    /// P4: the latency run's rate, in MB/s of 1 KiB records.
    #[arg(long, default_value_t = 20.0)]
    pub replicated_latency_mb_per_s: f64,
    /// P3: the producer's linger.ms.
    #[arg(long, default_value_t = 1)]
    pub latency_linger_ms: u32,
    /// P8: idle client connections (each has asked ApiVersions once) beside the producer.
    #[arg(long, default_value_t = 2_000)]
    pub idle_connections: usize,
    /// P5: GB (10^9 bytes) of 1 KiB records in the log before the kill -9.
    #[arg(long, default_value_t = 2.0)]
    pub recovery_gb: f64,
    /// Seconds between progress lines.
    #[arg(long, default_value_t = 2.0)]
    pub progress_secs: f64,
}

impl Options {
    /// The options with `--smoke` applied: counts small enough for a debug build in seconds.
    pub fn effective(&self) -> Options {
        let mut o = self.clone();
        if o.smoke {
            o.records_1k = 2_000;
            o.replicated_records_1k = 2_000;
            o.records_100b = 5_000;
            o.records_durable = 200;
            o.latency_mb_per_s = 1.0;
            o.replicated_latency_mb_per_s = 1.0;
            o.latency_secs = 1.0;
            o.recovery_gb = 0.005;
            o.idle_connections = 200;
            o.progress_secs = o.progress_secs.min(1.0);
        }
        o
    }

    pub fn runs(&self, w: Workload) -> bool {
        self.workloads.contains(&w)
    }

    pub(crate) fn progress_every(&self) -> Duration {
        Duration::from_secs_f64(self.progress_secs.max(0.1))
    }
}

/// Runs the selected workloads and returns their figures.
pub fn run(options: &Options) -> Result<Results> {
    let o = options.effective();
    if o.runs(Workload::P2) && !o.runs(Workload::P1) {
        bail!("p2 reads what p1 wrote: select p1 too");
    }
    if o.partitions < 1 {
        bail!("--partitions must be at least 1");
    }
    workloads::run(&o)
}
