use raft::Storage;

use super::*;
use crate::test_support::topic;

fn entry(index: u64, term: u64, n: u8) -> Entry {
    Entry {
        index,
        term,
        data: entry_data(topic(&format!("t{n}"), n, 1)).unwrap().into(),
        ..Default::default()
    }
}

fn ctx() -> GetEntriesContext {
    GetEntriesContext::empty(false)
}

#[test]
fn a_log_shorter_than_its_commit_is_refused_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = RaftStore::open(tmp.path(), &[1, 2, 3]).unwrap();
    store.append(&[entry(1, 1, 1), entry(2, 1, 2)]).unwrap();
    store
        .set_hard_state(&HardState {
            term: 1,
            vote: 1,
            commit: 2,
            ..Default::default()
        })
        .unwrap();
    drop(store);
    // The disk lost the journal's content but kept the hard state.
    std::fs::write(tmp.path().join("journal.log"), b"").unwrap();
    let config = crate::raft::RaftConfig {
        id: 1,
        voters: vec![1, 2, 3],
        election_ticks: 10,
        election_ticks_spread: 10,
        heartbeat_ticks: 3,
    };
    let e = crate::raft::RaftNode::open_at_commit(tmp.path(), &config).unwrap_err();
    assert!(e.to_string().contains("offset 2 is committed"), "{e}");
}

#[test]
fn entries_terms_and_a_replaced_suffix_survive_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = RaftStore::open(tmp.path(), &[1, 2, 3]).unwrap();
    store
        .append(&[entry(1, 1, 1), entry(2, 1, 2), entry(3, 2, 3)])
        .unwrap();
    // A new leader replaces 3 with its own entries.
    store.append(&[entry(3, 3, 4), entry(4, 3, 5)]).unwrap();
    store
        .set_hard_state(&HardState {
            term: 3,
            vote: 2,
            commit: 2,
            ..Default::default()
        })
        .unwrap();
    drop(store);
    let store = RaftStore::open(tmp.path(), &[1, 2, 3]).unwrap();
    assert_eq!(
        (
            store.first_index().unwrap(),
            Storage::last_index(&store).unwrap()
        ),
        (1, 4)
    );
    assert_eq!(store.term(3).unwrap(), 3);
    let got = store.entries(2, 5, None, ctx()).unwrap();
    assert_eq!(got, [entry(2, 1, 2), entry(3, 3, 4), entry(4, 3, 5)]);
    let state = store.initial_state().unwrap();
    assert_eq!(
        (
            state.hard_state.term,
            state.hard_state.vote,
            state.hard_state.commit
        ),
        (3, 2, 2)
    );
    assert_eq!(state.conf_state.voters, [1, 2, 3]);
    assert!(matches!(
        store.entries(2, 6, None, ctx()),
        Err(raft::Error::Store(StorageError::Unavailable))
    ));
}

#[test]
fn compaction_keeps_the_snapshot_term_and_refuses_compacted_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = RaftStore::open(tmp.path(), &[1]).unwrap();
    store
        .append(&[entry(1, 1, 1), entry(2, 1, 2), entry(3, 2, 3)])
        .unwrap();
    let mut image = MetadataImage::new();
    for e in [entry(1, 1, 1), entry(2, 1, 2)] {
        for r in entry_records(&e).unwrap() {
            image.apply(&r).unwrap();
        }
    }
    store.compact(2, &image).unwrap();
    assert_eq!(store.first_index().unwrap(), 3);
    assert_eq!(store.term(2).unwrap(), 1);
    assert!(matches!(
        store.term(1),
        Err(raft::Error::Store(StorageError::Compacted))
    ));
    assert!(matches!(
        store.entries(1, 3, None, ctx()),
        Err(raft::Error::Store(StorageError::Compacted))
    ));
    let snap = store.snapshot(0, 2).unwrap();
    assert_eq!(
        (snap.get_metadata().index, snap.get_metadata().term),
        (2, 1)
    );
    drop(store);

    // Reopened, and installed on an empty follower.
    let store = RaftStore::open(tmp.path(), &[1]).unwrap();
    assert_eq!(store.snapshot_image().unwrap(), Some((2, image.clone())));
    assert_eq!(store.entries(3, 4, None, ctx()).unwrap(), [entry(3, 2, 3)]);
    let other = tempfile::tempdir().unwrap();
    let mut follower = RaftStore::open(other.path(), &[1]).unwrap();
    let (offset, _, installed) = follower.apply_snapshot(&snap).unwrap();
    assert_eq!((offset, installed), (2, image));
    assert_eq!(follower.first_index().unwrap(), 3);
    assert_eq!(follower.initial_state().unwrap().hard_state.commit, 2);
    follower.append(&[entry(3, 2, 3)]).unwrap();
    assert_eq!(Storage::last_index(&follower).unwrap(), 3);
}

#[test]
fn an_observer_gets_committed_entries_or_the_snapshot_before_them() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = RaftStore::open(tmp.path(), &[1]).unwrap();
    store
        .append(&[entry(1, 1, 1), entry(2, 1, 2), entry(3, 2, 3)])
        .unwrap();
    let offsets = |items: Vec<Fetched>| -> Vec<u64> {
        items
            .iter()
            .map(|i| match i {
                Fetched::Batch(b) => b.offset,
                Fetched::Snapshot(_) => 0,
            })
            .collect()
    };
    // Only up to the commit index; from the offset after the one held.
    assert_eq!(
        offsets(store.committed_after(0, 2, usize::MAX).unwrap()),
        [1, 2]
    );
    assert_eq!(
        offsets(store.committed_after(1, 3, usize::MAX).unwrap()),
        [2, 3]
    );
    assert!(store.committed_after(3, 3, usize::MAX).unwrap().is_empty());
    // A byte limit still lets one entry through.
    assert_eq!(offsets(store.committed_after(0, 3, 1).unwrap()), [1]);
    let mut image = MetadataImage::new();
    for e in [entry(1, 1, 1), entry(2, 1, 2)] {
        for r in entry_records(&e).unwrap() {
            image.apply(&r).unwrap();
        }
    }
    store.compact(2, &image).unwrap();
    // Behind the snapshot: the snapshot, then what follows it.
    let items = store.committed_after(1, 3, usize::MAX).unwrap();
    assert_eq!(offsets(items.clone()), [0, 3]);
    let Fetched::Snapshot(bytes) = &items[0] else {
        unreachable!()
    };
    assert_eq!(decode_snapshot(bytes).unwrap(), (2, 1, image));
    assert_eq!(
        offsets(store.committed_after(2, 3, usize::MAX).unwrap()),
        [3]
    );
}
