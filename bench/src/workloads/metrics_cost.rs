//! P9: what the broker's metrics cost the request path. Two brokers side by side: one without
//! an HTTP listener (no metrics at all: the request path skips them) and one with (every
//! request timed, every produced and fetched partition counted). The same 100 B produce and
//! its consume run against each, in alternating order over [`ROUNDS`] rounds; each run is a
//! row, and a last row gives the ratios on / off of the broker CPU per GB and of records/s,
//! over the totals of the produce runs and of the consume runs. The "on" broker's `/metrics` is read at the end to check that it counted
//! every record it took in.

use std::io::{Read, Write};
use std::sync::atomic::AtomicU64;

use anyhow::{ensure, Context, Result};

use super::{produce_once, Target};
use crate::kafka;
use crate::progress::with_progress;
use crate::report::{Figures, Row};
use crate::Options;

/// Rounds of (off, on) runs; the order alternates between rounds. The broker's CPU time is
/// read in clock ticks (10 ms): totals over several rounds of full-size runs keep that
/// rounding within about 1 %.
const ROUNDS: usize = 4;
/// Size of the produced records: small, where per-request costs weigh most.
const VALUE_SIZE: usize = 100;

pub(crate) fn run(o: &Options) -> Result<Vec<Row>> {
    let http = free_port()?;
    let off = Target::local(o, &[])?;
    let on_setting = format!("kavka.http.listener=127.0.0.1:{http}");
    let on = Target::local(o, &[on_setting.as_str()])?;
    let records = o.records_100b.max(1);
    let mut rows = Vec::new();
    // Totals by [produce, consume] and [off, on].
    let mut totals = [[Total::default(); 2]; 2];
    for round in 0..ROUNDS {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            let (target, label) = if which == 0 {
                (&off, "off")
            } else {
                (&on, "on")
            };
            let workload = format!("P9 produce 100 B, metrics {label} (round {})", round + 1);
            let (row, topic) = produce_once(target, o, records, VALUE_SIZE, &workload)?;
            totals[0][which].add(&row);
            rows.push(row);
            let workload = format!("P9 consume 100 B, metrics {label} (round {})", round + 1);
            let row = consume(target, o, &topic, records, &workload)?;
            totals[1][which].add(&row);
            rows.push(row);
        }
    }
    let counted = messages_in(http)?;
    ensure!(
        counted >= (records * ROUNDS as u64) as f64,
        "the metered broker counted {counted} records in, fewer than the {} produced",
        records * ROUNDS as u64
    );
    let ratio = |t: &[Total; 2]| {
        (
            t[1].cpu_per_gb() / t[0].cpu_per_gb().max(1e-12),
            t[1].rate() / t[0].rate().max(1e-12),
        )
    };
    let (produce_cpu, produce_rate) = ratio(&totals[0]);
    let (consume_cpu, consume_rate) = ratio(&totals[1]);
    rows.push(Row {
        workload: "P9 metrics on / off".into(),
        figures: Figures::Comparison {
            // Records/s: CPU time is read in 10 ms ticks, which a smoke run may not reach.
            ratio: produce_rate,
            text: format!(
                "produce: broker CPU s/GB ×{produce_cpu:.3}, records/s ×{produce_rate:.3}; \
                 consume: ×{consume_cpu:.3}, ×{consume_rate:.3} (totals over {ROUNDS} rounds; \
                 {counted} records counted in)"
            ),
        },
    });
    off.close()?;
    on.close()?;
    Ok(rows)
}

/// What the runs of one kind against one broker add up to.
#[derive(Debug, Default, Clone, Copy)]
struct Total {
    cpu_secs: f64,
    bytes: f64,
    records: f64,
    secs: f64,
}

impl Total {
    fn add(&mut self, row: &Row) {
        if let Figures::Throughput {
            moved,
            broker: Some(b),
        } = &row.figures
        {
            self.cpu_secs += b.cpu_secs;
            self.bytes += b.bytes_moved as f64;
            self.records += moved.records as f64;
            self.secs += moved.elapsed.as_secs_f64();
        }
    }

    fn cpu_per_gb(&self) -> f64 {
        self.cpu_secs / (self.bytes / 1e9).max(1e-12)
    }

    fn rate(&self) -> f64 {
        self.records / self.secs.max(1e-9)
    }
}

fn consume(target: &Target, o: &Options, topic: &str, records: u64, workload: &str) -> Result<Row> {
    let counter = AtomicU64::new(0);
    let (moved, broker) = target.measure(|| {
        let moved = with_progress(workload, o.progress_every(), &counter, || {
            kafka::consume_all(
                &target.bootstrap,
                topic,
                o.partitions,
                &counter,
                Some(records),
                false,
            )
        })?;
        Ok((moved, moved.bytes))
    })?;
    Ok(Row {
        workload: workload.to_string(),
        figures: Figures::Throughput { moved, broker },
    })
}

/// A port free now (bound and released).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// The all-topics `messagesin_total` of the broker serving `/metrics` on `port`.
fn messages_in(port: u16) -> Result<f64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).context("/metrics")?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )?;
    let mut page = String::new();
    s.read_to_string(&mut page)?;
    page.lines()
        .find_map(|l| l.strip_prefix("kafka_server_brokertopicmetrics_messagesin_total "))
        .and_then(|v| v.trim().parse().ok())
        .context("no kafka_server_brokertopicmetrics_messagesin_total in /metrics")
}
