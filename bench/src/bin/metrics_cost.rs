//! What the broker's metrics cost per request where they are paid: the calls a Produce request
//! naming `PARTITIONS` partitions makes (`request_done`, then `produced` for each partition)
//! and those of a Fetch (`request_done`, `fetched` for each), timed in a loop on a `Metrics` of
//! their own, on one thread and then on two at once (the broker's two workers sharing the
//! counters), with the broker's upkeep (draining the request-time histograms) every 5 s.
//! End to end the P9 rows cannot show a difference of a few per cent: they swing by more
//! than that from run to run on this machine; this is the cost itself, to set against the
//! broker CPU per request that P9 prints.
//!
//! `cargo run --release -p kavka-bench --bin metrics_cost -- [REQUESTS] [PARTITIONS]`
//! (defaults 2 000 000 requests of 6 partitions).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use kavka_broker::observe::Metrics;
use kavka_protocol::api::ApiKey;

/// The broker's upkeep interval.
const UPKEEP: Duration = Duration::from_secs(5);

fn arg(i: usize, default: usize) -> Result<usize> {
    std::env::args().nth(i).map_or(Ok(default), |a| {
        a.parse().with_context(|| format!("argument {i}: {a}"))
    })
}

/// Nanoseconds per request of `requests` requests on each of `threads` threads.
fn run(m: &Arc<Metrics>, requests: usize, topics: &[String], threads: usize, fetch: bool) -> f64 {
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let m = m.clone();
            // As partitions do: each keeps its topic's handle.
            let handles: Vec<_> = topics.iter().map(|t| m.topic(t)).collect();
            std::thread::spawn(move || {
                let mut last_upkeep = Instant::now();
                let api = if fetch {
                    ApiKey::Fetch
                } else {
                    ApiKey::Produce
                };
                for _ in 0..requests {
                    let arrived = Instant::now();
                    for t in &handles {
                        if fetch {
                            t.fetched(16_384, false, false);
                        } else {
                            t.produced(160, 16_384);
                        }
                    }
                    m.request_done(api, 9, arrived);
                    if last_upkeep.elapsed() > UPKEEP {
                        m.upkeep();
                        last_upkeep = Instant::now();
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    started.elapsed().as_nanos() as f64 / requests as f64
}

fn main() -> Result<()> {
    let requests = arg(1, 2_000_000)?;
    let partitions = arg(2, 6)?;
    // One topic per partition.
    let topics: Vec<String> = (0..partitions).map(|i| format!("topic-{i}")).collect();
    println!("| requests of {partitions} partitions | threads | ns per request |");
    println!("|---|---|---|");
    for fetch in [false, true] {
        for threads in [1, 2] {
            let m = Arc::new(Metrics::new());
            // Warm: every handle registered.
            run(&m, 1_000, &topics, 1, fetch);
            let ns = run(&m, requests, &topics, threads, fetch);
            let what = if fetch { "Fetch" } else { "Produce" };
            println!("| {what} | {threads} | {ns:.0} |");
        }
    }
    Ok(())
}
