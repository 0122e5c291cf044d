//! Crash injection into the install protocol: stop after each file operation, drop the log as a
//! crash would, reopen, and check that every offset is served once and nothing live was lost.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use kavka_protocol::batch::{BatchIter, Compression};
use kavka_protocol::records::{decode_records, BatchBuilder, Record};

use crate::config::{CleanupPolicy, LogConfig};
use crate::failpoint::FailPoint;
use crate::{CleanerConfig, PartitionLog};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_200,
        index_interval_bytes: 100,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// A fixed log: bursts of overwrites so that whole segments become superseded, a few
/// tombstones, one record per batch or several.
fn build(dir: &Path) -> PartitionLog {
    let (mut log, _) = PartitionLog::open(dir, config(), true).unwrap();
    let mut seed = 7u64;
    for i in 0..120i64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let records = 1 + (seed % 3) as usize;
        let mut b = BatchBuilder::new(Compression::None);
        for r in 0..records {
            let key = format!("k{}", (i / 20) * 3 + (seed >> 8) as i64 % 4 + r as i64);
            let value = (seed % 11 != 0).then(|| vec![b'v'; 40 + (seed % 30) as usize]);
            b.append(1_000 + i, Some(key.as_bytes()), value.as_deref(), &[]);
        }
        log.append_batch(&b.build().unwrap(), 0, 0).unwrap();
    }
    log
}

pub(crate) fn records(log: &PartitionLog) -> Vec<Record> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let slice = log.read(offset, usize::MAX, true).unwrap();
        let bytes = slice.read_bytes().unwrap();
        for view in BatchIter::new(&bytes) {
            out.extend(decode_records(&view.unwrap()).unwrap());
        }
        offset = slice.next_offset;
    }
    out
}

/// Every record is served once, equals the original at its offset, and each original record is
/// either there or superseded by a later record of its key that is there.
fn check_against(original: &[Record], log: &PartitionLog) {
    let got = records(log);
    for pair in got.windows(2) {
        assert!(pair[0].offset < pair[1].offset, "offsets go up: {pair:?}");
    }
    let by_offset: BTreeMap<i64, &Record> = original.iter().map(|r| (r.offset, r)).collect();
    let mut latest_present: BTreeMap<Option<Bytes>, i64> = BTreeMap::new();
    for r in &got {
        assert_eq!(by_offset[&r.offset], r, "record at {} changed", r.offset);
        latest_present.insert(r.key.clone(), r.offset);
    }
    for r in original {
        let present = latest_present.get(&r.key).is_some_and(|&o| o >= r.offset);
        assert!(present, "record {} (key {:?}) lost", r.offset, r.key);
    }
}

fn leftover_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect()
}

/// Copies the files of a partition directory (a cheap way to restart from the same log).
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Larger segments for the clean than for the appends, so that the clean groups segments.
fn grouping_config() -> LogConfig {
    LogConfig {
        segment_bytes: 3_000,
        ..config()
    }
}

#[test]
fn a_crash_at_any_step_of_install_leaves_a_valid_log() {
    let template = tempfile::tempdir().unwrap();
    build(template.path()).close().unwrap();
    for step in 0.. {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(template.path(), dir.path());
        let (mut log, _) = PartitionLog::open(dir.path(), grouping_config(), true).unwrap();
        let original = records(&log);
        let segments_before = log.segment_count();
        let task = log.clean_task(0).expect("a clean is due");
        let cleaned = task.run(&CleanerConfig::default(), 0).unwrap();
        drop(task);
        let mut failpoint = FailPoint::after(step);
        let result = log.install_cleaned_with(cleaned, &mut failpoint);
        if !failpoint.fired() {
            let stats = result.unwrap();
            assert!(
                stats.segments_replaced > stats.segments_installed,
                "{stats:?}"
            );
            assert!(log.segment_count() < segments_before);
            check_against(&original, &log);
            assert!(step > 10, "only {step} crash points");
            break;
        }
        assert!(result.is_err());
        if log.needs_reopen() {
            assert!(log.clean_task(0).is_none(), "a broken log refuses to clean");
            assert!(log.delete_records(log.log_start_offset()).is_err());
        }
        drop(log);
        let clean_shutdown = step % 2 == 0;
        let (mut log, report) =
            PartitionLog::open(dir.path(), grouping_config(), clean_shutdown).unwrap();
        assert!(
            leftover_files(dir.path()).is_empty(),
            "step {step}: {report:?}"
        );
        check_against(&original, &log);
        if step % 4 != 3 {
            continue;
        }
        // The reopened log appends, cleans to completion and reopens cleanly.
        let end = log.log_end_offset();
        let mut b = BatchBuilder::new(Compression::None);
        b.append(5_000, Some(b"tail"), Some(b"t"), &[]);
        let info = log.append_batch(&b.build().unwrap(), 0, 0).unwrap();
        assert_eq!(info.base_offset, end);
        let mut expected = original.clone();
        expected.push(records(&log).pop().unwrap());
        while let Some(task) = log.clean_task(0) {
            let cleaned = task.run(&CleanerConfig::default(), 0).unwrap();
            log.install_cleaned(cleaned).unwrap();
        }
        check_against(&expected, &log);
        log.close().unwrap();
        let (log, report) = PartitionLog::open(dir.path(), grouping_config(), true).unwrap();
        assert_eq!(report.rebuilt_indexes, 0);
        check_against(&expected, &log);
    }
}

#[test]
fn a_crash_during_run_leaves_the_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = build(dir.path());
    let original = records(&log);
    let task = log.clean_task(0).unwrap();
    let cleaned = task.run(&CleanerConfig::default(), 0).unwrap();
    assert!(!leftover_files(dir.path()).is_empty());
    // A crash: nothing runs the destructors.
    std::mem::forget(cleaned);
    drop(log);
    let (log, report) = PartitionLog::open(dir.path(), config(), false).unwrap();
    assert!(report.removed_clean_files > 0);
    assert!(leftover_files(dir.path()).is_empty());
    assert_eq!(records(&log), original);
}

#[test]
fn dropping_a_result_removes_its_files_and_allows_the_next_clean() {
    let dir = tempfile::tempdir().unwrap();
    let log = build(dir.path());
    let task = log.clean_task(0).unwrap();
    assert!(log.clean_task(0).is_none(), "one clean at a time");
    let cleaned = task.run(&CleanerConfig::default(), 0).unwrap();
    drop(task);
    assert!(
        log.clean_task(0).is_none(),
        "the result still holds the log"
    );
    drop(cleaned);
    assert!(leftover_files(dir.path()).is_empty());
    assert!(log.clean_task(0).is_some());
}
