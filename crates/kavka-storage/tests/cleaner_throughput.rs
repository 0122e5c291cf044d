//! Cleaner throughput, for reports: `cargo test -p kavka-storage --release -- --ignored
//! --nocapture cleaner_throughput`. A 64 MiB log of 1 KiB records over 10 000 keys, in
//! 16-record batches, is cleaned once (uncompressed, then LZ4 at about 2:1).

mod common;

use std::time::Instant;

use common::*;
use kavka_protocol::batch::Compression;
use kavka_storage::{CleanerConfig, CleanupPolicy, LogConfig, PartitionLog};

const LOG_BYTES: u64 = 64 << 20;
const KEYS: u64 = 10_000;
const VALUE_BYTES: usize = 1_024;
const RECORDS_PER_BATCH: usize = 16;

fn measure(codec: Compression) {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 16 << 20,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        ..LogConfig::default()
    };
    let (mut log, _) = PartitionLog::open(dir.path(), config, true).unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut records = 0u64;
    while log.size_bytes() < LOG_BYTES {
        let keys: Vec<String> = (0..RECORDS_PER_BATCH)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                format!("key-{:05}", seed % KEYS)
            })
            .collect();
        // Half random, half repeated bytes: about 2:1 for the compressed run.
        let values: Vec<Vec<u8>> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let mut v = format!("{k}:{records}:{i}:").into_bytes();
                while v.len() < VALUE_BYTES / 2 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    v.extend_from_slice(&seed.to_le_bytes());
                }
                v.resize(VALUE_BYTES, b'a' + (records % 26) as u8);
                v
            })
            .collect();
        let batch: Vec<KeyValue<'_>> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (Some(k.as_bytes()), Some(v.as_slice())))
            .collect();
        let bytes = keyed_batch(&batch, 1_000, codec);
        log.append_batch(&bytes, 0, 1_000).unwrap();
        records += RECORDS_PER_BATCH as u64;
    }
    // Roll (segment.ms), so that everything written is in closed segments.
    let later_ms = 1_000 + log.config().segment_ms + 1;
    log.append_batch(
        &keyed_batch(&[(Some(b"last"), Some(b"x"))], 1_000, codec),
        0,
        later_ms,
    )
    .unwrap();
    log.flush().unwrap();
    let before = log.size_bytes();
    let segments_before = log.segment_count();
    let started = Instant::now();
    let task = log.clean_task(2_000).expect("a clean is due");
    let cleaned = task.run(&CleanerConfig::default(), 2_000).unwrap();
    let run_ms = started.elapsed().as_secs_f64() * 1e3;
    let installed = Instant::now();
    let stats = log.install_cleaned(cleaned).unwrap();
    let install_ms = installed.elapsed().as_secs_f64() * 1e3;
    let after = log.size_bytes();
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "{}: {records} records, {KEYS} keys: {:.1} MiB in {segments_before} segments -> {:.1} MiB \
         in {} segments; run {run_ms:.0} ms ({:.0} MiB/s of log cleaned, offset map over {:.1} MiB \
         included), install {install_ms:.1} ms; {} of {} records kept",
        codec.name(),
        mb(before),
        mb(after),
        log.segment_count(),
        mb(stats.bytes_read) / (run_ms / 1e3),
        mb(stats.map_bytes_read),
        stats.records_kept,
        stats.records_read,
    );
    assert!(after < before / 4);
    assert!(stats.records_kept <= KEYS);
}

#[test]
#[ignore = "a measurement: run with --release -- --ignored --nocapture"]
fn cleaner_throughput() {
    measure(Compression::None);
    measure(Compression::Lz4);
}
