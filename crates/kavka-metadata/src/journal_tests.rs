use proptest::prelude::*;

use super::*;
use crate::records::{ConfigRecord, ConfigResourceType};
use crate::test_support::{arb_record, partition, topic, topic_config};

fn sample() -> Vec<MetadataRecord> {
    vec![
        topic("a", 1),
        partition(1, 0),
        topic_config("a", "retention.ms", Some("1000")),
    ]
}

/// Bytes of a commit frame holding just `record`: header, record count, record length, record.
fn frame_bytes(record: &MetadataRecord) -> u64 {
    (FRAME_HEADER_BYTES + 4 + 4 + record.to_bytes().len()) as u64
}

/// Appends each record as a commit of its own.
fn append_each(journal: &mut MetadataJournal, records: &[MetadataRecord]) {
    for r in records {
        journal.append(std::slice::from_ref(r)).unwrap();
    }
}

fn file_len(dir: &Path) -> u64 {
    fs::metadata(dir.join(JOURNAL_FILE_NAME)).unwrap().len()
}

#[test]
fn open_creates_the_directory_and_an_empty_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("__cluster_metadata-0");
    let (journal, records) = MetadataJournal::open(&dir).unwrap();
    assert!(records.is_empty());
    assert_eq!((journal.len_bytes(), journal.record_count()), (0, 0));
    assert_eq!(journal.path(), dir.join(JOURNAL_FILE_NAME));
    assert_eq!(file_len(&dir), 0);
}

#[test]
fn appended_records_replay_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = MetadataJournal::open(tmp.path()).unwrap();
    let records = sample();
    journal.append(&records[..2]).unwrap();
    journal.append(&[]).unwrap();
    journal.append(&records[2..]).unwrap();
    assert_eq!(journal.record_count(), 3);
    assert_eq!(journal.len_bytes(), file_len(tmp.path()));
    drop(journal);

    let (journal, replayed) = MetadataJournal::open(tmp.path()).unwrap();
    assert_eq!(replayed, records);
    assert_eq!(journal.record_count(), 3);
}

#[test]
fn oversized_record_is_refused_and_nothing_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = MetadataJournal::open(tmp.path()).unwrap();
    let huge = MetadataRecord::Config(ConfigRecord {
        resource_type: ConfigResourceType::Broker,
        resource_name: String::new(),
        name: "x".into(),
        value: Some("v".repeat(FRAME_BYTES_MAX)),
    });
    let err = journal.append(&[topic("a", 1), huge]).unwrap_err();
    assert!(matches!(err, MetadataError::RecordTooLarge { .. }), "{err}");
    assert_eq!(file_len(tmp.path()), 0);
    journal.append(&[topic("a", 1)]).unwrap();
}

#[test]
fn oversized_frame_length_counts_as_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = MetadataJournal::open(tmp.path()).unwrap();
    journal.append(&sample()).unwrap();
    let good_len = journal.len_bytes();
    drop(journal);
    let mut bytes = fs::read(tmp.path().join(JOURNAL_FILE_NAME)).unwrap();
    bytes.extend_from_slice(&(FRAME_BYTES_MAX as u32 + 1).to_be_bytes());
    bytes.extend_from_slice(&[0; 64]);
    fs::write(tmp.path().join(JOURNAL_FILE_NAME), bytes).unwrap();

    let (journal, records) = MetadataJournal::open(tmp.path()).unwrap();
    assert_eq!(records, sample());
    assert_eq!(journal.len_bytes(), good_len);
    assert_eq!(file_len(tmp.path()), good_len);
}

#[test]
fn zero_filled_tail_is_truncated() {
    // What some file systems leave after a crash that extended the file but lost its data.
    let tmp = tempfile::tempdir().unwrap();
    let (mut journal, _) = MetadataJournal::open(tmp.path()).unwrap();
    journal.append(&sample()).unwrap();
    let good_len = journal.len_bytes();
    drop(journal);
    let file = OpenOptions::new()
        .write(true)
        .open(tmp.path().join(JOURNAL_FILE_NAME))
        .unwrap();
    file.set_len(good_len + 4096).unwrap();
    let (_, records) = MetadataJournal::open(tmp.path()).unwrap();
    assert_eq!(records, sample());
    assert_eq!(file_len(tmp.path()), good_len);
}

/// Reopens `dir` expecting exactly `expected`, then checks an append lands and replays.
fn assert_recovers_to(dir: &Path, expected: &[MetadataRecord]) -> Result<(), TestCaseError> {
    let (mut journal, records) = MetadataJournal::open(dir).unwrap();
    prop_assert_eq!(&records, expected);
    let good_len: u64 = expected.iter().map(frame_bytes).sum();
    prop_assert_eq!(journal.len_bytes(), good_len);
    prop_assert_eq!(file_len(dir), good_len);
    let extra = topic("after-recovery", 9);
    journal.append(std::slice::from_ref(&extra)).unwrap();
    drop(journal);
    let (_, records) = MetadataJournal::open(dir).unwrap();
    prop_assert_eq!(records.len(), expected.len() + 1);
    prop_assert_eq!(&records[..expected.len()], expected);
    prop_assert_eq!(records.last(), Some(&extra));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_records_replay_exactly(
        batches in prop::collection::vec(prop::collection::vec(arb_record(), 0..5), 0..5),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let (mut journal, _) = MetadataJournal::open(tmp.path()).unwrap();
        for batch in &batches {
            journal.append(batch).unwrap();
        }
        drop(journal);
        let (_, records) = MetadataJournal::open(tmp.path()).unwrap();
        prop_assert_eq!(records, batches.concat());
    }

    #[test]
    fn torn_tail_is_truncated_to_the_last_whole_frame(
        records in prop::collection::vec(arb_record(), 1..8),
        cut_seed in any::<u64>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let (mut journal, _) = MetadataJournal::open(tmp.path()).unwrap();
        append_each(&mut journal, &records);
        let total = journal.len_bytes();
        drop(journal);
        let cut = 1 + cut_seed % total;
        let file = OpenOptions::new().write(true).open(tmp.path().join(JOURNAL_FILE_NAME)).unwrap();
        file.set_len(total - cut).unwrap();
        drop(file);

        // The survivors are the frames that end at or before the cut.
        let mut end = 0;
        let survivors: Vec<_> = records
            .iter()
            .take_while(|r| {
                end += frame_bytes(r);
                end <= total - cut
            })
            .cloned()
            .collect();
        assert_recovers_to(tmp.path(), &survivors)?;
    }

    #[test]
    fn flipped_byte_in_last_frame_drops_only_that_frame(
        records in prop::collection::vec(arb_record(), 1..6),
        at_seed in any::<u64>(),
        flip in 1u8..=255,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let (mut journal, _) = MetadataJournal::open(tmp.path()).unwrap();
        append_each(&mut journal, &records);
        drop(journal);
        let path = tmp.path().join(JOURNAL_FILE_NAME);
        let mut bytes = fs::read(&path).unwrap();
        let last = frame_bytes(records.last().unwrap()) as usize;
        let at = bytes.len() - last + (at_seed % last as u64) as usize;
        bytes[at] ^= flip;
        fs::write(&path, bytes).unwrap();
        assert_recovers_to(tmp.path(), &records[..records.len() - 1])?;
    }

    #[test]
    fn random_garbage_file_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(JOURNAL_FILE_NAME), &bytes).unwrap();
        let (journal, _) = MetadataJournal::open(tmp.path()).unwrap();
        prop_assert_eq!(file_len(tmp.path()), journal.len_bytes());
    }

    #[test]
    fn a_torn_commit_replays_none_of_its_records(
        first in prop::collection::vec(arb_record(), 1..4),
        second in prop::collection::vec(arb_record(), 2..6),
        cut_seed in any::<u64>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let (mut journal, _) = MetadataJournal::open(tmp.path()).unwrap();
        journal.append(&first).unwrap();
        let first_len = journal.len_bytes();
        journal.append(&second).unwrap();
        let total = journal.len_bytes();
        drop(journal);
        let cut = 1 + cut_seed % (total - first_len);
        let file = OpenOptions::new().write(true).open(tmp.path().join(JOURNAL_FILE_NAME)).unwrap();
        file.set_len(total - cut).unwrap();
        drop(file);
        let (journal, records) = MetadataJournal::open(tmp.path()).unwrap();
        prop_assert_eq!(records, first);
        prop_assert_eq!(journal.len_bytes(), first_len);
    }
}
