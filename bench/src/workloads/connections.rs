//! P8: many idle client connections beside one active producer. `--idle-connections`
//! connections (default 2 000) each ask ApiVersions once and then stay open, as the idle
//! clients of a busy cluster do; the broker's RSS is read before and after them (RSS per
//! connection), and the same produce (1 KiB, acks=1) runs once with none of them and once with
//! all of them open, so that what they cost the active client shows as a throughput ratio.

use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::{produce_once, Target};
use crate::report::{Figures, Row};
use crate::Options;

/// Size of the produced records.
const VALUE_SIZE: usize = 1024;
/// How long the broker settles after the connections opened before its RSS is read.
const SETTLE: Duration = Duration::from_secs(1);
/// The correlation id of the idle connections' ApiVersions request.
const CORRELATION_ID: i32 = 0x6b61_7638;

pub(crate) fn run(target: &Target, o: &Options) -> Result<Vec<Row>> {
    raise_open_file_limit(o.idle_connections)?;
    let records = (o.records_1k / 2).max(1);
    let mut rows = vec![
        produce_once(
            target,
            o,
            records,
            VALUE_SIZE,
            "P8 produce 1 KiB acks=1, one connection",
        )?
        .0,
    ];
    std::thread::sleep(SETTLE);
    let before = target.rss_bytes();
    let mut idle = Vec::with_capacity(o.idle_connections);
    for _ in 0..o.idle_connections {
        idle.push(open_idle(&target.bootstrap)?);
    }
    std::thread::sleep(SETTLE);
    let after = target.rss_bytes();
    if let (Some(before), Some(after)) = (before, after) {
        rows.push(Row {
            workload: format!("P8 {} idle connections", o.idle_connections),
            figures: Figures::IdleConnections {
                connections: o.idle_connections as u64,
                rss_bytes_added: after.saturating_sub(before),
            },
        });
    }
    let beside = format!(
        "P8 produce 1 KiB acks=1 beside {} idle connections",
        o.idle_connections
    );
    rows.push(produce_once(target, o, records, VALUE_SIZE, &beside)?.0);
    // Every idle connection must still be served: one more ApiVersions on each would cost a
    // round trip per connection; the first one is enough to show they were all accepted.
    drop(idle);
    Ok(rows)
}

/// A connection that has asked ApiVersions v0 and got its answer.
fn open_idle(bootstrap: &str) -> Result<TcpStream> {
    let mut stream =
        TcpStream::connect(bootstrap).with_context(|| format!("connecting to {bootstrap}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    super::footprint::api_versions_exchange(&mut stream, CORRELATION_ID)?;
    Ok(stream)
}

/// The benchmark's own descriptor limit must hold every idle connection and the client's.
fn raise_open_file_limit(connections: usize) -> Result<()> {
    let want = connections as u64 + 1024;
    let out = std::process::Command::new("sh")
        .args(["-c", "ulimit -n"])
        .output()
        .context("reading the open-file limit")?;
    let current: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    if current >= want {
        return Ok(());
    }
    bail!(
        "P8 needs {want} open files and the limit is {current}: bench/run raises it to the hard \
         limit; run kavka-bench under `ulimit -n {want}`"
    )
}
