//! The leader epoch cache of a partition log as it is written, reopened, rebuilt, recovered and
//! trimmed: `leader-epoch-checkpoint` in Kafka's layout, answers as OffsetForLeaderEpoch needs.

mod common;

use common::{batch, small_config};
use kavka_storage::epoch_cache::{EpochEntry, LEADER_EPOCH_CHECKPOINT_FILE};
use kavka_storage::{LogConfig, PartitionLog};

/// Appends batches of 5 records, one per epoch given (the produce path: `append_batch`).
fn append_epochs(log: &mut PartitionLog, epochs: &[i32]) {
    for &epoch in epochs {
        log.append_batch(&batch(5, 100, 1_000), epoch, 1_000)
            .unwrap();
    }
}

fn entries(log: &PartitionLog) -> Vec<(i32, i64)> {
    log.leader_epochs()
        .entries()
        .iter()
        .map(
            |&EpochEntry {
                 epoch,
                 start_offset,
             }| (epoch, start_offset),
        )
        .collect()
}

#[test]
fn epochs_are_checkpointed_and_answer_where_they_end() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    append_epochs(&mut log, &[0, 0, 3, 3, 3, 5]);
    assert_eq!(entries(&log), [(0, 0), (3, 10), (5, 25)]);
    let text = std::fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE)).unwrap();
    assert_eq!(text, "0\n3\n0 0\n3 10\n5 25\n");
    assert_eq!(log.end_offset_for_epoch(5), (5, 30));
    assert_eq!(log.end_offset_for_epoch(3), (3, 25));
    assert_eq!(log.end_offset_for_epoch(4), (3, 25));
    assert_eq!(log.end_offset_for_epoch(6), (-1, -1));
    log.close().unwrap();
    let (log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(entries(&log), [(0, 0), (3, 10), (5, 25)]);
}

#[test]
fn a_transaction_marker_of_a_new_epoch_starts_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    let mut b =
        kavka_protocol::records::BatchBuilder::new(kavka_protocol::batch::Compression::None)
            .with_producer(7, 0, 0)
            .transactional();
    b.append(1_000, None, Some(b"in a transaction"), &[]);
    log.append_batch(&b.build().unwrap(), 2, 1_000).unwrap();
    // The leader changed before the coordinator's marker arrived.
    let marker = log.append_marker(7, 0, true, 0, 3, 1_000).unwrap();
    assert_eq!(entries(&log), [(2, 0), (3, marker.base_offset)]);
    log.close().unwrap();
    std::fs::remove_file(dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE)).unwrap();
    let (log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(
        entries(&log),
        [(2, 0), (3, 1)],
        "the marker's header names its epoch"
    );
}

#[test]
fn a_missing_or_damaged_checkpoint_is_rebuilt_from_the_batches() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    // Enough batches for several segments.
    append_epochs(&mut log, &[1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 7, 7]);
    let expected = entries(&log);
    assert_eq!(expected, [(1, 0), (2, 15), (4, 35), (7, 60)]);
    assert!(log.segment_count() > 1, "{} segments", log.segment_count());
    log.close().unwrap();
    let checkpoint = dir.path().join(LEADER_EPOCH_CHECKPOINT_FILE);
    for damage in [None, Some("0\n9\n1 0\n"), Some("garbage")] {
        match damage {
            None => std::fs::remove_file(&checkpoint).unwrap(),
            Some(text) => std::fs::write(&checkpoint, text).unwrap(),
        }
        let (log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
        assert_eq!(entries(&log), expected, "after {damage:?}");
        log.close().unwrap();
        let text = std::fs::read_to_string(&checkpoint).unwrap();
        assert!(text.starts_with("0\n4\n"), "rewritten: {text:?}");
    }
}

#[test]
fn an_epoch_whose_batches_were_lost_is_forgotten_at_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), LogConfig::default(), true).unwrap();
    append_epochs(&mut log, &[0, 0, 2]);
    assert_eq!(entries(&log), [(0, 0), (2, 10)]);
    drop(log);
    // The last batch was torn by a crash: recovery cuts the segment back to the first two.
    let segment = common::segment_file(dir.path(), 0, "log");
    let len = std::fs::metadata(&segment).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(len - 10).unwrap();
    let (log, _) = PartitionLog::open(dir.path(), LogConfig::default(), false).unwrap();
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(entries(&log), [(0, 0)]);
    assert_eq!(log.end_offset_for_epoch(0), (0, 10));
    assert_eq!(log.end_offset_for_epoch(2), (-1, -1));
}

#[test]
fn the_first_epoch_starts_at_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    append_epochs(&mut log, &[0, 0, 3, 3, 6]);
    log.delete_records(12).unwrap();
    assert_eq!(entries(&log), [(3, 12), (6, 20)]);
    log.delete_records(22).unwrap();
    assert_eq!(entries(&log), [(6, 22)]);
    log.close().unwrap();
    let (log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(entries(&log), [(6, 22)]);
    assert_eq!(log.end_offset_for_epoch(3), (3, 22));
}

#[test]
fn a_new_leader_starts_its_epoch_at_the_log_end_before_appending() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    // An empty log: without the new leader's entry, epoch 0 (what a consumer that started
    // before the leader changed validates) would be unknown, which a client reads as truncation.
    log.start_leader_epoch(1).unwrap();
    assert_eq!(entries(&log), [(1, 0)]);
    assert_eq!(log.end_offset_for_epoch(0), (0, 0));
    append_epochs(&mut log, &[1, 1]);
    assert_eq!(entries(&log), [(1, 0)], "its batches continue the epoch");
    // Leader again at epoch 2, then at 4 before appending anything: 4 replaces the empty 2.
    log.start_leader_epoch(2).unwrap();
    log.start_leader_epoch(4).unwrap();
    assert_eq!(entries(&log), [(1, 0), (4, 10)]);
    assert_eq!(log.end_offset_for_epoch(1), (1, 10));
    assert_eq!(log.end_offset_for_epoch(3), (1, 10));
    log.start_leader_epoch(4).unwrap();
    log.start_leader_epoch(3).unwrap();
    assert_eq!(
        entries(&log),
        [(1, 0), (4, 10)],
        "an epoch not newer changes nothing"
    );
}

#[test]
fn a_leader_epoch_never_appended_to_goes_with_a_truncation_at_the_log_end() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    append_epochs(&mut log, &[0, 0]);
    // Leader at epoch 1 for a moment, nothing appended; then a follower of epoch 2's leader,
    // which says epoch 0 ends at 10: no bytes go, but epoch 1 must, or the follower's next
    // fetch (last fetched epoch 1) diverges again, forever.
    log.start_leader_epoch(1).unwrap();
    assert_eq!(entries(&log), [(0, 0), (1, 10)]);
    assert_eq!(log.truncate_to(10).unwrap(), 10);
    assert_eq!(entries(&log), [(0, 0)]);
    log.close().unwrap();
    let (log, _) = PartitionLog::open(dir.path(), small_config(), true).unwrap();
    assert_eq!(entries(&log), [(0, 0)], "the checkpoint was rewritten");
}
