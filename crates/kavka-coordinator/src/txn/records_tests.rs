use proptest::prelude::*;

use super::*;

fn value(status: TxnStatus, partitions: Vec<(String, Vec<i32>)>) -> TxnLogValue {
    TxnLogValue {
        producer_id: 1000,
        previous_producer_id: -1,
        next_producer_id: -1,
        producer_epoch: 3,
        timeout_ms: 60_000,
        status,
        partitions,
        last_update_ms: 1_700_000_000_123,
        start_ms: 1_700_000_000_000,
        client_transaction_version: 0,
    }
}

#[test]
fn key_and_v0_value_have_kafkas_layout() {
    let r = TxnRecord {
        transactional_id: "tx".into(),
        value: Some(value(TxnStatus::Ongoing, vec![("t".into(), vec![0, 2])])),
    };
    assert_eq!(r.encode_key().as_ref(), &[0, 0, 0, 2, b't', b'x']);
    let mut v = vec![0, 0]; // version 0
    v.extend_from_slice(&1000i64.to_be_bytes());
    v.extend_from_slice(&3i16.to_be_bytes());
    v.extend_from_slice(&60_000i32.to_be_bytes());
    v.push(1); // Ongoing
    v.extend_from_slice(&1i32.to_be_bytes()); // one topic
    v.extend_from_slice(&[0, 1, b't']);
    v.extend_from_slice(&2i32.to_be_bytes());
    v.extend_from_slice(&0i32.to_be_bytes());
    v.extend_from_slice(&2i32.to_be_bytes());
    v.extend_from_slice(&1_700_000_000_123i64.to_be_bytes());
    v.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
    assert_eq!(r.encode_value().unwrap().as_ref(), v.as_slice());
    let back = TxnRecord::decode(&r.encode_key(), Some(&v))
        .unwrap()
        .unwrap();
    assert_eq!(back, r);
}

#[test]
fn an_empty_transaction_has_a_null_partition_list() {
    let r = TxnRecord {
        transactional_id: "tx".into(),
        value: Some(value(TxnStatus::Empty, vec![])),
    };
    let bytes = r.encode_value().unwrap();
    assert_eq!(&bytes[17..21], &(-1i32).to_be_bytes());
    assert_eq!(
        TxnRecord::decode(&r.encode_key(), Some(&bytes))
            .unwrap()
            .unwrap(),
        r
    );
}

#[test]
fn v1_carries_the_tagged_fields_and_skips_unknown_tags() {
    let mut v = value(
        TxnStatus::PrepareCommit,
        vec![("a".into(), vec![1]), ("b".into(), vec![])],
    );
    v.previous_producer_id = 7;
    v.client_transaction_version = 2;
    let r = TxnRecord {
        transactional_id: "tx".into(),
        value: Some(v),
    };
    let bytes = r.encode_value().unwrap();
    assert_eq!(&bytes[..2], &[0, 1], "written as v1");
    assert_eq!(
        TxnRecord::decode(&r.encode_key(), Some(&bytes))
            .unwrap()
            .unwrap(),
        r
    );
    // Append an unknown tag 9 by rewriting the final tag section (count 2 -> 3).
    let mut with_unknown = bytes.to_vec();
    let tags_at = with_unknown.len() - (1 + 2 + 8 + 2 + 2);
    assert_eq!(with_unknown[tags_at], 2);
    with_unknown[tags_at] = 3;
    with_unknown.extend_from_slice(&[9, 1, 0xaa]);
    assert_eq!(
        TxnRecord::decode(&r.encode_key(), Some(&with_unknown))
            .unwrap()
            .unwrap(),
        r
    );
}

#[test]
fn tombstones_unknown_versions_and_damage() {
    let r = TxnRecord {
        transactional_id: "gone".into(),
        value: None,
    };
    assert_eq!(
        TxnRecord::decode(&r.encode_key(), None).unwrap().unwrap(),
        r
    );
    assert_eq!(
        TxnRecord::decode(&[0, 5, 0, 0], None).unwrap(),
        None,
        "unknown key version"
    );
    let good = TxnRecord {
        transactional_id: "tx".into(),
        value: Some(value(TxnStatus::Ongoing, vec![("t".into(), vec![0])])),
    };
    let mut v = good.encode_value().unwrap().to_vec();
    v[1] = 2;
    assert!(matches!(
        TxnRecord::decode(&good.encode_key(), Some(&v)),
        Err(RecordDecodeError::UnknownValueVersion { version: 2, .. })
    ));
    let mut v = good.encode_value().unwrap().to_vec();
    v[16] = 42; // no such status
    assert!(TxnRecord::decode(&good.encode_key(), Some(&v)).is_err());
    // A partition count far beyond the bytes is refused before allocating.
    let mut v = good.encode_value().unwrap().to_vec();
    v[17..21].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        TxnRecord::decode(&good.encode_key(), Some(&v)),
        Err(RecordDecodeError::Truncated { .. })
    ));
}

fn arb_value() -> impl Strategy<Value = TxnLogValue> {
    (
        any::<i64>(),
        prop_oneof![Just(-1i64), any::<i64>()],
        any::<i16>(),
        any::<i32>(),
        0i8..8,
        prop::collection::vec(
            ("[a-z]{0,8}", prop::collection::vec(any::<i32>(), 0..4)),
            0..4,
        ),
        any::<i64>(),
        prop_oneof![Just(0i16), Just(2i16)],
    )
        .prop_map(|(pid, prev, epoch, timeout, status, partitions, ts, ctv)| {
            let status = TxnStatus::from_id(status).unwrap();
            TxnLogValue {
                producer_id: pid,
                previous_producer_id: prev,
                next_producer_id: -1,
                producer_epoch: epoch,
                timeout_ms: timeout,
                status,
                partitions,
                last_update_ms: ts,
                start_ms: ts / 2,
                client_transaction_version: ctv,
            }
        })
}

proptest! {
    #[test]
    fn records_round_trip_and_no_prefix_decodes(id in "[a-zA-Z0-9._-]{0,20}", v in prop::option::of(arb_value())) {
        let r = TxnRecord { transactional_id: id, value: v };
        let key = r.encode_key();
        let value = r.encode_value();
        prop_assert_eq!(TxnRecord::decode(&key, value.as_deref()).unwrap().unwrap(), r.clone());
        if let Some(value) = value {
            for len in 0..value.len() {
                prop_assert!(TxnRecord::decode(&key, Some(&value[..len])).is_err());
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(key in prop::collection::vec(any::<u8>(), 0..40), value in prop::collection::vec(any::<u8>(), 0..120)) {
        let _ = TxnRecord::decode(&key, Some(&value));
        let mut v = vec![0u8, (value.first().copied().unwrap_or(0) & 1)];
        v.extend_from_slice(&value);
        if let Ok(Some(r)) = TxnRecord::decode(&[0, 0, 0, 1, b'x'], Some(&v)) {
            let again = TxnRecord::decode(&r.encode_key(), r.encode_value().as_deref()).unwrap().unwrap();
            prop_assert_eq!(again, r);
        }
    }
}
