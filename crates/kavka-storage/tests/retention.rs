//! Retention by time and size, DeleteRecords, and the durable log start offset.

mod common;

use std::path::Path;

use common::*;
use kavka_storage::{LogConfig, PartitionLog, StorageError, LOG_START_OFFSET_FILE};

/// 10 records per segment: each batch of 1 record is ~150 bytes, segments 1 500 bytes.
fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_500,
        index_interval_bytes: 200,
        ..LogConfig::default()
    }
}

/// A log of `records` single-record batches, record `i` stamped `1_000 * i`.
fn log_with(dir: &Path, records: i64) -> PartitionLog {
    let (mut log, _) = PartitionLog::open(dir, config(), true).unwrap();
    for i in 0..records {
        log.append_batch(&batch(1, 80, 1_000 * i), 0, 1_000 * i)
            .unwrap();
    }
    log
}

fn assert_out_of_range(log: &PartitionLog, offset: i64) {
    assert!(
        matches!(
            log.read(offset, 1_000, true),
            Err(StorageError::OffsetOutOfRange { .. })
        ),
        "read({offset})"
    );
}

#[test]
fn time_retention_deletes_old_segments_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with(dir.path(), 45);
    let bases = log.segment_base_offsets();
    assert!(bases.len() >= 4, "{bases:?}");
    let config = LogConfig {
        retention_ms: 10_000,
        ..config()
    };
    log.set_config(config.clone());
    // The second segment's newest record is 1_000 * (bases[2] - 1).
    let second_newest_ms = 1_000 * (bases[2] - 1);
    let outcome = log.apply_retention(second_newest_ms + 10_000).unwrap();
    assert_eq!(
        outcome.deleted_segments, 1,
        "only the first is older than 10 s"
    );
    assert_eq!(outcome.log_start_offset, bases[1]);
    let outcome = log.apply_retention(second_newest_ms + 10_001).unwrap();
    assert_eq!(outcome.deleted_segments, 1);
    assert_eq!(log.log_start_offset(), bases[2]);
    assert_out_of_range(&log, bases[2] - 1);
    assert_eq!(log.read(bases[2], 1, true).unwrap().first_offset, bases[2]);
    // Far in the future: everything but the active segment.
    let end = log.log_end_offset();
    let outcome = log.apply_retention(i64::MAX).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert_eq!(outcome.log_start_offset, *bases.last().unwrap());
    assert_eq!(log.log_end_offset(), end);
    assert!(!segment_file(dir.path(), bases[0], "log").exists());
    // Survives a clean reopen and a crash.
    log.close().unwrap();
    let (log, _) = PartitionLog::open(dir.path(), config.clone(), true).unwrap();
    assert_eq!(log.log_start_offset(), *bases.last().unwrap());
    drop(log);
    let (mut log, _) = PartitionLog::open(dir.path(), config, false).unwrap();
    assert_eq!(log.log_start_offset(), *bases.last().unwrap());
    assert_out_of_range(&log, 0);
    assert_eq!(
        log.append_batch(&batch(1, 1, 1), 0, 1).unwrap().base_offset,
        end
    );
}

#[test]
fn size_retention_keeps_at_least_retention_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with(dir.path(), 45);
    let segments = log.segment_count();
    let total = log.size_bytes();
    let retention_bytes = (total / 2) as i64;
    log.set_config(LogConfig {
        retention_bytes,
        ..config()
    });
    let outcome = log.apply_retention(0).unwrap();
    assert!(outcome.deleted_segments > 0);
    assert_eq!(log.size_bytes(), total - outcome.deleted_bytes);
    assert!(log.size_bytes() as i64 >= retention_bytes);
    assert_eq!(log.segment_count(), segments - outcome.deleted_segments);
    assert_eq!(outcome.log_start_offset, log.segment_base_offsets()[0]);
    // Dropping one more segment would go below the limit: nothing more to do.
    assert_eq!(log.apply_retention(0).unwrap().deleted_segments, 0);
    // retention.bytes 0 empties everything but the active segment.
    log.set_config(LogConfig {
        retention_bytes: 0,
        ..config()
    });
    log.apply_retention(0).unwrap();
    assert_eq!(log.segment_count(), 1);
    // Unlimited, or cleanup.policy=compact only: nothing happens.
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with(dir.path(), 45);
    log.set_config(LogConfig {
        retention_ms: -1,
        retention_bytes: -1,
        ..config()
    });
    assert_eq!(log.apply_retention(i64::MAX).unwrap().deleted_segments, 0);
    let mut compact_only = config();
    compact_only.cleanup_policy.delete = false;
    compact_only.cleanup_policy.compact = true;
    compact_only.retention_ms = 0;
    log.set_config(compact_only);
    assert_eq!(log.apply_retention(i64::MAX).unwrap().deleted_segments, 0);
}

#[test]
fn delete_records_moves_the_start_inside_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with(dir.path(), 45);
    let bases = log.segment_base_offsets();
    assert!(matches!(
        log.delete_records(-1),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.delete_records(46),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let inside = bases[1] + 3;
    assert_eq!(log.delete_records(inside).unwrap(), inside);
    assert_eq!(log.log_start_offset(), inside);
    assert_eq!(
        log.segment_base_offsets()[0],
        bases[1],
        "the first segment went"
    );
    assert_out_of_range(&log, inside - 1);
    assert_out_of_range(&log, 0);
    assert_eq!(log.read(inside, 1, true).unwrap().first_offset, inside);
    assert!(
        matches!(
            log.delete_records(inside - 1),
            Err(StorageError::OffsetOutOfRange { .. })
        ),
        "never backwards"
    );
    assert_eq!(log.delete_records(inside).unwrap(), inside);
    assert_eq!(log.offset_for_timestamp(0).unwrap().unwrap().0, inside);
    // Across a clean reopen.
    log.close().unwrap();
    let (log, _) = PartitionLog::open(dir.path(), config(), true).unwrap();
    assert_eq!(log.log_start_offset(), inside);
    assert_out_of_range(&log, inside - 1);
    // Up to the log end: the active segment stays, empty reads at the end.
    let mut log = log;
    let end = log.log_end_offset();
    assert_eq!(log.delete_records(end).unwrap(), end);
    assert_eq!(log.segment_count(), 1);
    assert!(log.read(end, 100, true).unwrap().is_empty());
    assert_out_of_range(&log, end - 1);
    drop(log);
    let (mut log, _) = PartitionLog::open(dir.path(), config(), false).unwrap();
    assert_eq!(log.log_start_offset(), end);
    assert_eq!(
        log.append_batch(&batch(1, 1, 1), 0, 1).unwrap().base_offset,
        end
    );
}

#[test]
fn a_crash_after_the_checkpoint_never_resurrects_records() {
    // A crash between checkpointing the log start offset and deleting the segments below it.
    let dir = tempfile::tempdir().unwrap();
    let log = log_with(dir.path(), 45);
    let bases = log.segment_base_offsets();
    log.close().unwrap();
    let start = bases[2] + 1;
    std::fs::write(dir.path().join(LOG_START_OFFSET_FILE), format!("{start}\n")).unwrap();
    let (log, report) = PartitionLog::open(dir.path(), config(), false).unwrap();
    assert_eq!(report.deleted_below_log_start, 2);
    assert_eq!(log.log_start_offset(), start);
    assert_eq!(log.segment_base_offsets()[0], bases[2]);
    assert_out_of_range(&log, start - 1);
    assert!(!segment_file(dir.path(), bases[0], "log").exists());
}

#[test]
fn a_log_that_ends_below_its_start_restarts_empty_there() {
    // DeleteRecords up to unflushed data, then a crash that loses that data.
    let dir = tempfile::tempdir().unwrap();
    let mut log = log_with(dir.path(), 25);
    log.flush().unwrap();
    for i in 0..10 {
        log.append_batch(&batch(1, 80, i), 0, 0).unwrap();
    }
    let end = log.log_end_offset();
    assert_eq!(log.delete_records(end - 2).unwrap(), end - 2);
    let active = *log.segment_base_offsets().last().unwrap();
    drop(log);
    // The crash loses the unflushed tail: the active segment keeps two records.
    let path = segment_file(dir.path(), active, "log");
    let bytes = std::fs::read(&path).unwrap();
    let two = batch_spans(&bytes)[..2].iter().map(|s| s.2).sum::<usize>();
    assert!(active + 2 < end - 2);
    std::fs::write(&path, &bytes[..two]).unwrap();
    let (mut log, report) = PartitionLog::open(dir.path(), config(), false).unwrap();
    assert!(report.deleted_below_log_start > 0);
    assert_eq!(log.log_start_offset(), end - 2);
    assert_eq!(log.log_end_offset(), end - 2);
    assert_eq!(log.segment_base_offsets(), vec![end - 2]);
    assert_out_of_range(&log, 0);
    assert_eq!(
        log.append_batch(&batch(1, 1, 1), 0, 1).unwrap().base_offset,
        end - 2
    );
}
