use std::fs;

use proptest::prelude::*;

use super::*;
use crate::test_support::batch;

fn file_len(dir: &Path) -> u64 {
    fs::metadata(dir.join(JOURNAL_FILE_NAME)).unwrap().len()
}

fn batches(range: std::ops::RangeInclusive<u64>, epoch: u32) -> Vec<MetadataBatch> {
    range.map(|o| batch(o, epoch)).collect()
}

#[test]
fn open_creates_the_directory_and_an_empty_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("__cluster_metadata-0");
    let (journal, read) = Journal::open(&dir).unwrap();
    assert!(read.is_empty());
    assert_eq!((journal.len_bytes(), journal.last()), (0, (0, 0)));
    assert_eq!(journal.path(), dir.join(JOURNAL_FILE_NAME));
    assert_eq!(file_len(&dir), 0);
}

#[test]
fn appended_batches_come_back_after_reopen_with_offsets_and_epochs() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(tmp.path()).unwrap();
    let mut written = batches(1..=3, 1);
    written.extend(batches(4..=5, 3));
    journal.append(&written[..3]).unwrap();
    journal.append(&[]).unwrap();
    journal.append(&written[3..]).unwrap();
    assert_eq!(journal.last(), (5, 3));
    assert_eq!(journal.len_bytes(), file_len(tmp.path()));
    assert_eq!(
        (
            journal.epoch_at(3),
            journal.epoch_at(4),
            journal.epoch_at(6)
        ),
        (Some(1), Some(3), None)
    );
    assert_eq!(journal.read_from(4).unwrap(), written[3..]);
    drop(journal);

    let (journal, read) = Journal::open(tmp.path()).unwrap();
    assert_eq!(read, written);
    assert_eq!(journal.last(), (5, 3));
}

#[test]
fn a_batch_that_does_not_follow_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(tmp.path()).unwrap();
    journal.append(&batches(1..=2, 2)).unwrap();
    let len = file_len(tmp.path());
    for bad in [batch(3, 2), batch(5, 2), batch(4, 1)] {
        let err = journal.append(&[batch(3, 2), bad]).unwrap_err();
        assert!(matches!(err, MetadataError::OutOfOrder { .. }), "{err}");
    }
    assert_eq!(file_len(tmp.path()), len);
    journal.append(&[batch(3, 2)]).unwrap();
}

#[test]
fn truncate_after_drops_the_suffix_durably() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(tmp.path()).unwrap();
    journal.append(&batches(1..=5, 1)).unwrap();
    journal.truncate_after(3).unwrap();
    assert_eq!(journal.last(), (3, 1));
    // A diverging leader's batches go where the dropped ones were.
    journal.append(&batches(4..=4, 2)).unwrap();
    drop(journal);
    let (journal, read) = Journal::open(tmp.path()).unwrap();
    let mut expected = batches(1..=3, 1);
    expected.push(batch(4, 2));
    assert_eq!(read, expected);
    assert_eq!(journal.len_bytes(), file_len(tmp.path()));
}

#[test]
fn drop_through_keeps_only_what_follows_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(tmp.path()).unwrap();
    journal.append(&batches(1..=5, 1)).unwrap();
    journal.drop_through(3, 1).unwrap();
    assert_eq!(journal.first_offset(), Some(4));
    assert_eq!(journal.read_from(0).unwrap(), batches(4..=5, 1));
    journal.append(&[batch(6, 1)]).unwrap();
    journal.drop_through(6, 1).unwrap();
    assert_eq!((journal.first_offset(), journal.last()), (None, (6, 1)));
    journal.append(&[batch(7, 2)]).unwrap();
    drop(journal);
    let (_, read) = Journal::open(tmp.path()).unwrap();
    assert_eq!(read, [batch(7, 2)]);
}

#[test]
fn oversized_frame_length_counts_as_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(tmp.path()).unwrap();
    journal.append(&batches(1..=1, 1)).unwrap();
    let good = file_len(tmp.path());
    drop(journal);
    let mut bytes = fs::read(tmp.path().join(JOURNAL_FILE_NAME)).unwrap();
    bytes.extend_from_slice(&u32::MAX.to_be_bytes());
    bytes.extend_from_slice(&[0; 4]);
    fs::write(tmp.path().join(JOURNAL_FILE_NAME), &bytes).unwrap();
    let (journal, read) = Journal::open(tmp.path()).unwrap();
    assert_eq!(
        (read.len(), journal.len_bytes(), file_len(tmp.path())),
        (1, good, good)
    );
}

#[test]
fn zero_filled_tail_is_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = Journal::open(tmp.path()).unwrap();
    journal.append(&batches(1..=2, 1)).unwrap();
    let good = file_len(tmp.path());
    drop(journal);
    let path = tmp.path().join(JOURNAL_FILE_NAME);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&path, &bytes).unwrap();
    let (journal, read) = Journal::open(tmp.path()).unwrap();
    assert_eq!(read, batches(1..=2, 1));
    assert_eq!((journal.len_bytes(), file_len(tmp.path())), (good, good));
}

#[test]
fn a_journal_of_the_earlier_format_is_converted_once() {
    let tmp = tempfile::tempdir().unwrap();
    // Two commits in the format without offsets, then a torn third.
    let mut old = Vec::new();
    for b in [batch(1, 0), batch(2, 0)] {
        let mut payload = (b.records.len() as u32).to_be_bytes().to_vec();
        for r in &b.records {
            let bytes = r.to_bytes();
            payload.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            payload.extend_from_slice(&bytes);
        }
        old.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        old.extend_from_slice(&kavka_metadata::batch::crc32c(&payload).to_be_bytes());
        old.extend_from_slice(&payload);
    }
    old.extend_from_slice(&[0, 0, 0, 9, 1]);
    fs::write(tmp.path().join(crate::LEGACY_FILE_NAME), &old).unwrap();

    let (_, read) = Journal::open(tmp.path()).unwrap();
    assert_eq!(read, [batch(1, 0), batch(2, 0)]);
    assert!(!tmp.path().join(crate::LEGACY_FILE_NAME).exists());
    let (_, again) = Journal::open(tmp.path()).unwrap();
    assert_eq!(again, read);
}

proptest! {
    /// Whatever a crash leaves after good batches (a cut anywhere in the last append, or
    /// garbage), open recovers exactly the batches before the damage.
    #[test]
    fn any_damaged_tail_recovers_to_a_prefix(count in 1u64..6, cut in any::<prop::sample::Index>(),
                                             garbage in prop::collection::vec(any::<u8>(), 0..64)) {
        let tmp = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(tmp.path()).unwrap();
        let written = batches(1..=count, 1);
        journal.append(&written).unwrap();
        drop(journal);
        let path = tmp.path().join(JOURNAL_FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        let at = cut.index(bytes.len() + 1);
        bytes.truncate(at);
        bytes.extend_from_slice(&garbage);
        fs::write(&path, &bytes).unwrap();
        let (journal, read) = Journal::open(tmp.path()).unwrap();
        prop_assert!(read.len() as u64 <= count);
        prop_assert_eq!(&read[..], &written[..read.len()]);
        prop_assert_eq!(journal.len_bytes(), fs::metadata(&path).unwrap().len());
    }
}
