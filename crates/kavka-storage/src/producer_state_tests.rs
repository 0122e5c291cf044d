use proptest::prelude::*;

use super::*;
use crate::producer_snapshot::{decode, encode, SnapshotError};

fn batch(pid: i64, epoch: i16, first_seq: i32, records: i32, first_offset: i64) -> ProducerBatch {
    ProducerBatch {
        producer_id: pid,
        epoch,
        first_seq,
        last_seq: last_sequence(first_seq, records - 1),
        first_offset,
        last_offset: first_offset + i64::from(records) - 1,
        timestamp_ms: 1_000 + first_offset,
        transactional: false,
    }
}

#[test]
fn a_new_producer_is_accepted_at_any_sequence_as_kafka_4_does() {
    let state = ProducerStateManager::new();
    assert_eq!(
        state.check(&batch(7, 0, 0, 3, 0)),
        Ok(ProducerCheck::Append)
    );
    assert_eq!(
        state.check(&batch(7, 0, 42, 3, 0)),
        Ok(ProducerCheck::Append)
    );
}

#[test]
fn sequences_must_continue_and_retries_are_duplicates() {
    let mut state = ProducerStateManager::new();
    state.record(&batch(7, 0, 0, 3, 10));
    state.record(&batch(7, 0, 3, 2, 13));
    assert_eq!(state.get(7).unwrap().last_seq(), 4);
    assert_eq!(
        state.check(&batch(7, 0, 5, 1, 0)),
        Ok(ProducerCheck::Append)
    );
    // A retry of either retained batch is answered with its original offsets.
    match state.check(&batch(7, 0, 0, 3, 99)) {
        Ok(ProducerCheck::Duplicate(b)) => assert_eq!((b.first_offset, b.last_offset), (10, 12)),
        other => panic!("{other:?}"),
    }
    match state.check(&batch(7, 0, 3, 2, 99)) {
        Ok(ProducerCheck::Duplicate(b)) => assert_eq!((b.first_offset, b.last_offset), (13, 14)),
        other => panic!("{other:?}"),
    }
    // A gap, and an overlapping range that is no retained batch, are out of order.
    assert_eq!(
        state.check(&batch(7, 0, 7, 1, 0)),
        Err(ProducerError::OutOfOrderSequence {
            producer_id: 7,
            epoch: 0,
            first_seq: 7,
            expected: 5
        })
    );
    assert!(matches!(
        state.check(&batch(7, 0, 1, 2, 0)),
        Err(ProducerError::OutOfOrderSequence { .. })
    ));
}

#[test]
fn only_the_last_five_batches_are_retained() {
    let mut state = ProducerStateManager::new();
    for i in 0..7 {
        state.record(&batch(1, 0, i, 1, i64::from(i)));
    }
    let entry = state.get(1).unwrap();
    assert_eq!(entry.batches.len(), PRODUCER_BATCHES_MAX);
    assert_eq!(entry.batches.front().unwrap().first_seq, 2);
    assert!(matches!(
        state.check(&batch(1, 0, 2, 1, 0)),
        Ok(ProducerCheck::Duplicate(_))
    ));
    assert!(matches!(
        state.check(&batch(1, 0, 1, 1, 0)),
        Err(ProducerError::OutOfOrderSequence { .. })
    ));
}

#[test]
fn epochs_fence_zombies_and_a_new_epoch_starts_at_zero() {
    let mut state = ProducerStateManager::new();
    state.record(&batch(1, 3, 0, 5, 0));
    assert_eq!(
        state.check(&batch(1, 2, 5, 1, 0)),
        Err(ProducerError::InvalidEpoch {
            producer_id: 1,
            epoch: 2,
            current: 3
        })
    );
    assert_eq!(
        state.check(&batch(1, 4, 5, 1, 0)),
        Err(ProducerError::OutOfOrderSequence {
            producer_id: 1,
            epoch: 4,
            first_seq: 5,
            expected: 0
        })
    );
    assert_eq!(
        state.check(&batch(1, 4, 0, 1, 0)),
        Ok(ProducerCheck::Append)
    );
    // A retry under the old epoch is no longer a duplicate once the epoch moved.
    state.record(&batch(1, 4, 0, 1, 5));
    assert!(matches!(
        state.check(&batch(1, 3, 0, 5, 0)),
        Err(ProducerError::InvalidEpoch { .. })
    ));
    assert_eq!(state.get(1).unwrap().batches.len(), 1);
}

#[test]
fn sequences_wrap_at_i32_max() {
    assert_eq!(last_sequence(i32::MAX - 1, 3), 1);
    assert_eq!(last_sequence(i32::MAX, 0), i32::MAX);
    assert_eq!(last_sequence(5, 4), 9);
    assert_eq!(last_sequence(-1, 4), -1);
    let mut state = ProducerStateManager::new();
    state.record(&batch(1, 0, i32::MAX - 2, 3, 0));
    assert_eq!(state.get(1).unwrap().last_seq(), i32::MAX);
    assert_eq!(
        state.check(&batch(1, 0, 0, 2, 0)),
        Ok(ProducerCheck::Append)
    );
    assert!(state.check(&batch(1, 0, 1, 2, 0)).is_err());
}

#[test]
fn idle_producers_expire() {
    let mut state = ProducerStateManager::new();
    state.record(&batch(1, 0, 0, 1, 0)); // timestamp 1000
    state.record(&batch(2, 0, 0, 1, 5000)); // timestamp 6000
    assert_eq!(state.expire(10_999, 10_000), 0);
    assert_eq!(state.expire(11_000, 10_000), 1);
    assert!(state.get(1).is_none() && state.get(2).is_some());
}

#[test]
fn snapshots_round_trip_and_refuse_damage() {
    let mut state = ProducerStateManager::new();
    for i in 0..8 {
        state.record(&batch(
            i64::from(i % 3),
            (i / 4) as i16,
            i,
            2,
            i64::from(i) * 10,
        ));
    }
    let bytes = encode(&state);
    assert_eq!(decode(&bytes), Ok(state.clone()));
    assert_eq!(
        decode(&encode(&ProducerStateManager::new())).unwrap().len(),
        0
    );
    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert_eq!(decode(&flipped), Err(SnapshotError::CrcMismatch));
    let mut version = bytes.clone();
    version[1] = 9;
    assert_eq!(decode(&version), Err(SnapshotError::UnsupportedVersion(9)));
    for len in 0..bytes.len() {
        assert!(decode(&bytes[..len]).is_err(), "prefix of {len} bytes");
    }
}

fn with_crc(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 1];
    out.extend_from_slice(&crc32c::crc32c(body).to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn hostile_snapshot_counts_are_refused_without_allocating() {
    let bytes = with_crc(&i32::MAX.to_be_bytes());
    assert_eq!(
        decode(&bytes),
        Err(SnapshotError::Invalid("producer count"))
    );
    let mut body = 1i32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0; 30]);
    body.push(6); // more batches than are ever retained
    assert_eq!(
        decode(&with_crc(&body)),
        Err(SnapshotError::Invalid("batch count"))
    );
}

proptest! {
    #[test]
    fn random_snapshot_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&body);
        if let Ok(state) = decode(&with_crc(&body)) {
            // Whatever decodes re-encodes to a snapshot that decodes the same.
            prop_assert_eq!(decode(&encode(&state)), Ok(state));
        }
    }

    #[test]
    fn state_matches_a_model_of_in_order_batches(
        ops in prop::collection::vec((0i64..3, 0i16..3, 1i32..4), 1..60)
    ) {
        // Model: per producer (epoch, next sequence); the state must accept exactly what
        // continues the model and refuse older epochs.
        let mut state = ProducerStateManager::new();
        let mut model: std::collections::HashMap<i64, (i16, i32)> = Default::default();
        let mut offset = 0;
        for (pid, epoch, records) in ops {
            let (next_seq, expect_ok) = match model.get(&pid) {
                None => (0, true),
                Some(&(e, _)) if epoch < e => (0, false),
                Some(&(e, seq)) if epoch == e => (seq, true),
                Some(_) => (0, true),
            };
            let b = batch(pid, epoch, next_seq, records, offset);
            let checked = state.check(&b);
            prop_assert_eq!(checked.is_ok(), expect_ok, "{:?}", checked);
            if expect_ok {
                state.record(&b);
                model.insert(pid, (epoch, next_seq + records));
                offset += i64::from(records);
                // Immediately retried: a duplicate with the original offsets.
                let retry = state.check(&b);
                prop_assert_eq!(retry, Ok(ProducerCheck::Duplicate(*state.get(pid).unwrap().batches.back().unwrap())));
            }
        }
    }
}

#[test]
fn a_snapshot_naming_one_transaction_offset_twice_round_trips() {
    // Found by the producer_snapshot fuzz target: two producers claiming the same open
    // transaction offset (only a damaged snapshot can say so) must not make the state depend
    // on hash order.
    let entry = |pid| ProducerEntry {
        producer_id: pid,
        epoch: 0,
        batches: Default::default(),
        last_timestamp_ms: 0,
        current_txn_first_offset: 7,
        coordinator_epoch: -1,
    };
    let state = ProducerStateManager::from_entries([entry(1), entry(2)]);
    assert_eq!(decode(&encode(&state)), Ok(state.clone()));
    assert_eq!(state.first_unstable_offset(), Some(7));
}
