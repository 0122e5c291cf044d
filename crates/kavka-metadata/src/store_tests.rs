use std::fs;

use proptest::prelude::*;

use super::*;
use crate::image::ReplayError;
use crate::journal::JOURNAL_FILE_NAME;
use crate::test_support::{partition, remove_topic, topic, topic_config, topic_id};

fn journal_bytes(dir: &Path) -> Vec<u8> {
    fs::read(dir.join(JOURNAL_FILE_NAME)).unwrap()
}

#[test]
fn commit_publishes_and_reopen_rebuilds_the_same_image() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = MetadataStore::open(tmp.path()).unwrap();
    store
        .commit(vec![topic("a", 1), partition(1, 0), partition(1, 1)])
        .unwrap();
    store
        .commit(vec![topic_config("a", "retention.ms", Some("5"))])
        .unwrap();
    store
        .commit(vec![topic("b", 2), partition(2, 0), remove_topic(1)])
        .unwrap();
    store.commit(Vec::new()).unwrap();
    assert!(store.image().topic_by_name("a").is_none());
    assert_eq!(
        store.image().topic_by_name("b").unwrap().partitions.len(),
        1
    );
    assert_eq!(store.journal().record_count(), 7);

    let live = store.snapshot();
    drop(store);
    let reopened = MetadataStore::open(tmp.path()).unwrap();
    assert_eq!(*reopened.image(), *live);
}

#[test]
fn invalid_batch_changes_neither_image_nor_file() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = MetadataStore::open(tmp.path()).unwrap();
    store.commit(vec![topic("a", 1), partition(1, 0)]).unwrap();
    let image_before = store.image().clone();
    let file_before = journal_bytes(tmp.path());

    // Valid records first, then one for an unknown topic: the whole batch goes.
    let err = store
        .commit(vec![topic("b", 2), partition(2, 0), partition(3, 0)])
        .unwrap_err();
    match err {
        MetadataError::Rejected { index, source } => {
            assert_eq!(index, 2);
            assert_eq!(
                source,
                ReplayError::UnknownTopicId {
                    topic_id: topic_id(3)
                }
            );
        }
        other => panic!("unexpected error {other}"),
    }
    assert_eq!(*store.image(), image_before);
    assert_eq!(journal_bytes(tmp.path()), file_before);
    assert_eq!(store.journal().record_count(), 2);

    // The store still works.
    store.commit(vec![topic("b", 2)]).unwrap();
    assert!(store.image().topic_by_name("b").is_some());
}

#[test]
fn snapshots_do_not_see_later_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut store = MetadataStore::open(tmp.path()).unwrap();
    store.commit(vec![topic("a", 1)]).unwrap();
    let snapshot = store.snapshot();
    store.commit(vec![remove_topic(1)]).unwrap();
    assert!(snapshot.topic_by_name("a").is_some());
    assert!(store.image().topic_by_name("a").is_none());
}

#[test]
fn inconsistent_journal_is_a_hard_error_naming_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    // Written below the store, which would have refused it.
    let (mut journal, _) = MetadataJournal::open(tmp.path()).unwrap();
    journal
        .append(&[topic("a", 1), partition(1, 0), partition(2, 0)])
        .unwrap();
    drop(journal);
    let err = MetadataStore::open(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            MetadataError::Replay {
                index: 2,
                source: ReplayError::UnknownTopicId { .. }
            }
        ),
        "{err}"
    );
}

/// Records over a small universe (3 names, 4 ids, 3 partitions) so that random batches
/// hit both accepted and rejected cases.
fn arb_op() -> impl Strategy<Value = MetadataRecord> {
    let name = prop::sample::select(vec!["a", "b", "c"]);
    prop_oneof![
        3 => (name.clone(), 1u8..5).prop_map(|(name, n)| topic(name, n)),
        4 => (1u8..5, 0i32..3).prop_map(|(n, p)| partition(n, p)),
        2 => (name, prop::option::of("[0-9]{1,3}")).prop_map(|(t, v)| topic_config(
            t,
            "retention.ms",
            v.as_deref()
        )),
        1 => (1u8..5).prop_map(remove_topic),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn replay_rebuilds_the_live_image(
        batches in prop::collection::vec(prop::collection::vec(arb_op(), 1..3), 1..40),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = MetadataStore::open(tmp.path()).unwrap();
        let mut committed = 0;
        for batch in batches {
            let before = store.snapshot();
            let len = batch.len() as u64;
            match store.commit(batch) {
                Ok(()) => committed += len,
                Err(MetadataError::Rejected { .. }) => prop_assert_eq!(store.image(), &*before),
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
        prop_assert_eq!(store.journal().record_count(), committed);
        let live = store.snapshot();
        drop(store);
        let reopened = MetadataStore::open(tmp.path()).unwrap();
        prop_assert_eq!(reopened.image(), &*live);
    }
}
