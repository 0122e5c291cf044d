//! Idempotent producers through `PartitionLog`: duplicates, sequence and epoch checks, and the
//! producer state across rolls, clean and unclean reopening, truncation and retention.

mod common;

use common::*;
use kavka_protocol::batch::Compression;
use kavka_protocol::records::BatchBuilder;
use kavka_storage::{LogConfig, PartitionLog, ProducerError, StorageError};

fn idempotent(pid: i64, epoch: i16, seq: i32, records: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).with_producer(pid, epoch, seq);
    for i in 0..records {
        b.append(1_000 + i as i64, None, Some(&[b'x'; 100]), &[]);
    }
    b.build().unwrap().to_vec()
}

fn open(dir: &std::path::Path, config: LogConfig, clean: bool) -> PartitionLog {
    PartitionLog::open(dir, config, clean).unwrap().0
}

/// Appends batches of 3 records for producer `pid` from sequence `from_seq`, through the
/// produce path (`append_batch`).
fn produce(log: &mut PartitionLog, pid: i64, from_seq: i32, batches: i32) {
    for i in 0..batches {
        let info = log
            .append_batch(&idempotent(pid, 0, from_seq + i * 3, 3), 0, 5_000)
            .unwrap();
        assert!(!info.duplicate);
    }
}

#[test]
fn a_retried_batch_is_answered_with_its_offsets_and_not_appended() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    let first = log.append_batch(&idempotent(9, 0, 0, 3), 0, 5_000).unwrap();
    log.append_batch(&idempotent(9, 0, 3, 2), 0, 5_000).unwrap();
    let size = log.size_bytes();
    let retry = log.append_batch(&idempotent(9, 0, 0, 3), 0, 5_000).unwrap();
    assert!(retry.duplicate);
    assert_eq!(
        (retry.base_offset, retry.last_offset),
        (first.base_offset, 2)
    );
    assert_eq!((log.log_end_offset(), log.size_bytes()), (5, size));
    // The multi-batch path agrees.
    let retry = log.append_batch(&idempotent(9, 0, 3, 2), 0, 5_000).unwrap();
    assert!(retry.duplicate && retry.base_offset == 3);
    assert_eq!(log.log_end_offset(), 5);
}

#[test]
fn gaps_and_old_epochs_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    log.append_batch(&idempotent(9, 2, 0, 3), 0, 5_000).unwrap();
    let gap = log
        .append_batch(&idempotent(9, 2, 5, 1), 0, 5_000)
        .unwrap_err();
    assert!(matches!(
        gap,
        StorageError::Producer(ProducerError::OutOfOrderSequence { expected: 3, .. })
    ));
    let zombie = log
        .append_batch(&idempotent(9, 1, 3, 1), 0, 5_000)
        .unwrap_err();
    assert!(matches!(
        zombie,
        StorageError::Producer(ProducerError::InvalidEpoch { current: 2, .. })
    ));
    assert_eq!(log.log_end_offset(), 3);
    // Batches of one producer appended in turn continue its sequence.
    log.append_batch(&idempotent(9, 2, 3, 1), 0, 5_000).unwrap();
    log.append_batch(&idempotent(9, 2, 4, 1), 0, 5_000).unwrap();
    assert!(log.append_batch(&idempotent(9, 2, 6, 1), 0, 5_000).is_err());
    assert_eq!(log.log_end_offset(), 5);
    // A payload of two batches is refused whole (one batch per append, as Produce v3+).
    let two = [idempotent(9, 2, 5, 1), idempotent(9, 2, 6, 1)].concat();
    assert!(log.append_batch(&two, 0, 5_000).is_err());
    assert_eq!(log.log_end_offset(), 5);
    // Plain batches never touch the producer state.
    log.append_batch(&batch(2, 10, 1_000), 0, 5_000).unwrap();
    assert_eq!(log.producer_state().len(), 1);
}

#[test]
fn producer_state_survives_a_clean_reopen_from_the_close_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    produce(&mut log, 1, 0, 7);
    let before = log.producer_state().clone();
    log.close().unwrap();
    assert!(file_names(dir.path()).contains(&format!("{:020}.snapshot", 21)));
    let mut log = open(dir.path(), LogConfig::default(), true);
    assert_eq!(log.producer_state(), &before);
    // All five retained batches are still recognised as retries after the restart.
    for seq in [6, 9, 12, 15, 18] {
        let info = log
            .append_batch(&idempotent(1, 0, seq, 3), 0, 5_000)
            .unwrap();
        assert!(info.duplicate, "seq {seq}");
    }
    produce(&mut log, 1, 21, 1);
}

#[test]
fn a_crash_after_appends_loses_no_producer_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), small_config(), true);
    // Enough batches to roll several segments (each roll snapshots), then more after the last.
    produce(&mut log, 1, 0, 40);
    produce(&mut log, 2, 0, 3);
    assert!(log.segment_count() > 3);
    let before = log.producer_state().clone();
    log.flush().unwrap();
    drop(log); // no close: no snapshot at the log end
    let log = open(dir.path(), small_config(), false);
    assert_eq!(log.producer_state(), &before);
    // Without any snapshot the whole log is replayed.
    for name in file_names(dir.path()) {
        if name.ends_with(".snapshot") {
            std::fs::remove_file(dir.path().join(name)).unwrap();
        }
    }
    drop(log);
    let log = open(dir.path(), small_config(), false);
    assert_eq!(log.producer_state(), &before);
}

#[test]
fn snapshots_past_the_recovered_log_end_are_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = open(dir.path(), LogConfig::default(), true);
    produce(&mut log, 1, 0, 2);
    log.close().unwrap();
    let log = open(dir.path(), LogConfig::default(), true);
    // The data of the last batch is lost (as after a power cut) but its snapshot survived.
    drop(log);
    let segment = segment_file(dir.path(), 0, "log");
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len - 10).unwrap();
    let mut log = open(dir.path(), LogConfig::default(), false);
    assert_eq!(log.log_end_offset(), 3);
    assert!(!file_names(dir.path()).contains(&format!("{:020}.snapshot", 6)));
    // The producer's state is what the log holds: the lost batch is appended again as new.
    assert_eq!(log.producer_state().get(1).unwrap().last_seq(), 2);
    let info = log.append_batch(&idempotent(1, 0, 3, 3), 0, 5_000).unwrap();
    assert!(!info.duplicate);
}

#[test]
fn retention_keeps_producers_and_removes_old_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        retention_bytes: 5000,
        ..small_config()
    };
    let mut log = open(dir.path(), config.clone(), true);
    produce(&mut log, 1, 0, 60);
    let snapshots_before = file_names(dir.path())
        .iter()
        .filter(|n| n.ends_with(".snapshot"))
        .count();
    log.apply_retention(10_000).unwrap();
    let bases = log.segment_base_offsets();
    let snapshots: Vec<String> = file_names(dir.path())
        .into_iter()
        .filter(|n| n.ends_with(".snapshot"))
        .collect();
    assert!(snapshots.len() < snapshots_before);
    assert!(snapshots
        .iter()
        .all(|n| n[..20].parse::<i64>().unwrap() >= bases[0]));
    // Producer 1 is still known: its next batch must continue its sequence.
    assert!(log.append_batch(&idempotent(1, 0, 0, 3), 0, 5_000).is_err());
    produce(&mut log, 1, 180, 1);
    assert_eq!(log.expire_producers(2_000 + 86_400_000, 86_400_000), 1);
    assert!(log.producer_state().is_empty());
}
