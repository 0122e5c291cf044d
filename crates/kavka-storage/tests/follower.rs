//! The follower's append: a copy of a leader's log, byte for byte, with the same epochs,
//! producers and aborted transactions; batches that do not continue the log are refused; a
//! truncated follower takes the leader's batches again.

mod common;

use common::{read_all, small_config};
use kavka_protocol::batch::{BatchIter, Compression};
use kavka_protocol::records::BatchBuilder;
use kavka_storage::{PartitionLog, StorageError};

fn idempotent(pid: i64, seq: i32, transactional: bool) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None).with_producer(pid, 0, seq);
    if transactional {
        b = b.transactional();
    }
    for i in 0..3 {
        b.append(1_000 + i, None, Some(&[b'x'; 60]), &[]);
    }
    b.build().unwrap().to_vec()
}

/// A leader's log: plain batches and an idempotent producer in epoch 1, then epoch 3 with an
/// aborted transaction and a committed one.
fn leader(dir: &std::path::Path) -> PartitionLog {
    let (mut log, _) = PartitionLog::open(dir, small_config(), true).unwrap();
    for i in 0..10 {
        let batch = if i % 2 == 0 {
            common::batch(2, 80, 1_000 + i)
        } else {
            idempotent(5, (i as i32 / 2) * 3, false)
        };
        log.append_batch(&batch, 1, 1_000).unwrap();
    }
    log.append_batch(&idempotent(9, 0, true), 3, 2_000).unwrap();
    log.append_marker(9, 0, false, 0, 3, 2_000).unwrap();
    log.append_batch(&idempotent(9, 3, true), 3, 2_000).unwrap();
    log.append_marker(9, 0, true, 0, 3, 2_000).unwrap();
    log
}

/// Replicates `bytes` into `follower` a few batches at a time, as follower fetches would.
fn replicate(follower: &mut PartitionLog, bytes: &[u8]) {
    let spans: Vec<usize> = BatchIter::new(bytes).map(|b| b.unwrap().size()).collect();
    let mut at = 0;
    for chunk in spans.chunks(3) {
        let len: usize = chunk.iter().sum();
        follower
            .append_as_follower(&bytes[at..at + len], 3_000)
            .unwrap();
        at += len;
    }
}

fn state(log: &PartitionLog) -> (i64, Vec<(i32, i64)>, usize, i64) {
    let epochs = log
        .leader_epochs()
        .entries()
        .iter()
        .map(|e| (e.epoch, e.start_offset))
        .collect();
    (
        log.log_end_offset(),
        epochs,
        log.aborted_transactions(0, log.log_end_offset()).len(),
        log.last_stable_offset(),
    )
}

#[test]
fn a_follower_holds_the_leaders_log_byte_for_byte() {
    let (l, f) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let leader = leader(l.path());
    let bytes = read_all(&leader);
    let (mut follower, _) = PartitionLog::open(f.path(), small_config(), true).unwrap();
    replicate(&mut follower, &bytes);
    assert_eq!(read_all(&follower), bytes);
    assert_eq!(state(&follower), state(&leader));
    assert_eq!(state(&follower).1, [(1, 0), (3, 25)]);
    assert_eq!(state(&follower).2, 1, "the aborted transaction");
    // Promoted, it knows the producer's sequence: the next batch is accepted, a retry of the
    // last one is a duplicate.
    let next = follower
        .append_batch(&idempotent(5, 15, false), 4, 4_000)
        .unwrap();
    assert!(!next.duplicate);
    let retry = follower
        .append_batch(&idempotent(5, 12, false), 4, 4_000)
        .unwrap();
    assert!(retry.duplicate);
    follower.close().unwrap();
    for clean in [true, false] {
        let (reopened, _) = PartitionLog::open(f.path(), small_config(), clean).unwrap();
        assert_eq!(read_all(&reopened)[..bytes.len()], bytes[..]);
        reopened.close().unwrap();
    }
}

#[test]
fn batches_that_do_not_continue_the_log_are_refused() {
    let (l, f) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bytes = read_all(&leader(l.path()));
    let (mut follower, _) = PartitionLog::open(f.path(), small_config(), true).unwrap();
    replicate(&mut follower, &bytes);
    let end = follower.log_end_offset();
    let size = follower.size_bytes();
    let first = BatchIter::new(&bytes).next().unwrap().unwrap().size();
    let again = follower.append_as_follower(&bytes[..first], 3_000);
    assert!(matches!(
        again,
        Err(StorageError::OffsetsOutOfOrder { offset: 0, expected_min }) if expected_min == end
    ));
    assert_eq!(
        (follower.log_end_offset(), follower.size_bytes()),
        (end, size)
    );
}

#[test]
fn a_truncated_follower_takes_the_leaders_batches_again() {
    let (l, f) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let leader = leader(l.path());
    let bytes = read_all(&leader);
    let (mut follower, _) = PartitionLog::open(f.path(), small_config(), true).unwrap();
    replicate(&mut follower, &bytes);
    // Diverged at offset 14: back to the batch holding it, then the leader's batches from there.
    let end = follower.truncate_to(14).unwrap();
    assert_eq!(end, 12);
    let from = leader.read(end, usize::MAX, true).unwrap();
    let mut rest = Vec::new();
    let mut offset = from.next_offset;
    rest.extend_from_slice(&from.read_bytes().unwrap());
    while offset < leader.log_end_offset() {
        let slice = leader.read(offset, usize::MAX, true).unwrap();
        rest.extend_from_slice(&slice.read_bytes().unwrap());
        offset = slice.next_offset;
    }
    replicate(&mut follower, &rest);
    assert_eq!(read_all(&follower), bytes);
    assert_eq!(state(&follower), state(&leader));
}
