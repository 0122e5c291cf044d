//! The broker's cost of idempotence where it is paid: the partition log's append of a batch,
//! plain versus idempotent (the producer-state check and record, from the batch header), run
//! side by side in one process with no client and no network, so that the ratio does not
//! move with librdkafka's batching or with the client competing for the CPUs (which swing the
//! end-to-end P1 rows by ±15 % between runs on a 2-vCPU machine).
//!
//! Each round appends the same prebuilt batches to a fresh log in a temporary directory (page
//! cache, no fsync) for each variant in turn; rounds alternate the order. Printed: a markdown
//! table of the median and best time per batch and the idempotent / plain ratio.
//!
//! `cargo run --release -p kavka-bench --bin append_cost -- [BATCHES] [RECORDS] [VALUE_BYTES] [ROUNDS]`
//! (defaults 20000 batches of 50 records of 100 B, 7 rounds).

use std::time::Instant;

use anyhow::{Context, Result};
use kavka_protocol::batch::Compression;
use kavka_protocol::records::BatchBuilder;
use kavka_storage::{LogConfig, PartitionLog};

fn arg(i: usize, default: usize) -> Result<usize> {
    std::env::args().nth(i).map_or(Ok(default), |a| {
        a.parse().with_context(|| format!("argument {i}: {a}"))
    })
}

/// `batches` batches of `records` values; with a producer id when `idempotent`, its
/// sequences following on from batch to batch.
fn build(
    batches: usize,
    records: usize,
    value_bytes: usize,
    idempotent: bool,
) -> Result<Vec<Vec<u8>>> {
    let value = vec![7u8; value_bytes];
    (0..batches)
        .map(|i| {
            let mut b = BatchBuilder::new(Compression::None);
            if idempotent {
                let seq = i32::try_from(i * records).context("sequence past i32")?;
                b = b.with_producer(1, 0, seq);
            }
            for r in 0..records {
                b.append(1_000 + r as i64, None, Some(&value), &[]);
            }
            Ok(b.build().context("build batch")?.to_vec())
        })
        .collect()
}

/// Seconds to append every batch to a fresh log.
fn append_all(batches: &[Vec<u8>]) -> Result<f64> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), true)?;
    let start = Instant::now();
    for batch in batches {
        log.append_batch(batch, 0, 1_000)?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    drop(log);
    Ok(elapsed)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let (batches, records, value_bytes, rounds) =
        (arg(1, 20_000)?, arg(2, 50)?, arg(3, 100)?, arg(4, 7)?);
    let plain = build(batches, records, value_bytes, false)?;
    let idempotent = build(batches, records, value_bytes, true)?;
    let (mut p, mut i) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            p.push(append_all(&plain)?);
            i.push(append_all(&idempotent)?);
        } else {
            i.push(append_all(&idempotent)?);
            p.push(append_all(&plain)?);
        }
    }
    let per_batch_us = |s: f64| s / batches as f64 * 1e6;
    let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (pm, im) = (median(&mut p), median(&mut i));
    println!(
        "{batches} batches of {records} × {value_bytes} B, {rounds} rounds, appended to a fresh log each round\n"
    );
    println!("| append | median µs/batch | best µs/batch | MB/s (median) |");
    println!("|---|---|---|---|");
    let mb = (batches * records * value_bytes) as f64 / 1e6;
    for (name, m, b) in [("plain", pm, best(&p)), ("idempotent", im, best(&i))] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} |",
            per_batch_us(m),
            per_batch_us(b),
            mb / m
        );
    }
    println!(
        "\nidempotent / plain (median time per batch): {:.3}",
        im / pm
    );
    Ok(())
}
