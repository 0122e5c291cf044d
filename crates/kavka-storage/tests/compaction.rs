//! Compaction through the public API: random keyed logs checked against a last-value-per-key
//! model, delete horizons, partial cleans with a tiny offset map, concurrent appends and
//! retention, and the cleaning triggers (dirty ratio, min/max compaction lag).

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use kavka_protocol::batch::Compression;
use kavka_protocol::records::Record;
use kavka_storage::{CleanStats, CleanerConfig, CleanupPolicy, LogConfig, PartitionLog};
use proptest::prelude::*;

const DELETE_RETENTION_MS: i64 = 1_000;

fn compact_config() -> LogConfig {
    LogConfig {
        segment_bytes: 1_000,
        index_interval_bytes: 100,
        cleanup_policy: CleanupPolicy {
            delete: false,
            compact: true,
        },
        delete_retention_ms: DELETE_RETENTION_MS,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

fn cleaner(dedupe_buffer_bytes: usize) -> CleanerConfig {
    CleanerConfig {
        dedupe_buffer_bytes,
        io_buffer_bytes: 700,
    }
}

/// Runs one clean if one is due.
fn clean_once(log: &mut PartitionLog, cleaner: &CleanerConfig, now_ms: i64) -> Option<CleanStats> {
    let task = log.clean_task(now_ms)?;
    let cleaned = task.run(cleaner, now_ms).unwrap();
    Some(log.install_cleaned(cleaned).unwrap())
}

/// Cleans until nothing is due; returns the number of cleans.
fn clean_fully(log: &mut PartitionLog, cleaner: &CleanerConfig, now_ms: i64) -> usize {
    let mut cleans = 0;
    while clean_once(log, cleaner, now_ms).is_some() {
        cleans += 1;
        assert!(cleans < 1_000, "cleaning does not converge");
    }
    cleans
}

fn append(log: &mut PartitionLog, records: &[KeyValue<'_>], ts: i64) -> i64 {
    let bytes = keyed_batch(records, ts, Compression::None);
    log.append_batch(&bytes, 0, ts).unwrap().base_offset
}

/// What compaction must leave: records in closed segments (below `active_base`) deduplicated
/// by key (null keys kept), keyed tombstones removed if `drop_tombstones`; the active segment
/// untouched.
fn expected(all: &[Record], active_base: i64, drop_tombstones: bool) -> Vec<Record> {
    let mut last: BTreeMap<&[u8], i64> = BTreeMap::new();
    for r in all.iter().filter(|r| r.offset < active_base) {
        if let Some(key) = &r.key {
            last.insert(key, r.offset);
        }
    }
    all.iter()
        .filter(|r| {
            if r.offset >= active_base {
                return true;
            }
            match &r.key {
                None => true,
                Some(key) => {
                    last[key.as_ref()] == r.offset && !(drop_tombstones && r.value.is_none())
                }
            }
        })
        .cloned()
        .collect()
}

fn active_base(log: &PartitionLog) -> i64 {
    *log.segment_base_offsets().last().unwrap()
}

/// Offsets strictly increase and each record is the one appended at its offset.
fn check_subset(all: &[Record], log: &PartitionLog) {
    let by_offset: BTreeMap<i64, &Record> = all.iter().map(|r| (r.offset, r)).collect();
    let got = read_records(log);
    for pair in got.windows(2) {
        assert!(pair[0].offset < pair[1].offset);
    }
    for r in &got {
        assert_eq!(by_offset[&r.offset], r);
    }
}

#[derive(Debug, Clone)]
struct GenBatch {
    codec: Compression,
    /// (key index, None for a null key; value length, None for a tombstone)
    records: Vec<(Option<u8>, Option<usize>)>,
}

fn gen_batch() -> impl Strategy<Value = GenBatch> {
    let record = (
        prop_oneof![1 => Just(None), 12 => (0u8..10).prop_map(Some)],
        prop_oneof![1 => Just(None), 4 => (0usize..60).prop_map(Some)],
    );
    (
        prop_oneof![
            Just(Compression::None),
            Just(Compression::Lz4),
            Just(Compression::Snappy)
        ],
        prop::collection::vec(record, 1..5),
    )
        .prop_map(|(codec, records)| GenBatch { codec, records })
}

fn append_gen(log: &mut PartitionLog, all: &mut Vec<Record>, b: &GenBatch, ts: i64) {
    let keys: Vec<Option<Vec<u8>>> = b
        .records
        .iter()
        .map(|(k, _)| k.map(|k| format!("key-{k}").into_bytes()))
        .collect();
    let values: Vec<Option<Vec<u8>>> = b
        .records
        .iter()
        .enumerate()
        .map(|(i, (_, v))| v.map(|n| vec![b'a' + (i as u8 % 26); n]))
        .collect();
    let records: Vec<KeyValue<'_>> = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| (k.as_deref(), v.as_deref()))
        .collect();
    let bytes = keyed_batch(&records, ts, b.codec);
    let (info, stored) = common::append(log, &bytes, 0, ts);
    let base = info.base_offset;
    let view = first_batch(&stored);
    let decoded = kavka_protocol::records::decode_records(&view).unwrap();
    assert_eq!(decoded[0].offset, base);
    all.extend(decoded);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn cleaning_matches_the_last_value_per_key_model(
        batches in prop::collection::vec(gen_batch(), 10..60),
        during in prop::collection::vec(gen_batch(), 0..4),
        map_entries in prop_oneof![Just(1usize), Just(3), Just(100_000)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = PartitionLog::open(dir.path(), compact_config(), true).unwrap();
        let cleaner = cleaner(map_entries * 24 * 10 / 9 + 1);
        let mut all = Vec::new();
        for (i, b) in batches.iter().enumerate() {
            append_gen(&mut log, &mut all, b, 1_000 + i as i64);
        }
        let t0 = 10_000;
        // Cleans with appends landing while they run.
        let mut during = during.into_iter();
        let mut cleans = 0;
        while let Some(task) = log.clean_task(t0) {
            let cleaned = task.run(&cleaner, t0).unwrap();
            if let Some(b) = during.next() {
                append_gen(&mut log, &mut all, &b, 5_000);
            }
            let stats = log.install_cleaned(cleaned).unwrap();
            prop_assert!(!stats.discarded);
            check_subset(&all, &log);
            cleans += 1;
            prop_assert!(cleans < 1_000);
        }
        // Tombstones stay until their horizon passes, and across a reopen.
        prop_assert_eq!(read_records(&log), expected(&all, active_base(&log), false));
        log.close().unwrap();
        let (mut log, _) = PartitionLog::open(dir.path(), compact_config(), true).unwrap();
        prop_assert!(log.clean_task(t0).is_none());
        prop_assert!(log.clean_task(t0 + DELETE_RETENTION_MS - 1).is_none());
        clean_fully(&mut log, &cleaner, t0 + DELETE_RETENTION_MS);
        prop_assert_eq!(read_records(&log), expected(&all, active_base(&log), true));
        prop_assert_eq!(log.cleaner_checkpoint(), active_base(&log));
        // Reads at every offset land on the next surviving batch.
        for offset in log.log_start_offset()..log.log_end_offset() {
            let slice = log.read(offset, 1, true).unwrap();
            prop_assert!(slice.next_offset > offset);
        }
    }
}

#[test]
fn tombstones_are_dropped_only_after_the_delete_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), compact_config(), true).unwrap();
    let value = [b'v'; 200];
    for round in 0..4 {
        for k in 0..4u8 {
            let key = [b'k', k];
            let v: Option<&[u8]> = if round == 3 && k % 2 == 0 {
                None
            } else {
                Some(&value)
            };
            append(&mut log, &[(Some(&key), v)], 100);
        }
    }
    // Large enough to roll: every tombstone is in a closed segment.
    append(&mut log, &[(Some(b"active"), Some(&[0; 900]))], 100);
    assert_eq!(read_records(&log).last().unwrap().offset, active_base(&log));
    let cleaner = CleanerConfig::default();
    let stats = clean_once(&mut log, &cleaner, 50_000).unwrap();
    assert_eq!(stats.tombstones_dropped, 0);
    assert_eq!(stats.records_kept, 4);
    let kept = read_records(&log);
    let tombstones = kept.iter().filter(|r| r.value.is_none()).count();
    assert_eq!(tombstones, 2, "{kept:?}");
    // Nothing due before the horizon; at it, the tombstones go.
    assert!(log.clean_task(50_000 + DELETE_RETENTION_MS - 1).is_none());
    let stats = clean_once(&mut log, &cleaner, 50_000 + DELETE_RETENTION_MS).unwrap();
    assert_eq!(stats.tombstones_dropped, 2);
    let kept = read_records(&log);
    assert!(kept.iter().all(|r| r.value.is_some()));
    assert_eq!(kept.len(), 2 + 1);
    assert!(log.clean_task(i64::MAX).is_none(), "nothing left to do");
}

#[test]
fn the_active_segment_and_appends_during_a_clean_are_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), compact_config(), true).unwrap();
    for i in 0..30 {
        append(&mut log, &[(Some(b"same"), Some(&[i as u8; 100]))], 1);
    }
    let active = active_base(&log);
    let active_records: Vec<Record> = read_records(&log)
        .into_iter()
        .filter(|r| r.offset >= active)
        .collect();
    assert!(
        active_records.len() > 1,
        "several records of one key in the active segment"
    );
    let task = log.clean_task(0).unwrap();
    let cleaned = task.run(&CleanerConfig::default(), 0).unwrap();
    let mut appended = Vec::new();
    for i in 0..20 {
        appended.push(append(
            &mut log,
            &[(Some(b"same"), Some(&[i as u8; 100]))],
            2,
        ));
    }
    assert!(
        active_base(&log) > active,
        "appends rolled during the clean"
    );
    let stats = log.install_cleaned(cleaned).unwrap();
    assert!(!stats.discarded);
    let after = read_records(&log);
    let before_active: Vec<&Record> = after.iter().filter(|r| r.offset < active).collect();
    assert_eq!(
        before_active.len(),
        1,
        "the closed segments keep the last value"
    );
    let from_active: Vec<Record> = after
        .iter()
        .filter(|r| r.offset >= active && r.offset < appended[0])
        .cloned()
        .collect();
    assert_eq!(from_active, active_records);
    let new: Vec<i64> = after
        .iter()
        .map(|r| r.offset)
        .filter(|&o| o >= appended[0])
        .collect();
    assert_eq!(new, appended);
}

#[test]
fn a_tiny_offset_map_cleans_in_several_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), compact_config(), true).unwrap();
    let mut all = Vec::new();
    for i in 0..200u32 {
        let key = format!("k{}", i % 25);
        append(
            &mut log,
            &[(Some(key.as_bytes()), Some(&i.to_be_bytes()))],
            1,
        );
    }
    all.extend(read_records(&log));
    let tiny = CleanerConfig {
        dedupe_buffer_bytes: 5 * 24,
        io_buffer_bytes: 64,
    };
    let first = clean_once(&mut log, &tiny, 0).unwrap();
    assert!(first.map_keys <= 5);
    assert!(
        log.cleaner_checkpoint() < active_base(&log),
        "a partial clean"
    );
    check_subset(&all, &log);
    let passes = 1 + clean_fully(&mut log, &tiny, 0);
    assert!(passes > 3, "{passes} passes");
    assert_eq!(read_records(&log), expected(&all, active_base(&log), false));
}

#[test]
fn compaction_off_or_nothing_closed_means_no_task() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        cleanup_policy: CleanupPolicy::default(),
        ..compact_config()
    };
    let (mut log, _) = PartitionLog::open(dir.path(), config, true).unwrap();
    assert!(log.clean_task(0).is_none());
    append(&mut log, &[(Some(b"k"), Some(b"v"))], 1);
    log.set_config(compact_config());
    assert!(log.clean_task(0).is_none(), "only the active segment");
    for _ in 0..20 {
        append(&mut log, &[(Some(b"k"), Some(&[1; 100]))], 1);
    }
    assert!(log.clean_task(0).is_some());
    assert_eq!(log.config().cleanup_policy.to_string(), "compact");
}

#[test]
fn dirty_ratio_and_compaction_lags_decide_when_to_clean() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        min_cleanable_dirty_ratio: 0.5,
        ..compact_config()
    };
    let (mut log, _) = PartitionLog::open(dir.path(), config.clone(), true).unwrap();
    // Distinct keys: cleaning removes nothing, so the clean section stays large.
    for i in 0..40u32 {
        let key = format!("k{i}");
        append(&mut log, &[(Some(key.as_bytes()), Some(&[0; 100]))], 1_000);
    }
    let stats = clean_once(&mut log, &CleanerConfig::default(), 0).unwrap();
    assert!(stats.bytes_read > 0);
    // A little new dirty data: below the ratio.
    for i in 0..10u32 {
        let key = format!("new{i}");
        append(&mut log, &[(Some(key.as_bytes()), Some(&[0; 100]))], 5_000);
    }
    assert!(log.clean_task(6_000).is_none(), "dirty ratio below 0.5");
    // max.compaction.lag.ms forces it once the first dirty batch is old enough.
    // The first dirty segment was the active one at the clean: its first batch is from 1_000.
    log.set_config(LogConfig {
        max_compaction_lag_ms: 10_000,
        ..config.clone()
    });
    assert!(log.clean_task(11_000).is_none());
    assert!(log.clean_task(11_001).is_some());
    // min.compaction.lag.ms holds back segments with records newer than it.
    log.set_config(LogConfig {
        min_cleanable_dirty_ratio: 0.0,
        min_compaction_lag_ms: 2_000,
        ..config
    });
    assert!(
        log.clean_task(2_500).is_none(),
        "the dirty records are too new"
    );
    let task = log.clean_task(7_001).unwrap();
    assert_eq!(task.first_uncleanable_offset(), active_base(&log));
}

#[test]
fn retention_during_a_clean_is_never_undone() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        cleanup_policy: CleanupPolicy {
            delete: true,
            compact: true,
        },
        retention_ms: 1_000,
        ..compact_config()
    };
    let (mut log, _) = PartitionLog::open(dir.path(), config, true).unwrap();
    for i in 0..60u32 {
        let key = format!("k{}", i % 7);
        append(
            &mut log,
            &[(Some(key.as_bytes()), Some(&[0; 100]))],
            i64::from(i) * 100,
        );
    }
    let all = read_records(&log);
    let task = log.clean_task(0).unwrap();
    let cleaned = task.run(&CleanerConfig::default(), 0).unwrap();
    let outcome = log.apply_retention(3_000).unwrap();
    assert!(outcome.deleted_segments > 0);
    let start = log.log_start_offset();
    let stats = log.install_cleaned(cleaned).unwrap();
    assert!(!stats.discarded, "later groups are still installed");
    assert_eq!(log.log_start_offset(), start);
    check_subset(&all, &log);
    assert!(read_records(&log).iter().all(|r| r.offset >= start));
    // Everything gone: the whole result is discarded.
    let task = log.clean_task(0);
    // (An emptied cleaned segment has no timestamp: its files' modification time counts.)
    let outcome = log.apply_retention(i64::MAX).unwrap();
    eprintln!(
        "{outcome:?} {:?} task {} max {:?} {:?}",
        log.segment_base_offsets(),
        task.is_some(),
        log.max_timestamp_and_offset(),
        log.config()
    );
    if let Some(task) = task {
        let cleaned = task.run(&CleanerConfig::default(), 0).unwrap();
        assert!(outcome.deleted_segments > 0);
        let stats = log.install_cleaned(cleaned).unwrap();
        assert!(stats.discarded);
    }
    assert_eq!(log.segment_count(), 1);
    assert!(!file_names(dir.path())
        .iter()
        .any(|n| n.ends_with(".cleaned")));
}

#[test]
fn a_result_is_not_installed_into_a_reopened_log() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), compact_config(), true).unwrap();
    for i in 0..30u32 {
        append(&mut log, &[(Some(b"k"), Some(&i.to_be_bytes()))], 1);
    }
    let before = read_records(&log);
    let task = log.clean_task(0).unwrap();
    let cleaned = task.run(&CleanerConfig::default(), 0).unwrap();
    drop(task);
    log.close().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), compact_config(), true).unwrap();
    let stats = log.install_cleaned(cleaned).unwrap();
    assert!(stats.discarded);
    assert_eq!(read_records(&log), before);
    let names: BTreeSet<String> = file_names(dir.path()).into_iter().collect();
    assert!(!names.iter().any(|n| n.contains(".cleaned")), "{names:?}");
}

/// `bytes` (one batch) with extra attribute bits and producer fields; the CRC recomputed.
fn with_producer(mut bytes: Vec<u8>, attributes: i16, producer_id: i64, sequence: i32) -> Vec<u8> {
    let attrs = i16::from_be_bytes([bytes[21], bytes[22]]) | attributes;
    bytes[21..23].copy_from_slice(&attrs.to_be_bytes());
    bytes[43..51].copy_from_slice(&producer_id.to_be_bytes());
    bytes[51..53].copy_from_slice(&0i16.to_be_bytes());
    bytes[53..57].copy_from_slice(&sequence.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    bytes
}

#[test]
fn producer_state_control_batches_and_transactions_are_respected() {
    use kavka_protocol::batch::{attributes, BatchIter};
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), compact_config(), true).unwrap();
    let produce = |log: &mut PartitionLog, bytes: Vec<u8>| {
        log.append_batch(&bytes, 3, 1).unwrap().base_offset
    };
    let none = Compression::None;
    // An idempotent producer writes key "a" three times; a plain write supersedes them all.
    for seq in 0..3 {
        let b = keyed_batch(
            &[(Some(b"a"), Some(b"p")), (Some(b"a"), Some(b"q"))],
            1,
            none,
        );
        produce(&mut log, with_producer(b, 0, 5, seq * 2));
    }
    // A transaction writes "t" and a tombstone of "u", then commits (a control batch).
    let txn = keyed_batch(&[(Some(b"t"), Some(b"x")), (Some(b"u"), None)], 1, none);
    produce(
        &mut log,
        with_producer(txn, attributes::TRANSACTIONAL, 9, 0),
    );
    let control_offset = log.append_marker(9, 0, true, 0, 3, 1).unwrap().base_offset;
    produce(
        &mut log,
        keyed_batch(
            &[(Some(b"a"), Some(b"plain")), (Some(b"t"), Some(b"y"))],
            1,
            none,
        ),
    );
    produce(
        &mut log,
        keyed_batch(&[(Some(b"roll"), Some(&[0; 900]))], 1, none),
    );
    assert!(log.segment_count() >= 2);
    let cleaner = CleanerConfig::default();
    clean_fully(&mut log, &cleaner, 0);
    clean_fully(&mut log, &cleaner, i64::MAX / 2);
    let bytes = read_all(&log);
    let batches: Vec<_> = BatchIter::new(&bytes).map(|b| b.unwrap()).collect();
    // The producer's last batch survives empty, with its last offset (sequence 4..5).
    let producer: Vec<_> = batches.iter().filter(|b| b.producer_id() == 5).collect();
    assert_eq!(producer.len(), 1);
    assert_eq!(
        (producer[0].record_count(), producer[0].base_sequence()),
        (0, 4)
    );
    assert_eq!(producer[0].last_offset(), 5);
    assert_eq!(producer[0].partition_leader_epoch(), 3);
    // The commit marker stays as it was written: its transaction's batch was still read by
    // the last clean (markers go only in a later one, see tests/compaction_txn.rs).
    let marker = batches.iter().find(|b| b.is_control()).unwrap();
    assert_eq!(marker.base_offset(), control_offset);
    assert_eq!(marker.partition_leader_epoch(), 3);
    // The committed "t" was superseded; its tombstone of "u" went after the delete horizon.
    let records = read_records(&log);
    let keys: Vec<&[u8]> = records.iter().filter_map(|r| r.key.as_deref()).collect();
    assert_eq!(keys.iter().filter(|k| **k == b"t").count(), 1);
    assert!(!records.iter().any(|r| r.key.as_deref() == Some(b"u")));
    assert_eq!(
        records
            .iter()
            .filter(|r| r.key.as_deref() == Some(b"a"))
            .map(|r| r.value.clone().unwrap())
            .collect::<Vec<_>>(),
        vec![bytes::Bytes::from_static(b"plain")]
    );
}

#[test]
fn codecs_are_kept_and_cleaned_logs_shrink() {
    use kavka_protocol::batch::BatchIter;
    for codec in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = PartitionLog::open(dir.path(), compact_config(), true).unwrap();
        for i in 0..40u32 {
            let records: Vec<KeyValue<'_>> =
                vec![(Some(b"x"), Some(b"1")), (Some(b"y"), Some(&[7; 300]))];
            let bytes = keyed_batch(&records, i64::from(i), codec);
            log.append_batch(&bytes, 0, 0).unwrap();
        }
        let before = log.size_bytes();
        // Segments written small, cleaned into bigger ones.
        log.set_config(LogConfig {
            segment_bytes: 100_000,
            ..compact_config()
        });
        let stats = clean_once(&mut log, &CleanerConfig::default(), 0).unwrap();
        assert!(log.size_bytes() < before);
        assert!(stats.bytes_written < stats.bytes_read);
        assert!(
            stats.segments_replaced > stats.segments_installed,
            "{stats:?}"
        );
        let bytes = read_all(&log);
        for view in BatchIter::new(&bytes) {
            let view = view.unwrap();
            view.verify_crc().unwrap();
            assert_eq!(view.compression(), Some(codec));
        }
    }
}

#[test]
fn clean_tasks_and_results_move_between_threads() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<kavka_storage::CleanTask>();
    assert_send::<kavka_storage::CleanedLog>();
}
