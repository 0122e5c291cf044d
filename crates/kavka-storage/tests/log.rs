//! Behaviour of `PartitionLog` through its public API: append, read, roll, reopen, timestamps.

mod common;

use common::*;
use kavka_protocol::batch::{BatchError, BatchView};
use kavka_storage::{LogConfig, PartitionLog, StorageError, TimestampType};

fn open(dir: &std::path::Path, config: LogConfig) -> PartitionLog {
    PartitionLog::open(dir, config, true).unwrap().0
}

#[test]
fn append_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let mut expected = Vec::new();
    for (i, records) in [3usize, 1, 5].into_iter().enumerate() {
        let given = batch(records, 10, 1_000 + i as i64);
        let (info, bytes) = append(&mut log, &given, 7, 5_000);
        assert_eq!(given.len(), bytes.len());
        assert_eq!(info.record_count, records as i64);
        assert_eq!(info.last_offset - info.base_offset + 1, records as i64);
        assert_eq!(info.log_append_time_ms, -1);
        assert_eq!(info.bytes, bytes.len());
        let view = first_batch(&bytes);
        assert_eq!(view.base_offset(), info.base_offset);
        assert_eq!(view.partition_leader_epoch(), 7);
        expected.extend_from_slice(&bytes);
    }
    assert_eq!(log.log_end_offset(), 9);
    assert_eq!(log.size_bytes(), expected.len() as u64);
    let slice = log.read(0, usize::MAX, false).unwrap();
    assert_eq!(slice.read_bytes().unwrap(), expected);
    assert_eq!((slice.first_offset, slice.next_offset), (0, 9));
    assert!(log.read(9, 100, true).unwrap().is_empty());
}

#[test]
fn reading_inside_a_batch_returns_the_containing_batch() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let mut batches = Vec::new();
    for _ in 0..20 {
        let bytes = batch(4, 30, 1);
        let (_, stored) = append(&mut log, &bytes, 0, 0);
        batches.push(stored);
    }
    for offset in 0..80 {
        let slice = log.read(offset, 1, true).unwrap();
        let got = slice.read_bytes().unwrap();
        assert_eq!(got, batches[(offset / 4) as usize], "offset {offset}");
        assert_eq!(slice.first_offset, offset / 4 * 4);
    }
}

#[test]
fn max_bytes_returns_whole_batches_and_min_one_batch_decides_oversize() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let bytes = batch(2, 100, 1);
        log.append_batch(&bytes, 0, 0).unwrap();
        sizes.push(bytes.len());
    }
    let one = sizes[0];
    assert_eq!(log.read(0, one * 2 + one / 2, false).unwrap().len, one * 2);
    assert_eq!(log.read(0, one * 3, false).unwrap().len, one * 3);
    assert_eq!(log.read(2, one, false).unwrap().len, one);
    assert!(log.read(0, one - 1, false).unwrap().is_empty());
    let forced = log.read(0, 1, true).unwrap();
    assert_eq!((forced.len, forced.next_offset), (one, 2));
}

#[test]
fn rolls_by_size_and_reads_stay_within_one_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    let mut all = Vec::new();
    for _ in 0..40 {
        let bytes = batch(3, 100, 1);
        let (_, stored) = append(&mut log, &bytes, 0, 0);
        all.extend_from_slice(&stored);
    }
    assert!(log.segment_count() > 3, "{} segments", log.segment_count());
    let bases = log.segment_base_offsets();
    for pair in bases.windows(2) {
        let slice = log.read(pair[0], usize::MAX, false).unwrap();
        assert_eq!(
            slice.next_offset, pair[1],
            "a read stops at the segment end"
        );
    }
    for base in &bases {
        assert!(segment_file(dir.path(), *base, "log").exists());
    }
    assert_eq!(read_all(&log), all);
    assert_eq!(log.size_bytes(), all.len() as u64);
}

#[test]
fn rolls_by_time_using_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    log.append_batch(&batch(1, 1, 0), 0, 10_000).unwrap();
    log.append_batch(&batch(1, 1, 0), 0, 11_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.append_batch(&batch(1, 1, 0), 0, 11_001).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 2]);
    log.append_batch(&batch(1, 1, 0), 0, 11_500).unwrap();
    assert_eq!(log.segment_count(), 2);
}

#[test]
fn rolls_when_the_index_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_index_bytes: 3 * 12,
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    for i in 0..10 {
        log.append_batch(&batch(1, 1, i), 0, 0).unwrap();
    }
    // index_interval_bytes = 1 indexes every batch but the first; three entries fill the index.
    assert_eq!(log.segment_base_offsets(), vec![0, 4, 8]);
    let expected = log.read(0, usize::MAX, false).unwrap();
    assert_eq!(expected.next_offset, 4);
}

#[test]
fn reopen_after_close_gives_identical_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    for i in 0..30 {
        log.append_batch(&batch(1 + i % 3, 90, 100 + i as i64), 0, 0)
            .unwrap();
    }
    let state = |log: &PartitionLog| {
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.size_bytes(),
            log.segment_base_offsets(),
            log.max_timestamp_and_offset(),
            read_all(log),
            (90..140)
                .map(|ts| log.offset_for_timestamp(ts).unwrap())
                .collect::<Vec<_>>(),
        )
    };
    let before = state(&log);
    log.close().unwrap();
    let index_bytes = std::fs::read(segment_file(dir.path(), 0, "index")).unwrap();
    let (log, report) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(report.rebuilt_indexes, 0);
    assert_eq!(report.scanned_bytes, 0);
    assert_eq!(state(&log), before);
    assert_eq!(log.recovery_point(), log.log_end_offset());
    log.close().unwrap();
    assert_eq!(
        std::fs::read(segment_file(dir.path(), 0, "index")).unwrap(),
        index_bytes
    );
    let (mut log, _) = PartitionLog::open(dir.path(), small_config(), false).unwrap();
    assert_eq!(state(&log), before);
    let info = log.append_batch(&batch(1, 1, 1), 0, 0).unwrap();
    assert_eq!(info.base_offset, before.1);
}

#[test]
fn timestamps_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    assert_eq!(log.max_timestamp_and_offset(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    // Timestamps jump around: 10 records per batch, batch k carries k*100 + [0, 50, 20, ...].
    let mut record_ts = Vec::new();
    for k in 0..30i64 {
        let ts: Vec<i64> = (0..10).map(|i| k * 100 + (i * 37) % 60).collect();
        record_ts.extend_from_slice(&ts);
        log.append_batch(&batch_with_timestamps(&ts, 20), 0, 0)
            .unwrap();
    }
    // The same early timestamps again, later in the log.
    log.append_batch(&batch_with_timestamps(&[5, 6], 20), 0, 0)
        .unwrap();
    record_ts.extend_from_slice(&[5, 6]);
    assert!(log.segment_count() > 2);
    for target in [-5, 0, 1, 37, 59, 60, 100, 1_234, 2_955, 2_959] {
        let expected = record_ts
            .iter()
            .position(|&t| t >= target)
            .map(|i| (i as i64, record_ts[i]));
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            expected,
            "ts {target}"
        );
    }
    assert_eq!(log.offset_for_timestamp(2_960).unwrap(), None);
    let max = *record_ts.iter().max().unwrap();
    let exact = record_ts.iter().position(|&t| t == max).unwrap() as i64;
    assert_eq!(log.max_timestamp_record().unwrap(), Some((max, exact)));
    let (shallow_ts, shallow_offset) = log.max_timestamp_and_offset().unwrap();
    assert_eq!(shallow_ts, max);
    assert_eq!(
        shallow_offset, 299,
        "last offset of the batch carrying the max"
    );
}

#[test]
fn log_append_time_stamps_batches() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        message_timestamp_type: TimestampType::LogAppendTime,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let bytes = batch(3, 5, 1);
    let info = log.append_batch(&bytes, 0, 77_000).unwrap();
    assert_eq!(info.log_append_time_ms, 77_000);
    log.append_batch(&batch(2, 5, 1), 0, 78_000).unwrap();
    let read = log
        .read(0, usize::MAX, false)
        .unwrap()
        .read_bytes()
        .unwrap();
    let view = BatchView::parse_validated(&read).unwrap();
    assert!(view.is_log_append_time());
    assert_eq!(view.max_timestamp(), 77_000);
    assert_eq!(log.max_timestamp_and_offset(), Some((78_000, 3)));
    assert_eq!(log.offset_for_timestamp(77_001).unwrap(), Some((3, 78_000)));
}

#[test]
fn message_too_large_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        max_message_bytes: 200,
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let big = batch(1, 300, 1);
    let size = big.len();
    let err = log.append_batch(&big, 0, 0).unwrap_err();
    assert!(matches!(err, StorageError::MessageTooLarge { size: s, max: 200 } if s == size));
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
    // An append larger than a whole segment is refused too.
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config());
    let mut many = Vec::new();
    for _ in 0..10 {
        many.extend_from_slice(&batch(1, 500, 1));
    }
    assert!(matches!(
        log.append_batch(&many, 0, 0),
        Err(StorageError::MessageTooLarge { max: 4096, .. })
    ));
}

#[test]
fn invalid_batches_are_rejected_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append_batch(&batch(1, 5, 1), 0, 0).unwrap();
    let size_before = log.size_bytes();
    let good = batch(2, 5, 1);
    let mut bad_crc = [good.clone(), good.clone()].concat();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0x55;
    let mut torn = good[..good.len() - 3].to_vec();
    let mut bad_magic = good.clone();
    bad_magic[16] = 1;
    type IsExpected = fn(&BatchError) -> bool;
    let cases: [(&mut Vec<u8>, IsExpected); 4] = [
        (&mut bad_crc, |e| {
            matches!(e, BatchError::CrcMismatch { .. })
        }),
        (&mut torn, |e| matches!(e, BatchError::Truncated { .. })),
        (&mut bad_magic, |e| {
            matches!(e, BatchError::UnsupportedMagic(1))
        }),
        (&mut Vec::new(), |e| matches!(e, BatchError::Invalid(_))),
    ];
    for (bytes, expected) in cases {
        match log.append_batch(bytes, 0, 0) {
            Err(StorageError::InvalidBatch(e)) => assert!(expected(&e), "{e:?}"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(log.size_bytes(), size_before);
        assert_eq!(log.log_end_offset(), 1);
    }
    let on_disk = std::fs::metadata(segment_file(dir.path(), 0, "log"))
        .unwrap()
        .len();
    assert_eq!(on_disk, size_before);
}

#[test]
fn offsets_outside_the_log_are_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default());
    log.append_batch(&batch(5, 5, 1), 0, 0).unwrap();
    for offset in [-1, 6, 100] {
        assert!(matches!(
            log.read(offset, 100, true),
            Err(StorageError::OffsetOutOfRange {
                log_start_offset: 0,
                log_end_offset: 5,
                ..
            })
        ));
    }
    assert!(log.read(5, 100, true).unwrap().is_empty());
}

#[test]
fn flush_policies_move_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_messages: Some(3),
        flush_ms: Some(1_000),
        ..LogConfig::default()
    };
    let mut log = open(dir.path(), config);
    let rp_file = || std::fs::read_to_string(dir.path().join(kavka_storage::RECOVERY_POINT_FILE));
    log.append_batch(&batch(2, 5, 1), 0, 100).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.flush_if_due(1_099).unwrap();
    assert_eq!(log.recovery_point(), 0);
    log.flush_if_due(1_100).unwrap();
    assert_eq!(log.recovery_point(), 2);
    assert_eq!(rp_file().unwrap().trim().parse::<i64>().unwrap(), 2);
    log.append_batch(&batch(2, 5, 1), 0, 2_000).unwrap();
    assert_eq!(log.recovery_point(), 2);
    log.append_batch(&batch(1, 5, 1), 0, 2_000).unwrap();
    assert_eq!(log.recovery_point(), 5, "flush.messages = 3 reached");
    assert_eq!(rp_file().unwrap().trim().parse::<i64>().unwrap(), 5);
}

#[test]
fn delete_removes_the_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("topic-0");
    let mut log = open(&dir, small_config());
    for _ in 0..20 {
        log.append_batch(&batch(2, 200, 1), 0, 0).unwrap();
    }
    let slice = log.read(0, 10, true).unwrap();
    log.delete().unwrap();
    assert!(!dir.exists());
    // A slice taken before still reads: the open file outlives its name.
    assert!(!slice.read_bytes().unwrap().is_empty());
}

#[test]
fn partition_log_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<PartitionLog>();
    assert_send_sync::<kavka_storage::ReadSlice>();
}

#[test]
fn append_batch_writes_exactly_what_append_writes() {
    use kavka_protocol::batch::Compression;
    use kavka_protocol::records::BatchBuilder;
    for timestamp_type in [TimestampType::CreateTime, TimestampType::LogAppendTime] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 4096,
            index_interval_bytes: 100,
            message_timestamp_type: timestamp_type,
            ..LogConfig::default()
        };
        let (mut in_place, _) = PartitionLog::open(a.path(), config.clone(), false).unwrap();
        let (mut from_bytes, _) = PartitionLog::open(b.path(), config, false).unwrap();
        for i in 0..60i64 {
            let mut builder = BatchBuilder::new(if i % 2 == 0 {
                Compression::None
            } else {
                Compression::Lz4
            });
            for j in 0..(1 + i % 5) {
                builder.append(1_000 + i * 10 + j, Some(b"key"), Some(&[i as u8; 40]), &[]);
            }
            let batch = builder.build().unwrap();
            let copy = batch.to_vec();
            let x = in_place.append_batch(&copy, 2, 5_000 + i).unwrap();
            let y = from_bytes.append_batch(&batch, 2, 5_000 + i).unwrap();
            assert_eq!(
                (x.base_offset, x.last_offset, x.log_append_time_ms),
                (y.base_offset, y.last_offset, y.log_append_time_ms)
            );
        }
        assert_eq!(in_place.segment_count(), from_bytes.segment_count());
        assert!(
            in_place.segment_count() > 1,
            "the test crosses segment rolls"
        );
        for offset in [0, 7, 50, 100] {
            let x = in_place
                .read(offset, 1 << 20, true)
                .unwrap()
                .read_bytes()
                .unwrap();
            let y = from_bytes
                .read(offset, 1 << 20, true)
                .unwrap()
                .read_bytes()
                .unwrap();
            assert_eq!(x, y, "offset {offset}");
        }
        assert_eq!(
            in_place.offset_for_timestamp(1_300).unwrap(),
            from_bytes.offset_for_timestamp(1_300).unwrap()
        );
        let two = [
            BatchBuilder::new(Compression::None),
            BatchBuilder::new(Compression::None),
        ]
        .map(|mut bb| {
            bb.append(1, None, Some(b"x"), &[]);
            bb.build().unwrap().to_vec()
        })
        .concat();
        assert!(
            from_bytes.append_batch(&two, 2, 0).is_err(),
            "one batch only"
        );
    }
}
