use super::*;
use crate::test_support::{partition, remove_topic, topic, topic_config, topic_id};

fn image_of(records: &[MetadataRecord]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for r in records {
        image.apply(r).unwrap();
    }
    image
}

/// Applies `record`, expects `expected`, and checks that the image did not change.
fn assert_rejected(image: &mut MetadataImage, record: MetadataRecord, expected: ReplayError) {
    let before = image.clone();
    assert_eq!(image.apply(&record), Err(expected));
    assert_eq!(*image, before);
}

#[test]
fn topics_are_found_by_name_and_id_and_listed_by_name() {
    let image = image_of(&[
        topic("b", 1),
        topic("a", 2),
        partition(1, 0),
        partition(1, 1),
    ]);
    let b = image.topic_by_name("b").unwrap();
    assert_eq!(b.topic_id, topic_id(1));
    assert_eq!(b.partitions.len(), 2);
    assert_eq!(image.topic_by_id(&topic_id(2)).unwrap().name, "a");
    let names: Vec<_> = image.topics().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(image.topic_count(), 2);
    assert!(image.topic_by_name("c").is_none());
}

#[test]
fn replaying_the_same_topic_record_is_a_no_op() {
    let mut image = image_of(&[topic("a", 1), partition(1, 0)]);
    let before = image.clone();
    image.apply(&topic("a", 1)).unwrap();
    assert_eq!(image, before);
}

#[test]
fn topic_name_or_id_reuse_is_rejected() {
    let mut image = image_of(&[topic("a", 1)]);
    assert_rejected(
        &mut image,
        topic("a", 2),
        ReplayError::TopicNameConflict {
            name: "a".into(),
            existing_id: topic_id(1),
            topic_id: topic_id(2),
        },
    );
    assert_rejected(
        &mut image,
        topic("b", 1),
        ReplayError::TopicIdConflict {
            topic_id: topic_id(1),
            existing_name: "a".into(),
            name: "b".into(),
        },
    );
}

#[test]
fn empty_names_and_reserved_ids_are_rejected() {
    let mut image = MetadataImage::new();
    assert_rejected(&mut image, topic("", 1), ReplayError::EmptyTopicName);
    for topic_id in [Uuid::nil(), METADATA_TOPIC_ID] {
        let record = TopicRecord {
            name: "a".into(),
            topic_id,
        };
        assert_rejected(
            &mut image,
            record.into(),
            ReplayError::ReservedTopicId { topic_id },
        );
    }
}

#[test]
fn partition_of_unknown_topic_is_rejected() {
    let mut image = image_of(&[topic("a", 1)]);
    assert_rejected(
        &mut image,
        partition(2, 0),
        ReplayError::UnknownTopicId {
            topic_id: topic_id(2),
        },
    );
}

fn partition_record(p: i32, edit: impl FnOnce(&mut PartitionRecord)) -> MetadataRecord {
    let MetadataRecord::Partition(mut r) = partition(1, p) else {
        unreachable!()
    };
    edit(&mut r);
    r.into()
}

#[test]
fn invalid_partitions_are_rejected() {
    let mut image = image_of(&[topic("a", 1), partition(1, 0)]);
    let cases: Vec<(MetadataRecord, &str)> = vec![
        (partition_record(-1, |_| {}), "negative partition index"),
        (
            partition_record(2, |_| {}),
            "partitions must be added in order from 0",
        ),
        (partition_record(1, |r| r.replicas.clear()), "no replicas"),
        (
            partition_record(1, |r| r.replicas = vec![1, 1]),
            "replicas must be distinct broker ids",
        ),
        (
            partition_record(1, |r| r.isr = vec![2]),
            "isr must be distinct replicas",
        ),
        (
            partition_record(1, |r| r.leader = 2),
            "leader must be -1 or in the isr",
        ),
        (
            partition_record(1, |r| r.leader_epoch = -1),
            "negative epoch",
        ),
    ];
    for (record, reason) in cases {
        let MetadataRecord::Partition(r) = &record else {
            unreachable!()
        };
        let expected = ReplayError::InvalidPartition {
            topic_id: topic_id(1),
            partition: r.partition,
            reason,
        };
        assert_rejected(&mut image, record, expected);
    }
}

#[test]
fn partition_state_is_replaced_but_epochs_never_go_back() {
    let mut image = image_of(&[topic("a", 1), partition(1, 0)]);
    let leaderless = partition_record(0, |r| {
        r.isr.clear();
        r.leader = -1;
        r.leader_epoch = 1;
        r.partition_epoch = 1;
    });
    image.apply(&leaderless).unwrap();
    let p = &image.topic_by_name("a").unwrap().partitions[&0];
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (-1, 1, 1));
    assert!(p.isr.is_empty());
    assert_rejected(
        &mut image,
        partition_record(0, |r| r.partition_epoch = 1),
        ReplayError::InvalidPartition {
            topic_id: topic_id(1),
            partition: 0,
            reason: "leader epoch goes backwards",
        },
    );
}

#[test]
fn topic_configs_are_set_deleted_and_require_the_topic() {
    let mut image = image_of(&[
        topic("a", 1),
        topic_config("a", "retention.ms", Some("1")),
        topic_config("a", "cleanup.policy", Some("compact")),
        topic_config("a", "retention.ms", Some("2")),
    ]);
    let configs = image.topic_configs("a").unwrap();
    assert_eq!(configs.len(), 2);
    assert_eq!(configs["retention.ms"], "2");
    image
        .apply(&topic_config("a", "retention.ms", None))
        .unwrap();
    image
        .apply(&topic_config("a", "no.such.key", None))
        .unwrap();
    image
        .apply(&topic_config("a", "cleanup.policy", None))
        .unwrap();
    assert_eq!(image.topic_configs("a"), None);
    assert_rejected(
        &mut image,
        topic_config("b", "retention.ms", Some("1")),
        ReplayError::UnknownTopicName { name: "b".into() },
    );
}

#[test]
fn broker_configs_accept_ids_and_the_cluster_default() {
    let broker = |name: &str| -> MetadataRecord {
        ConfigRecord {
            resource_type: ConfigResourceType::Broker,
            resource_name: name.into(),
            name: "log.retention.ms".into(),
            value: Some("5".into()),
        }
        .into()
    };
    let mut image = image_of(&[broker(""), broker("1")]);
    assert_eq!(image.broker_configs("").unwrap().len(), 1);
    assert_eq!(
        image.configs(ConfigResourceType::Broker, "1").unwrap()["log.retention.ms"],
        "5"
    );
    for bad in ["x", "-1"] {
        let before = image.clone();
        assert!(matches!(
            image.apply(&broker(bad)),
            Err(ReplayError::InvalidConfig { .. })
        ));
        assert_eq!(image, before);
    }
}

#[test]
fn removing_a_topic_removes_partitions_and_configs() {
    let mut image = image_of(&[
        topic("a", 1),
        partition(1, 0),
        topic_config("a", "retention.ms", Some("1")),
        topic("b", 2),
        remove_topic(1),
    ]);
    assert!(image.topic_by_name("a").is_none());
    assert!(image.topic_by_id(&topic_id(1)).is_none());
    assert!(image.topic_configs("a").is_none());
    assert_eq!(image.topic_count(), 1);
    assert_rejected(
        &mut image,
        remove_topic(1),
        ReplayError::UnknownTopicId {
            topic_id: topic_id(1),
        },
    );
    // The name is free again, under a new id, with no partitions or configs.
    image.apply(&topic("a", 3)).unwrap();
    let a = image.topic_by_name("a").unwrap();
    assert_eq!(a.topic_id, topic_id(3));
    assert!(a.partitions.is_empty());
}

#[test]
fn clones_share_nothing_observable() {
    let image = image_of(&[topic("a", 1), partition(1, 0)]);
    let mut next = image.clone();
    next.apply(&partition(1, 1)).unwrap();
    assert_eq!(image.topic_by_name("a").unwrap().partitions.len(), 1);
    assert_eq!(next.topic_by_name("a").unwrap().partitions.len(), 2);
}

#[test]
fn producer_id_blocks_only_move_forward() {
    let block = |next_producer_id| {
        MetadataRecord::ProducerIds(crate::records::ProducerIdsRecord {
            broker_id: 1,
            broker_epoch: -1,
            next_producer_id,
        })
    };
    let mut image = image_of(&[block(1000), block(2000)]);
    assert_eq!(image.next_producer_id(), 2000);
    assert_rejected(
        &mut image,
        block(2000),
        ReplayError::ProducerIdsBackwards {
            next_producer_id: 2000,
            current: 2000,
        },
    );
    assert_rejected(
        &mut image,
        block(5),
        ReplayError::ProducerIdsBackwards {
            next_producer_id: 5,
            current: 2000,
        },
    );
}

#[test]
fn brokers_register_and_are_fenced_and_snapshots_keep_both() {
    use crate::records::{BrokerFencingRecord, RegisterBrokerRecord};
    let register = |id: i32, port: i32| {
        MetadataRecord::RegisterBroker(RegisterBrokerRecord {
            broker_id: id,
            incarnation_id: Uuid::from_u128(id as u128),
            broker_epoch: -1,
            endpoints: vec![crate::records::BrokerEndpointRecord {
                listener: "PLAINTEXT".into(),
                host: "localhost".into(),
                port,
            }],
            rack: None,
        })
    };
    let fencing = |id| BrokerFencingRecord {
        broker_id: id,
        broker_epoch: -1,
    };
    let mut image = MetadataImage::new();
    // Fencing a broker that never registered is refused.
    assert!(image
        .apply(&MetadataRecord::FenceBroker(fencing(1)))
        .is_err());
    for r in [register(1, 9092), register(2, 9093), register(2, 9094)] {
        image.apply(&r).unwrap();
    }
    // A broker registered for the first time starts fenced; registering again keeps it so.
    assert!(image.is_fenced(1) && image.is_fenced(2));
    for id in [1, 2] {
        image
            .apply(&MetadataRecord::UnfenceBroker(fencing(id)))
            .unwrap();
    }
    image.apply(&register(2, 9095)).unwrap();
    assert!(!image.is_fenced(2));
    assert_eq!(
        image.broker(2).unwrap().endpoints[0].port,
        9095,
        "a new registration replaces"
    );
    image
        .apply(&MetadataRecord::FenceBroker(fencing(2)))
        .unwrap();
    assert!(image.is_fenced(2) && !image.is_fenced(1));
    let mut rebuilt = MetadataImage::new();
    for r in image.to_records() {
        rebuilt.apply(&r).unwrap();
    }
    assert_eq!(rebuilt, image);
    image
        .apply(&MetadataRecord::UnfenceBroker(fencing(2)))
        .unwrap();
    assert!(!image.is_fenced(2));
    // Unregistered, a fenced broker is gone with its fencing; twice is refused.
    image
        .apply(&MetadataRecord::FenceBroker(fencing(2)))
        .unwrap();
    image
        .apply(&MetadataRecord::UnregisterBroker(fencing(2)))
        .unwrap();
    assert!(image.broker(2).is_none() && !image.is_fenced(2));
    assert!(image
        .apply(&MetadataRecord::UnregisterBroker(fencing(2)))
        .is_err());
    assert_eq!(image.brokers().count(), 1);
}
