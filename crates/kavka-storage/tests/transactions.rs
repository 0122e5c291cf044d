//! Transactions in the partition log: the last stable offset, markers, aborted transactions,
//! reads bounded by the LSO, and all of it across clean and unclean reopening.

mod common;

use common::*;
use kavka_protocol::batch::{BatchIter, Compression};
use kavka_protocol::records::BatchBuilder;
use kavka_storage::{AbortedTxn, LogConfig, PartitionLog, ProducerError, StorageError};

fn txn_batch(pid: i64, epoch: i16, seq: i32, records: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).with_producer(pid, epoch, seq);
    for i in 0..records {
        b.append(1_000 + i as i64, Some(b"k"), Some(b"v"), &[]);
    }
    b.transactional().build().unwrap().to_vec()
}

fn open(dir: &std::path::Path, config: LogConfig, clean: bool) -> PartitionLog {
    PartitionLog::open(dir, config, clean).unwrap().0
}

#[test]
fn the_last_stable_offset_follows_open_transactions_and_markers() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    log.append_batch(&batch(2, 10, 1_000), 0, 5_000).unwrap(); // 0-1 plain
    log.append_batch(&txn_batch(7, 0, 0, 3), 0, 5_000).unwrap(); // 2-4 txn of 7
    log.append_batch(&txn_batch(8, 0, 0, 2), 0, 5_000).unwrap(); // 5-6 txn of 8
    assert_eq!((log.last_stable_offset(), log.log_end_offset()), (2, 7));
    // read_committed stops before the open transaction.
    let slice = log
        .read_below(0, usize::MAX, true, log.last_stable_offset())
        .unwrap();
    assert_eq!((slice.first_offset, slice.next_offset), (0, 2));
    assert!(log.read_below(2, usize::MAX, true, 2).unwrap().is_empty());
    // Producer 7 commits (marker at 7): the LSO moves to producer 8's first offset.
    let info = log.append_marker(7, 0, true, 0, 0, 5_000).unwrap();
    assert_eq!(info.base_offset, 7);
    assert_eq!(log.last_stable_offset(), 5);
    // Producer 8 aborts (marker at 8): everything is stable; the abort is remembered.
    log.append_marker(8, 0, false, 0, 0, 5_000).unwrap();
    assert_eq!(log.last_stable_offset(), 9);
    let aborted = AbortedTxn {
        producer_id: 8,
        first_offset: 5,
        last_offset: 8,
        last_stable_offset: 9,
    };
    assert_eq!(log.aborted_transactions(0, 9), [aborted]);
    assert_eq!(log.aborted_transactions(9, 20), []);
    assert_eq!(
        log.aborted_transactions(0, 5),
        [],
        "ends before the range starts"
    );
    // The markers are control batches with the producer's id.
    let bytes = read_all(&log);
    let control: Vec<i64> = BatchIter::new(&bytes)
        .map(|b| b.unwrap())
        .filter(|b| b.is_control())
        .map(|b| b.producer_id())
        .collect();
    assert_eq!(control, [7, 8]);
}

#[test]
fn zombie_markers_and_plain_writes_inside_a_transaction_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    log.append_batch(&txn_batch(7, 2, 0, 1), 0, 5_000).unwrap();
    let plain = BatchBuilder::new(Compression::None).with_producer(7, 2, 1);
    let mut plain = plain;
    plain.append(1, None, Some(b"x"), &[]);
    assert!(matches!(
        log.append_batch(&plain.build().unwrap(), 0, 5_000),
        Err(StorageError::Producer(ProducerError::NotTransactional {
            first_offset: 0,
            ..
        }))
    ));
    assert!(matches!(
        log.append_marker(7, 1, false, 0, 0, 5_000),
        Err(StorageError::Producer(ProducerError::InvalidEpoch { .. }))
    ));
    // An abort under a bumped epoch (a fenced producer) ends the transaction.
    log.append_marker(7, 3, false, 0, 0, 5_000).unwrap();
    assert_eq!(log.last_stable_offset(), log.log_end_offset());
    assert!(matches!(
        log.append_batch(&txn_batch(7, 2, 1, 1), 0, 5_000),
        Err(StorageError::Producer(ProducerError::InvalidEpoch { .. }))
    ));
}

fn fill(log: &mut PartitionLog) -> (i64, Vec<AbortedTxn>) {
    // Many small transactions over several segments, every third aborted, one left open.
    for i in 0..90 {
        let pid = 100 + (i % 3);
        let seq = (i / 3) as i32 * 2;
        log.append_batch(&txn_batch(pid, 0, seq, 2), 0, 5_000)
            .unwrap();
        log.append_marker(pid, 0, i % 3 != 0, 0, 0, 5_000).unwrap();
    }
    log.append_batch(&txn_batch(200, 0, 0, 1), 0, 5_000)
        .unwrap();
    let open_at = log.log_end_offset() - 1;
    (open_at, log.aborted_transactions(0, i64::MAX))
}

#[test]
fn transactions_survive_clean_and_unclean_reopening() {
    for clean in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = open(dir.path(), small_config(), true);
        let (open_at, aborted) = fill(&mut log);
        assert_eq!(aborted.len(), 30);
        assert!(log.segment_count() > 2);
        assert_eq!(log.last_stable_offset(), open_at);
        if clean {
            log.close().unwrap();
        } else {
            log.flush().unwrap();
            drop(log);
        }
        let mut log = open(dir.path(), small_config(), clean);
        assert_eq!(log.last_stable_offset(), open_at, "clean={clean}");
        assert_eq!(
            log.aborted_transactions(0, i64::MAX),
            aborted,
            "clean={clean}"
        );
        log.append_marker(200, 0, false, 0, 0, 5_000).unwrap();
        assert_eq!(log.aborted_transactions(0, i64::MAX).len(), 31);
        drop(log);
        // A lost aborted-txns file is rebuilt from the markers in the log.
        std::fs::remove_file(dir.path().join(kavka_storage::ABORTED_TXNS_FILE)).unwrap();
        for name in file_names(dir.path()) {
            if name.ends_with(".snapshot") {
                std::fs::remove_file(dir.path().join(name)).unwrap();
            }
        }
        let log = open(dir.path(), small_config(), false);
        assert_eq!(
            log.aborted_transactions(0, i64::MAX).len(),
            31,
            "clean={clean}"
        );
        assert_eq!(log.last_stable_offset(), log.log_end_offset());
    }
}
