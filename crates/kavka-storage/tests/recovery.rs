//! Opening a damaged log: torn tails, flipped bytes, garbage, broken or missing indexes.

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use common::*;
use kavka_storage::{LogConfig, PartitionLog, RecoveryReport};

/// Appends `batches` single-segment batches of 4 records; returns the log's bytes. Drops the log
/// without closing it (a crash).
fn crashed_log(dir: &Path, config: &LogConfig, batches: usize) -> Vec<u8> {
    let (mut log, _) = PartitionLog::open(dir, config.clone(), true).unwrap();
    let mut all = Vec::new();
    for i in 0..batches {
        let bytes = batch(4, 50, 1_000 + i as i64);
        let (_, stored) = append(&mut log, &bytes, 0, 0);
        all.extend_from_slice(&stored);
    }
    all
}

fn active_segment(dir: &Path) -> std::path::PathBuf {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs.pop().unwrap()
}

fn set_len(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Reopens with recovery, checks the log holds exactly `expected_batches` whole batches of
/// `all`, that they read back and that appends continue at the right offset.
fn recover_and_check(
    dir: &Path,
    config: &LogConfig,
    all: &[u8],
    expected_batches: usize,
) -> RecoveryReport {
    let (mut log, report) = PartitionLog::open(dir, config.clone(), false).unwrap();
    let spans = batch_spans(all);
    let kept: usize = spans[..expected_batches].iter().map(|s| s.2).sum();
    let end_offset = spans[..expected_batches].last().map_or(0, |s| s.1 + 1);
    assert_eq!(log.log_end_offset(), end_offset);
    assert_eq!(log.size_bytes(), kept as u64);
    assert_eq!(read_all(&log), &all[..kept]);
    let info = log.append_batch(&batch(1, 1, 1), 0, 0).unwrap();
    assert_eq!(info.base_offset, end_offset);
    for offset in 0..end_offset {
        let slice = log.read(offset, 1, true).unwrap();
        assert!(slice.first_offset <= offset && offset < slice.next_offset);
    }
    log.close().unwrap();
    let (log, clean) = PartitionLog::open(dir, config.clone(), true).unwrap();
    assert_eq!(clean.rebuilt_indexes, 0, "recovery left sane indexes");
    assert_eq!(log.log_end_offset(), end_offset + 1);
    report
}

#[test]
fn torn_tail_is_truncated_to_the_last_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config();
    let all = crashed_log(dir.path(), &config, 10);
    let active = active_segment(dir.path());
    let len = std::fs::metadata(&active).unwrap().len();
    set_len(&active, len - 10);
    let report = recover_and_check(dir.path(), &config, &all, 9);
    assert_eq!(report.truncated_bytes, batch_spans(&all)[9].2 as u64 - 10);
    assert!(report.rebuilt_indexes >= 1);
}

#[test]
fn flipped_byte_in_the_last_batch_is_caught_by_the_crc() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::default();
    let all = crashed_log(dir.path(), &config, 6);
    let active = active_segment(dir.path());
    let mut bytes = std::fs::read(&active).unwrap();
    let at = bytes.len() - 20;
    bytes[at] ^= 0x01;
    std::fs::write(&active, &bytes).unwrap();
    let report = recover_and_check(dir.path(), &config, &all, 5);
    assert_eq!(report.truncated_bytes, batch_spans(&all)[5].2 as u64);
}

#[test]
fn appended_garbage_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config();
    let all = crashed_log(dir.path(), &config, 12);
    let active = active_segment(dir.path());
    let mut bytes = std::fs::read(&active).unwrap();
    bytes.extend_from_slice(&[0xab; 777]);
    std::fs::write(&active, &bytes).unwrap();
    let report = recover_and_check(dir.path(), &config, &all, 12);
    assert_eq!(report.truncated_bytes, 777);
}

#[test]
fn corruption_in_an_older_segment_deletes_the_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config();
    let all = crashed_log(dir.path(), &config, 40);
    std::fs::remove_file(dir.path().join(kavka_storage::RECOVERY_POINT_FILE)).unwrap();
    let first = segment_file(dir.path(), 0, "log");
    let mut bytes = std::fs::read(&first).unwrap();
    let spans = batch_spans(&bytes);
    let third_batch_start = spans[0].2 + spans[1].2;
    bytes[third_batch_start + 70] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    let report = recover_and_check(dir.path(), &config, &all, 2);
    assert!(report.deleted_segments >= 2, "{report:?}");
    assert_eq!(
        report.truncated_bytes,
        (all.len() - third_batch_start) as u64
    );
}

#[test]
fn deleted_and_corrupt_indexes_are_rebuilt_by_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config();
    let all = crashed_log(dir.path(), &config, 30);
    std::fs::remove_file(dir.path().join(kavka_storage::RECOVERY_POINT_FILE)).unwrap();
    std::fs::remove_file(segment_file(dir.path(), 0, "index")).unwrap();
    std::fs::write(segment_file(dir.path(), 0, "timeindex"), [7u8; 13]).unwrap();
    let report = recover_and_check(dir.path(), &config, &all, 30);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.scanned_bytes, all.len() as u64);
}

#[test]
fn recovery_scans_only_from_the_recovery_point_segment() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config();
    let (mut log, _) = PartitionLog::open(dir.path(), config.clone(), true).unwrap();
    let mut all = Vec::new();
    for _ in 0..30 {
        let bytes = batch(4, 50, 1);
        let (_, stored) = append(&mut log, &bytes, 0, 0);
        all.extend_from_slice(&stored);
    }
    log.flush().unwrap();
    let flushed_end = log.log_end_offset();
    let flushed_segment = *log.segment_base_offsets().last().unwrap();
    for _ in 0..3 {
        let bytes = batch(4, 50, 1);
        let (_, stored) = append(&mut log, &bytes, 0, 0);
        all.extend_from_slice(&stored);
    }
    drop(log);
    let (log, report) = PartitionLog::open(dir.path(), config, false).unwrap();
    assert_eq!(report.recovery_point, Some(flushed_end));
    let unflushed_segments_bytes: u64 = log
        .segment_base_offsets()
        .iter()
        .filter(|&&b| b >= flushed_segment)
        .map(|&b| {
            std::fs::metadata(segment_file(dir.path(), b, "log"))
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(report.scanned_bytes, unflushed_segments_bytes);
    assert!(report.scanned_bytes < all.len() as u64);
    assert_eq!(read_all(&log), all);
}

#[test]
fn clean_open_rebuilds_a_missing_or_insane_index() {
    let dir = tempfile::tempdir().unwrap();
    let config = small_config();
    let (mut log, _) = PartitionLog::open(dir.path(), config.clone(), true).unwrap();
    let mut all = Vec::new();
    for _ in 0..30 {
        let bytes = batch(4, 50, 1);
        let (_, stored) = append(&mut log, &bytes, 0, 0);
        all.extend_from_slice(&stored);
    }
    let bases = log.segment_base_offsets();
    log.close().unwrap();
    std::fs::remove_file(segment_file(dir.path(), bases[0], "index")).unwrap();
    let (log, report) = PartitionLog::open(dir.path(), config.clone(), true).unwrap();
    assert_eq!(report.rebuilt_indexes, 1);
    assert_eq!(read_all(&log), all);
    log.close().unwrap();
    // Entries out of order: the second one goes backwards.
    let index = segment_file(dir.path(), bases[1], "index");
    let mut raw = std::fs::read(&index).unwrap();
    assert!(raw.len() >= 16);
    raw[8..16].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    std::fs::write(&index, &raw).unwrap();
    let (log, report) = PartitionLog::open(dir.path(), config.clone(), true).unwrap();
    assert_eq!(report.rebuilt_indexes, 1);
    assert_eq!(read_all(&log), all);
    assert_eq!(std::fs::read(&index).unwrap().len(), raw.len());
    log.close().unwrap();
    // A torn tail on the active segment despite the "clean" flag is still recovered.
    let active = active_segment(dir.path());
    let len = std::fs::metadata(&active).unwrap().len();
    set_len(&active, len - 1);
    let (log, report) = PartitionLog::open(dir.path(), config, true).unwrap();
    assert_eq!(report.rebuilt_indexes, 1);
    assert!(log.log_end_offset() < 120);
    assert_eq!(read_all(&log), &all[..log.size_bytes() as usize]);
}

#[test]
fn orphan_index_files_are_removed_and_empty_dirs_open() {
    let dir = tempfile::tempdir().unwrap();
    let orphan = segment_file(dir.path(), 500, "index");
    std::fs::write(&orphan, [0u8; 8]).unwrap();
    let (log, report) = PartitionLog::open(dir.path(), LogConfig::default(), false).unwrap();
    assert!(!orphan.exists());
    assert_eq!(report, RecoveryReport::default());
    assert_eq!((log.log_end_offset(), log.segment_count()), (0, 1));
}

#[test]
fn a_recovery_point_at_a_segment_boundary_rescans_the_segment_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let (mut log, _) = PartitionLog::open(dir.path(), config.clone(), true).unwrap();
    log.append_batch(&batch_with_timestamps(&[5, 900, 7], 10), 0, 0)
        .unwrap();
    log.flush().unwrap();
    // This append rolls (segment.ms); the roll writes the old segment's final time index entry,
    // which nothing fsyncs before the crash.
    log.append_batch(&batch(1, 10, 8), 0, 5_000).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 3]);
    drop(log);
    // Simulate losing that unsynced write.
    std::fs::write(segment_file(dir.path(), 0, "timeindex"), []).unwrap();
    let (log, report) = PartitionLog::open(dir.path(), config, false).unwrap();
    assert_eq!(report.recovery_point, Some(3));
    assert_eq!(report.rebuilt_indexes, 2);
    assert_eq!(log.max_timestamp_and_offset(), Some((900, 2)));
    assert_eq!(log.offset_for_timestamp(100).unwrap(), Some((1, 900)));
}
