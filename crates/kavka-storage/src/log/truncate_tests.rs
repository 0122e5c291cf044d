//! Truncation: what goes and what stays (segments, indexes, producers, epochs), appends after
//! it, reopening, and a crash at every step of it.

use std::path::Path;

use kavka_protocol::batch::{BatchIter, Compression};
use kavka_protocol::records::BatchBuilder;

use crate::config::LogConfig;
use crate::error::StorageError;
use crate::failpoint::FailPoint;
use crate::producer_state::ProducerError;
use crate::PartitionLog;

const PRODUCER: i64 = 42;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

/// Batch `i` of the fixed log: 3 records of producer [`PRODUCER`], sequence `3 * i`.
fn batch(i: i32) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).with_producer(PRODUCER, 0, 3 * i);
    for r in 0..3 {
        let value = format!("v{}", 3 * i + r);
        b.append(1_000 + i64::from(i), None, Some(value.as_bytes()), &[]);
    }
    b.build().unwrap().to_vec()
}

/// 30 batches (offsets 0..90), leader epoch 1 for the first 12, 4 for the rest.
fn build(dir: &Path) -> PartitionLog {
    let (mut log, _) = PartitionLog::open(dir, config(), true).unwrap();
    for i in 0..30 {
        let epoch = if i < 12 { 1 } else { 4 };
        log.append_batch(&batch(i), epoch, 1_000).unwrap();
    }
    assert!(log.segment_count() > 3, "{} segments", log.segment_count());
    log
}

/// Every batch's (base offset, bytes), read through the index from the log start.
fn batches(log: &PartitionLog) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let slice = log.read(offset, usize::MAX, true).unwrap();
        let bytes = slice.read_bytes().unwrap();
        for view in BatchIter::new(&bytes) {
            let view = view.unwrap();
            out.push((view.base_offset(), view.as_bytes().to_vec()));
        }
        offset = slice.next_offset;
    }
    out
}

fn epochs(log: &PartitionLog) -> Vec<(i32, i64)> {
    log.leader_epochs()
        .entries()
        .iter()
        .map(|e| (e.epoch, e.start_offset))
        .collect()
}

/// What a log truncated at 40 holds: batches 0..=12 (offset 40 is inside batch 13, which goes
/// whole: the log ends at 39), epoch 4 starting at 36.
fn check_truncated(log: &PartitionLog, original: &[(i64, Vec<u8>)]) {
    assert_eq!(log.log_end_offset(), 39);
    assert_eq!(batches(log), original[..13]);
    assert_eq!(epochs(log), [(1, 0), (4, 36)]);
    // Reads through the rebuilt index land on batch boundaries.
    let slice = log.read(30, 1, true).unwrap();
    assert_eq!(slice.next_offset, 33);
}

#[test]
fn truncation_keeps_a_prefix_and_appends_continue_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = build(dir.path());
    let original = batches(&log);
    assert_eq!(log.truncate_to(90).unwrap(), 90, "at the end: nothing");
    assert_eq!(log.truncate_to(40).unwrap(), 39);
    check_truncated(&log, &original);
    assert_eq!(
        log.end_offset_for_epoch(4),
        (4, 39),
        "the latest epoch ends at the new end"
    );
    // The producer's state went back with the log: its batch 13 is new again, not a duplicate,
    // and a gap is refused.
    let gap = log.append_batch(&batch(14), 5, 2_000).unwrap_err();
    assert!(matches!(
        gap,
        StorageError::Producer(ProducerError::OutOfOrderSequence { .. })
    ));
    let again = log.append_batch(&batch(13), 5, 2_000).unwrap();
    assert!(!again.duplicate);
    assert_eq!(again.base_offset, 39);
    assert_eq!(epochs(&log), [(1, 0), (4, 36), (5, 39)]);
    log.close().unwrap();
    for clean in [true, false] {
        let (log, _) = PartitionLog::open(dir.path(), config(), clean).unwrap();
        assert_eq!(log.log_end_offset(), 42);
        assert_eq!(batches(&log)[..13], original[..13]);
        log.close().unwrap();
    }
}

#[test]
fn truncation_below_the_log_start_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = build(dir.path());
    log.delete_records(30).unwrap();
    assert!(matches!(
        log.truncate_to(20),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.truncate_to(30).unwrap(), 30);
    assert_eq!(log.log_end_offset(), log.log_start_offset());
    assert!(epochs(&log).is_empty());
}

#[test]
fn a_crash_at_any_step_of_truncation_leaves_a_prefix_that_truncates_again() {
    let template = tempfile::tempdir().unwrap();
    build(template.path()).close().unwrap();
    for step in 0.. {
        let dir = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(template.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
        let (mut log, _) = PartitionLog::open(dir.path(), config(), true).unwrap();
        let original = batches(&log);
        let mut failpoint = FailPoint::after(step);
        let result = log.truncate_to_with(40, &mut failpoint);
        if !failpoint.fired() {
            assert_eq!(result.unwrap(), 39);
            check_truncated(&log, &original);
            assert!(step > 4, "only {step} crash points");
            break;
        }
        assert!(result.is_err());
        drop(log);
        let (mut log, _) = PartitionLog::open(dir.path(), config(), false).unwrap();
        let end = log.log_end_offset();
        let kept = batches(&log);
        assert!((39..=90).contains(&end), "step {step}: end {end}");
        assert_eq!(kept, original[..kept.len()], "step {step}: not a prefix");
        assert_eq!(log.truncate_to(40).unwrap(), 39, "step {step}");
        check_truncated(&log, &original);
    }
}

#[test]
fn a_follower_below_its_leaders_start_restarts_empty_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = build(dir.path());
    assert!(matches!(
        log.truncate_fully_and_start_at(90),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    log.truncate_fully_and_start_at(500).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 500));
    assert_eq!(log.segment_count(), 1);
    assert!(epochs(&log).is_empty());
    assert_eq!(log.producer_state().entries().count(), 0);
    // The leader's batches from there on are taken as they are.
    let mut leaders = batch(0);
    leaders[..8].copy_from_slice(&500i64.to_be_bytes());
    leaders[12..16].copy_from_slice(&7i32.to_be_bytes());
    log.append_as_follower(&leaders, 2_000).unwrap();
    assert_eq!(log.log_end_offset(), 503);
    assert_eq!(epochs(&log), vec![(7, 500)]);
    // Reopened cleanly or not, it starts at 500.
    drop(log);
    for clean in [true, false] {
        let (log, _) = PartitionLog::open(dir.path(), config(), clean).unwrap();
        assert_eq!((log.log_start_offset(), log.log_end_offset()), (500, 503));
        assert_eq!(batches(&log).len(), 1);
    }
}
