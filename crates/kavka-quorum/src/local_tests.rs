use std::fs;

use super::*;
use crate::test_support::topic;

fn image_of(replay: Replay) -> (MetadataImage, u64) {
    replay.into_image().unwrap()
}

#[test]
fn appends_are_committed_at_consecutive_offsets_and_replay_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = LocalLog::open(tmp.path(), SNAPSHOT_BYTES_MIN_DEFAULT).unwrap();
    let a = log.append(topic("a", 1, 2)).unwrap();
    let b = log.append(topic("b", 2, 1)).unwrap();
    assert_eq!((a.offset, a.epoch, b.offset, b.epoch), (1, 1, 2, 1));
    assert_eq!(log.committed_offset(), 2);
    let (live, offset) = image_of(log.replay().unwrap());
    assert_eq!((live.topic_count(), offset), (2, 2));
    drop(log);
    let log = LocalLog::open(tmp.path(), SNAPSHOT_BYTES_MIN_DEFAULT).unwrap();
    assert_eq!(image_of(log.replay().unwrap()), (live, 2));
}

#[test]
fn a_snapshot_replaces_the_prefix_and_replays_to_the_same_image() {
    let tmp = tempfile::tempdir().unwrap();
    // Small enough that every applied batch snapshots.
    let mut log = LocalLog::open(tmp.path(), 1).unwrap();
    let mut image = MetadataImage::new();
    for n in 1..=5u8 {
        let batch = log.append(topic(&format!("t{n}"), n, 3)).unwrap();
        for r in &batch.records {
            image.apply(r).unwrap();
        }
        log.applied(batch.offset, &image).unwrap();
    }
    assert_eq!(log.snapshot(), Some((5, 1)));
    assert_eq!(log.journal().batch_count(), 0);
    let snapshots: Vec<_> = crate::snapshots::list(tmp.path()).unwrap();
    assert_eq!(snapshots.len(), 1, "older snapshots are removed");
    let next = log.append(topic("after", 9, 1)).unwrap();
    assert_eq!(next.offset, 6);
    drop(log);

    let log = LocalLog::open(tmp.path(), 1).unwrap();
    let replay = log.replay().unwrap();
    assert_eq!(replay.snapshot.as_ref().map(|s| s.offset), Some(5));
    assert_eq!(replay.batches.len(), 1);
    let (rebuilt, offset) = image_of(replay);
    for r in &next.records {
        image.apply(r).unwrap();
    }
    assert_eq!((rebuilt, offset), (image, 6));
}

#[test]
fn a_crash_between_snapshot_and_prefix_drop_is_finished_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = LocalLog::open(tmp.path(), SNAPSHOT_BYTES_MIN_DEFAULT).unwrap();
    let mut image = MetadataImage::new();
    for n in 1..=3u8 {
        for r in &log.append(topic(&format!("t{n}"), n, 1)).unwrap().records {
            image.apply(r).unwrap();
        }
    }
    drop(log);
    // The snapshot at 2 is in place but the journal still holds 1..=3.
    let mut at_two = MetadataImage::new();
    for r in topic("t1", 1, 1).iter().chain(&topic("t2", 2, 1)) {
        at_two.apply(r).unwrap();
    }
    crate::snapshots::write(tmp.path(), 2, 1, &at_two).unwrap();
    let log = LocalLog::open(tmp.path(), SNAPSHOT_BYTES_MIN_DEFAULT).unwrap();
    assert_eq!(log.journal().first_offset(), Some(3));
    assert_eq!(image_of(log.replay().unwrap()), (image, 3));
}

#[test]
fn a_damaged_snapshot_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = LocalLog::open(tmp.path(), 1).unwrap();
    let batch = log.append(topic("a", 1, 1)).unwrap();
    let mut image = MetadataImage::new();
    for r in &batch.records {
        image.apply(r).unwrap();
    }
    log.applied(1, &image).unwrap();
    drop(log);
    let (_, _, path) = crate::snapshots::list(tmp.path()).unwrap().pop().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&path, &bytes).unwrap();
    let log = LocalLog::open(tmp.path(), 1).unwrap();
    let err = log.replay().unwrap_err();
    assert!(err.to_string().contains("checkpoint"), "{err}");
}

#[test]
fn a_journal_with_a_gap_before_it_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(tmp.path()).unwrap();
    journal
        .append(&[
            crate::test_support::batch(1, 1),
            crate::test_support::batch(2, 1),
        ])
        .unwrap();
    journal.drop_through(1, 1).unwrap();
    drop(journal);
    let err = LocalLog::open(tmp.path(), 1).unwrap_err();
    assert!(err.to_string().contains("starts at offset 2"), "{err}");
}
