//! Compaction of transactional data (Kafka's cleaner rules): aborted records removed and never
//! shadowing anything, committed ones compacted like any other, open transactions untouched,
//! markers removed only once their transaction has no data left and their delete horizon has
//! passed, and the aborted-transaction entries forgotten with them — across reopening.

mod common;

use common::*;
use kavka_protocol::batch::{BatchIter, Compression};
use kavka_protocol::records::{BatchBuilder, Record};
use kavka_storage::{CleanStats, CleanerConfig, CleanupPolicy, LogConfig, PartitionLog};

const DELETE_RETENTION_MS: i64 = 1_000;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
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

/// A transactional batch of `records` from `pid` (epoch 0) starting at sequence `seq`.
fn txn_batch(pid: i64, seq: i32, records: &[KeyValue<'_>]) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).with_producer(pid, 0, seq);
    for (key, value) in records {
        b.append(1_000, *key, *value, &[]);
    }
    b.transactional().build().unwrap().to_vec()
}

fn plain(log: &mut PartitionLog, records: &[KeyValue<'_>]) {
    log.append_batch(&keyed_batch(records, 1_000, Compression::None), 0, 1_000)
        .unwrap();
}

/// Enough plain data under a fresh key to close the current segment.
fn roll(log: &mut PartitionLog, n: usize) {
    let key = format!("filler-{n}");
    plain(log, &[(Some(key.as_bytes()), Some(&[0u8; 500]))]);
}

fn clean(log: &mut PartitionLog, now_ms: i64) -> Option<CleanStats> {
    let task = log.clean_task(now_ms)?;
    let cleaned = task.run(&CleanerConfig::default(), now_ms).unwrap();
    Some(log.install_cleaned(cleaned).unwrap())
}

fn values_of(records: &[Record], key: &[u8]) -> Vec<Option<Vec<u8>>> {
    records
        .iter()
        .filter(|r| r.key.as_deref() == Some(key))
        .map(|r| r.value.as_ref().map(|v| v.to_vec()))
        .collect()
}

/// (offset, is_commit) of the markers left in the log.
fn markers(log: &PartitionLog) -> Vec<(i64, bool)> {
    let bytes = read_all(log);
    BatchIter::new(&bytes)
        .map(|b| b.unwrap())
        .filter(|b| b.is_control())
        .map(|b| {
            let (commit, _) = kavka_protocol::records::read_marker(&b).unwrap();
            (b.base_offset(), commit)
        })
        .collect()
}

#[test]
fn aborted_data_goes_first_then_markers_after_their_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config(), true).unwrap().0;
    plain(&mut log, &[(Some(b"a"), Some(b"v1"))]);
    // Producer 7 overwrites "a" and writes "b", then aborts.
    log.append_batch(
        &txn_batch(
            7,
            0,
            &[(Some(b"a"), Some(b"aborted")), (Some(b"b"), Some(b"x"))],
        ),
        0,
        1_000,
    )
    .unwrap();
    let abort_at = log
        .append_marker(7, 0, false, 0, 0, 1_000)
        .unwrap()
        .base_offset;
    // Producer 8 writes "c" and a tombstone of "d", then commits; "c" is overwritten later.
    log.append_batch(
        &txn_batch(
            8,
            0,
            &[(Some(b"c"), Some(b"committed")), (Some(b"d"), None)],
        ),
        0,
        1_000,
    )
    .unwrap();
    let commit_at = log
        .append_marker(8, 0, true, 0, 0, 1_000)
        .unwrap()
        .base_offset;
    plain(&mut log, &[(Some(b"c"), Some(b"plain"))]);
    // Both write one more committed transaction: the batches of those are their latest, kept
    // (emptied if need be) while they are active, and so are their markers.
    let mut kept_markers = Vec::new();
    for (pid, key) in [(7, b"z7"), (8, b"z8")] {
        log.append_batch(&txn_batch(pid, 2, &[(Some(key), Some(b"z"))]), 0, 1_000)
            .unwrap();
        let at = log
            .append_marker(pid, 0, true, 0, 0, 1_000)
            .unwrap()
            .base_offset;
        kept_markers.push((at, true));
    }
    // Producer 9 leaves a transaction open over "a": it is never cleaned.
    log.append_batch(&txn_batch(9, 0, &[(Some(b"a"), Some(b"open"))]), 0, 1_000)
        .unwrap();
    let open_at = log.log_end_offset() - 1;
    for n in 0..3 {
        roll(&mut log, n);
    }
    assert_eq!(log.last_stable_offset(), open_at);

    // First clean: aborted data removed (it shadowed nothing), committed data compacted; both
    // markers stay, since their transactions had data in this pass.
    let stats = clean(&mut log, 0).expect("a clean is due");
    assert_eq!(stats.aborted_records_dropped, 2);
    assert!(log.cleaner_checkpoint() <= open_at);
    let records = read_records(&log);
    assert_eq!(
        values_of(&records, b"a"),
        [Some(b"v1".to_vec()), Some(b"open".to_vec())]
    );
    assert!(values_of(&records, b"b").is_empty());
    assert_eq!(values_of(&records, b"c"), [Some(b"plain".to_vec())]);
    assert_eq!(
        values_of(&records, b"d"),
        [None],
        "tombstone before its horizon"
    );
    let all_markers = [
        vec![(abort_at, false), (commit_at, true)],
        kept_markers.clone(),
    ]
    .concat();
    assert_eq!(markers(&log), all_markers);
    assert_eq!(log.aborted_transactions(0, i64::MAX).len(), 1);

    // Past the tombstone's horizon: the committed tombstone goes. The abort's data is gone,
    // so its entry is forgotten and its marker gets a horizon; the commit's batch was still
    // read in this pass, so its marker waits for the next one.
    roll(&mut log, 3);
    clean(&mut log, 10 * DELETE_RETENTION_MS).expect("horizon passed");
    assert!(values_of(&read_records(&log), b"d").is_empty());
    assert!(log.aborted_transactions(0, i64::MAX).is_empty());
    assert_eq!(markers(&log), all_markers);

    // Later cleans remove both markers once their horizons pass.
    roll(&mut log, 4);
    clean(&mut log, 20 * DELETE_RETENTION_MS).expect("dirty data");
    roll(&mut log, 5);
    clean(&mut log, 40 * DELETE_RETENTION_MS).expect("dirty data");
    assert_eq!(markers(&log), kept_markers);
    assert_eq!(
        log.last_stable_offset(),
        open_at,
        "the open transaction stays open"
    );

    // What the cleans left is what a reopened log (clean or not) sees.
    let expected_records = read_records(&log);
    log.close().unwrap();
    for clean_shutdown in [true, false] {
        if !clean_shutdown {
            for name in file_names(dir.path()) {
                if name.ends_with(".snapshot") || name == kavka_storage::ABORTED_TXNS_FILE {
                    let _ = std::fs::remove_file(dir.path().join(name));
                }
            }
        }
        let log = PartitionLog::open(dir.path(), config(), clean_shutdown)
            .unwrap()
            .0;
        assert_eq!(read_records(&log), expected_records);
        assert!(log.aborted_transactions(0, i64::MAX).is_empty());
        assert_eq!(log.last_stable_offset(), open_at);
        drop(log);
    }
}

#[test]
fn a_producers_latest_marker_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), config(), true).unwrap().0;
    // Producer 7 aborts a transaction, then its epoch is bumped by a marker at epoch 1 with
    // no data: that marker is the only record of the new epoch and must stay.
    log.append_batch(&txn_batch(7, 0, &[(Some(b"a"), Some(b"x"))]), 0, 1_000)
        .unwrap();
    log.append_marker(7, 0, false, 0, 0, 1_000).unwrap();
    let bump_at = log
        .append_marker(7, 1, false, 0, 0, 1_000)
        .unwrap()
        .base_offset;
    for n in 0..3 {
        roll(&mut log, n);
    }
    for round in 1..5i64 {
        roll(&mut log, 10 + round as usize);
        clean(&mut log, round * 10 * DELETE_RETENTION_MS).expect("dirty data");
    }
    assert_eq!(markers(&log), [(bump_at, false)]);
    // The aborted batch was not the producer's latest data (the bump forgot it): it is gone.
    assert!(read_records(&log)
        .iter()
        .all(|r| r.key.as_deref() != Some(b"a")));
}
