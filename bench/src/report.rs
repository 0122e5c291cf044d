//! The figures of a run and the markdown table they print as.

use std::fmt::Write;
use std::time::Duration;

use crate::kafka::Moved;

/// Bytes in a MB and a GB as the table counts them (decimal, as network rates are).
const MB: f64 = 1e6;
const GB: f64 = 1e9;
/// Bytes in a MiB (memory sizes).
const MIB: f64 = 1024.0 * 1024.0;

/// Everything a run measured.
#[derive(Debug, Clone)]
pub struct Results {
    /// nproc, CPU model, memory, kernel.
    pub machine: String,
    /// What was measured: the local binary or the `--bootstrap` address.
    pub target: String,
    pub rows: Vec<Row>,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// e.g. "P1 produce 1 KiB acks=1".
    pub workload: String,
    pub figures: Figures,
}

/// The broker's cost during a workload (local broker only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BrokerCost {
    /// utime + stime consumed during the workload.
    pub cpu_secs: f64,
    /// Record value bytes the broker took in plus sent out during the workload.
    pub bytes_moved: u64,
    /// `VmHWM` at the end of the workload (the peak since the broker started).
    pub peak_rss_bytes: u64,
}

/// Produce-to-consume latency percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
}

/// What a workload measured.
#[derive(Debug, Clone)]
pub enum Figures {
    Throughput {
        moved: Moved,
        broker: Option<BrokerCost>,
    },
    Latency {
        /// What the consumer received.
        moved: Moved,
        broker: Option<BrokerCost>,
        latency: Percentiles,
        /// Send to acknowledgement (the producer's delivery reports) of the same records.
        acked: Option<Percentiles>,
    },
    IdleRss {
        rss_bytes: u64,
    },
    /// P8: what opening this many idle client connections added to the broker's RSS.
    IdleConnections {
        connections: u64,
        rss_bytes_added: u64,
    },
    StartToApiVersions {
        elapsed: Duration,
    },
    /// A comparison of other rows (P9): its main ratio and the sentence that states it.
    Comparison {
        ratio: f64,
        text: String,
    },
    Recovery {
        /// Bytes of `.log` segments on disk when the broker was killed.
        log_bytes: u64,
        /// exec to the "kavka is ready" line.
        exec_to_ready: Duration,
        /// `elapsed_ms` of the broker's "partition logs loaded" line.
        logs_loaded: Option<Duration>,
        peak_rss_bytes: u64,
    },
}

impl Figures {
    /// The row's main figure, for checks that a workload measured something: records/s, or
    /// bytes, or seconds.
    pub fn headline(&self) -> f64 {
        match self {
            Figures::Throughput { moved, .. } | Figures::Latency { moved, .. } => per_sec(moved),
            Figures::IdleRss { rss_bytes } => *rss_bytes as f64,
            Figures::IdleConnections { connections, .. } => *connections as f64,
            Figures::StartToApiVersions { elapsed } => elapsed.as_secs_f64(),
            Figures::Comparison { ratio, .. } => *ratio,
            Figures::Recovery {
                log_bytes,
                exec_to_ready,
                ..
            } => (*log_bytes as f64).min(exec_to_ready.as_secs_f64()),
        }
    }
}

fn per_sec(moved: &Moved) -> f64 {
    moved.records as f64 / moved.elapsed.as_secs_f64().max(1e-9)
}

const COLUMNS: [&str; 7] = [
    "workload",
    "records",
    "records/s",
    "MB/s",
    "broker CPU s/GB",
    "broker peak RSS",
    "result",
];

impl Results {
    /// The summary: machine, target, and one markdown table.
    pub fn render(&self) -> String {
        let mut rows: Vec<[String; 7]> = vec![COLUMNS.map(String::from)];
        rows.extend(self.rows.iter().map(cells));
        let widths: Vec<usize> = (0..COLUMNS.len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        let _ = writeln!(out, "Machine: {}", self.machine);
        let _ = writeln!(out, "Broker: {}", self.target);
        let _ = writeln!(out);
        for (i, row) in rows.iter().enumerate() {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            let _ = writeln!(out, "| {} |", line.join(" | "));
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
            }
        }
        let _ = writeln!(
            out,
            "\nMB = 10^6 bytes of record values; CPU s/GB = broker utime+stime per 10^9 value \
             bytes in + out; peak RSS = VmHWM since the broker started."
        );
        out
    }
}

fn cells(row: &Row) -> [String; 7] {
    let na = || "n/a".to_string();
    let dash = || "–".to_string();
    let throughput = |moved: &Moved, broker: &Option<BrokerCost>| {
        [
            thousands(moved.records),
            thousands(per_sec(moved).round() as u64),
            format!(
                "{:.1}",
                moved.bytes as f64 / MB / moved.elapsed.as_secs_f64()
            ),
            broker.map_or_else(na, |b| {
                format!("{:.2}", b.cpu_secs / (b.bytes_moved as f64 / GB).max(1e-12))
            }),
            broker.map_or_else(na, |b| mib(b.peak_rss_bytes)),
        ]
    };
    let (numbers, result) = match &row.figures {
        Figures::Throughput { moved, broker } => (
            throughput(moved, broker),
            format!("{:.1} s elapsed", moved.elapsed.as_secs_f64()),
        ),
        Figures::Latency {
            moved,
            broker,
            latency,
            acked,
        } => {
            let line = |p: &Percentiles| {
                format!(
                    "p50 {} · p99 {} · p99.9 {} · max {}",
                    ms(p.p50),
                    ms(p.p99),
                    ms(p.p999),
                    ms(p.max)
                )
            };
            let mut result = format!("latency {}", line(latency));
            if let Some(acked) = acked {
                result.push_str(&format!("; send → ack {}", line(acked)));
            }
            (throughput(moved, broker), result)
        }
        Figures::IdleRss { rss_bytes } => (
            [dash(), dash(), dash(), dash(), dash()],
            format!("idle RSS {}", mib(*rss_bytes)),
        ),
        Figures::IdleConnections {
            connections,
            rss_bytes_added,
        } => (
            [dash(), dash(), dash(), dash(), dash()],
            format!(
                "{} connections added {} to the broker's RSS: {:.1} KiB per connection",
                thousands(*connections),
                mib(*rss_bytes_added),
                *rss_bytes_added as f64 / 1024.0 / (*connections).max(1) as f64
            ),
        ),
        Figures::StartToApiVersions { elapsed } => (
            [dash(), dash(), dash(), dash(), dash()],
            format!("exec → first ApiVersions answer {}", ms(*elapsed)),
        ),
        Figures::Comparison { text, .. } => {
            ([dash(), dash(), dash(), dash(), dash()], text.clone())
        }
        Figures::Recovery {
            log_bytes,
            exec_to_ready,
            logs_loaded,
            peak_rss_bytes,
        } => {
            let scan = logs_loaded.unwrap_or(*exec_to_ready);
            (
                [dash(), dash(), dash(), dash(), mib(*peak_rss_bytes)],
                format!(
                    "{:.2} GB log: exec → ready {:.2} s, logs loaded in {:.2} s ({:.2} GB/s)",
                    *log_bytes as f64 / GB,
                    exec_to_ready.as_secs_f64(),
                    scan.as_secs_f64(),
                    *log_bytes as f64 / GB / scan.as_secs_f64().max(1e-3)
                ),
            )
        }
    };
    let [a, b, c, d, e] = numbers;
    [row.workload.clone(), a, b, c, d, e, result]
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(ms(Duration::from_micros(1_500)), "1.50 ms");
    }

    #[test]
    fn renders_a_table() {
        let results = Results {
            machine: "2 CPUs".into(),
            target: "local".into(),
            rows: vec![
                Row {
                    workload: "P1".into(),
                    figures: Figures::Throughput {
                        moved: Moved {
                            records: 2_000,
                            bytes: 2_000_000,
                            elapsed: Duration::from_secs(2),
                        },
                        broker: None,
                    },
                },
                Row {
                    workload: "P5 idle".into(),
                    figures: Figures::IdleRss { rss_bytes: 1 << 20 },
                },
            ],
        };
        let table = results.render();
        assert!(
            table.contains("| P1       | 2,000   | 1,000     | 1.0  | n/a"),
            "{table}"
        );
        assert!(table.contains("idle RSS 1.0 MiB"), "{table}");
    }
}
