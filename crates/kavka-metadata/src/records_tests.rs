use proptest::prelude::*;

use super::*;
use crate::test_support::arb_record;

fn round_trip(record: MetadataRecord) {
    let bytes = record.to_bytes();
    assert_eq!(MetadataRecord::decode(&bytes), Ok(record));
}

#[test]
fn topic_record_round_trips_with_exact_layout() {
    let id = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
    let record = MetadataRecord::Topic(TopicRecord {
        name: "t".into(),
        topic_id: id,
    });
    let mut expected = vec![0, 2, 0, 0, 0, 0, 0, 1, b't'];
    expected.extend_from_slice(id.as_bytes());
    assert_eq!(record.to_bytes(), expected);
    round_trip(record);
}

#[test]
fn partition_record_round_trips() {
    round_trip(MetadataRecord::Partition(PartitionRecord {
        topic_id: Uuid::from_u128(7),
        partition: 3,
        replicas: vec![1, 2, 3],
        isr: vec![1, 3],
        leader: 3,
        leader_epoch: 5,
        partition_epoch: 9,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }));
}

#[test]
fn partition_records_carry_a_reassignment_and_version_0_still_reads() {
    let moving = PartitionRecord {
        topic_id: Uuid::from_u128(7),
        partition: 0,
        replicas: vec![2, 3, 1],
        isr: vec![1, 2],
        leader: 1,
        leader_epoch: 5,
        partition_epoch: 9,
        adding_replicas: vec![3],
        removing_replicas: vec![1],
    };
    round_trip(MetadataRecord::Partition(moving.clone()));
    // Version 0: the same fields without the last two arrays.
    let mut v0 = MetadataRecord::Partition(moving.clone()).to_bytes();
    v0[3] = 0;
    v0.truncate(v0.len() - 2 * 4 - 4 - 4);
    let decoded = MetadataRecord::decode(&v0).unwrap();
    let expected = PartitionRecord {
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        ..moving
    };
    assert_eq!(decoded, MetadataRecord::Partition(expected));
}

#[test]
fn config_record_round_trips_set_and_delete() {
    for value in [Some("1000".to_owned()), Some(String::new()), None] {
        round_trip(MetadataRecord::Config(ConfigRecord {
            resource_type: ConfigResourceType::Topic,
            resource_name: "orders".into(),
            name: "retention.ms".into(),
            value,
        }));
    }
    round_trip(MetadataRecord::Config(ConfigRecord {
        resource_type: ConfigResourceType::Broker,
        resource_name: String::new(),
        name: "log.retention.ms".into(),
        value: Some("1".into()),
    }));
}

#[test]
fn remove_topic_record_round_trips() {
    round_trip(MetadataRecord::RemoveTopic(RemoveTopicRecord {
        topic_id: Uuid::from_u128(42),
    }));
}

#[test]
fn producer_ids_record_round_trips_with_exact_layout() {
    let record = MetadataRecord::ProducerIds(ProducerIdsRecord {
        broker_id: 1,
        broker_epoch: -1,
        next_producer_id: 2000,
    });
    let mut expected = vec![0, 15, 0, 0, 0, 0, 0, 1];
    expected.extend_from_slice(&(-1i64).to_be_bytes());
    expected.extend_from_slice(&2000i64.to_be_bytes());
    assert_eq!(record.to_bytes(), expected);
    round_trip(record);
}

#[test]
fn register_broker_record_round_trips() {
    for rack in [None, Some("eu-west-1a".to_string())] {
        round_trip(MetadataRecord::RegisterBroker(
            crate::RegisterBrokerRecord {
                broker_id: 3,
                incarnation_id: Uuid::from_u128(7),
                broker_epoch: 41,
                endpoints: vec![crate::BrokerEndpointRecord {
                    listener: "PLAINTEXT".into(),
                    host: "10.0.0.3".into(),
                    port: 9092,
                }],
                rack,
            },
        ));
    }
}

#[test]
fn register_broker_records_carry_every_endpoint_and_version_0_still_reads() {
    let endpoint = |listener: &str, port| crate::BrokerEndpointRecord {
        listener: listener.into(),
        host: "h".into(),
        port,
    };
    let record = crate::RegisterBrokerRecord {
        broker_id: 1,
        incarnation_id: Uuid::from_u128(9),
        broker_epoch: -1,
        endpoints: vec![endpoint("INTERNAL", 9092), endpoint("EXTERNAL", 9094)],
        rack: None,
    };
    assert_eq!(record.endpoint("EXTERNAL").map(|e| e.port), Some(9094));
    round_trip(MetadataRecord::RegisterBroker(record));
    // Version 0, as journals written before several listeners hold it: one endpoint.
    let mut v0 = vec![0, 0, 0, 0];
    v0.extend_from_slice(&1i32.to_be_bytes());
    v0.extend_from_slice(Uuid::from_u128(9).as_bytes());
    v0.extend_from_slice(&(-1i64).to_be_bytes());
    for s in ["PLAINTEXT", "h"] {
        v0.extend_from_slice(&(s.len() as i32).to_be_bytes());
        v0.extend_from_slice(s.as_bytes());
    }
    v0.extend_from_slice(&9092i32.to_be_bytes());
    v0.extend_from_slice(&(-1i32).to_be_bytes());
    match MetadataRecord::decode(&v0).unwrap() {
        MetadataRecord::RegisterBroker(r) => {
            assert_eq!(r.endpoints, vec![endpoint("PLAINTEXT", 9092)])
        }
        other => panic!("{other:?}"),
    }
    // A count of endpoints beyond the bytes present is refused, not allocated.
    let mut huge = vec![0, 0, 0, 1];
    huge.extend_from_slice(&1i32.to_be_bytes());
    huge.extend_from_slice(&[0; 16]);
    huge.extend_from_slice(&(-1i64).to_be_bytes());
    huge.extend_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        MetadataRecord::decode(&huge),
        Err(crate::DecodeError::InvalidLength { .. })
    ));
}

#[test]
fn fencing_records_round_trip_with_kafkas_type_ids() {
    let r = crate::BrokerFencingRecord {
        broker_id: 2,
        broker_epoch: -1,
    };
    let fence = MetadataRecord::FenceBroker(r.clone());
    let unfence = MetadataRecord::UnfenceBroker(r.clone());
    let unregister = MetadataRecord::UnregisterBroker(r);
    assert_eq!(
        (fence.type_id(), unfence.type_id(), unregister.type_id()),
        (7, 8, 1)
    );
    round_trip(fence);
    round_trip(unfence);
    round_trip(unregister);
}

#[test]
fn type_ids_and_versions_are_stable() {
    assert_eq!(TopicRecord::TYPE_ID, 2);
    assert_eq!(PartitionRecord::TYPE_ID, 3);
    assert_eq!(ConfigRecord::TYPE_ID, 4);
    assert_eq!(RemoveTopicRecord::TYPE_ID, 9);
    assert_eq!(ProducerIdsRecord::TYPE_ID, 15);
    assert_eq!(ConfigResourceType::Topic.code(), 2);
    assert_eq!(ConfigResourceType::Broker.code(), 4);
}

#[test]
fn decode_rejects_unknown_type_and_version() {
    assert_eq!(
        MetadataRecord::decode(&[0, 16, 0, 0]),
        Err(DecodeError::UnknownType { type_id: 16 })
    );
    let mut bytes = MetadataRecord::RemoveTopic(RemoveTopicRecord {
        topic_id: Uuid::nil(),
    })
    .to_bytes();
    bytes[3] = 1;
    assert_eq!(
        MetadataRecord::decode(&bytes),
        Err(DecodeError::UnsupportedVersion {
            type_id: 9,
            version: 1
        })
    );
}

#[test]
fn decode_rejects_truncation_and_trailing_bytes() {
    assert_eq!(
        MetadataRecord::decode(&[]),
        Err(DecodeError::Truncated { field: "type_id" })
    );
    let mut bytes = MetadataRecord::RemoveTopic(RemoveTopicRecord {
        topic_id: Uuid::nil(),
    })
    .to_bytes();
    assert_eq!(
        MetadataRecord::decode(&bytes[..bytes.len() - 1]),
        Err(DecodeError::Truncated { field: "topic_id" })
    );
    bytes.push(0);
    assert_eq!(
        MetadataRecord::decode(&bytes),
        Err(DecodeError::TrailingBytes { bytes: 1 })
    );
}

#[test]
fn decode_rejects_hostile_lengths_without_allocating() {
    // A partition record whose replica count claims i32::MAX elements in a few bytes.
    let mut bytes = vec![0, 3, 0, 0];
    bytes.extend_from_slice(&[0; 16]); // topic id
    bytes.extend_from_slice(&0i32.to_be_bytes()); // partition
    bytes.extend_from_slice(&i32::MAX.to_be_bytes()); // replicas count
    assert_eq!(
        MetadataRecord::decode(&bytes),
        Err(DecodeError::Truncated { field: "replicas" })
    );
    // A negative (non-null) string length.
    let bytes = [0, 2, 0, 0, 0xff, 0xff, 0xff, 0xfe];
    assert_eq!(
        MetadataRecord::decode(&bytes),
        Err(DecodeError::InvalidLength {
            field: "name",
            len: -2
        })
    );
    // Null where a string is required.
    let bytes = [0, 2, 0, 0, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        MetadataRecord::decode(&bytes),
        Err(DecodeError::InvalidLength {
            field: "name",
            len: -1
        })
    );
}

#[test]
fn decode_rejects_bad_utf8_and_resource_type() {
    let bytes = [0, 2, 0, 0, 0, 0, 0, 1, 0xff];
    assert_eq!(
        MetadataRecord::decode(&bytes),
        Err(DecodeError::InvalidUtf8 { field: "name" })
    );
    let bytes = [0, 4, 0, 0, 3];
    assert_eq!(
        MetadataRecord::decode(&bytes),
        Err(DecodeError::InvalidConfigResourceType { code: 3 })
    );
}

proptest! {
    #[test]
    fn encode_decode_round_trips(record in arb_record()) {
        let bytes = record.to_bytes();
        prop_assert_eq!(MetadataRecord::decode(&bytes), Ok(record));
    }

    #[test]
    fn every_strict_prefix_fails_to_decode(record in arb_record()) {
        let bytes = record.to_bytes();
        for len in 0..bytes.len() {
            prop_assert!(MetadataRecord::decode(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = MetadataRecord::decode(&bytes);
    }

    #[test]
    fn random_bodies_after_a_valid_header_never_panic(
        type_id in prop_oneof![Just(2u16), Just(3), Just(4), Just(9), Just(15)],
        body in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut bytes = type_id.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&body);
        if let Ok(record) = MetadataRecord::decode(&bytes) {
            // Whatever decodes re-encodes to the same bytes: the encoding is canonical.
            prop_assert_eq!(record.to_bytes(), bytes);
        }
    }
}
