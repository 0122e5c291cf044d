use super::*;
use crate::records::{ConfigRecord, PartitionRecord};
use crate::test_support::{partition, remove_topic, topic, topic_config, topic_id};

fn apply(image: &MetadataImage, records: &[MetadataRecord]) -> (MetadataImage, MetadataDelta) {
    let mut after = image.clone();
    for r in records {
        after.apply(r).unwrap();
    }
    let delta = MetadataDelta::between(image, &after, records);
    (after, delta)
}

fn led_by(n: u8, p: i32, leader: i32, leader_epoch: i32) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id: topic_id(n),
        partition: p,
        replicas: vec![1, 2],
        isr: vec![1, 2],
        leader,
        leader_epoch,
        partition_epoch: leader_epoch,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    })
}

#[test]
fn creation_names_the_topic_and_every_partition() {
    let (_, delta) = apply(
        &MetadataImage::new(),
        &[topic("a", 1), partition(1, 0), partition(1, 1)],
    );
    assert_eq!(delta.created_topics, ["a"]);
    assert_eq!(delta.partitions.len(), 2);
    assert!(delta
        .partitions
        .iter()
        .all(|c| c.before.is_none() && c.topic == "a"));
}

#[test]
fn a_leader_change_of_a_hosted_partition_is_a_change() {
    let (image, _) = apply(&MetadataImage::new(), &[topic("a", 1), led_by(1, 0, 1, 0)]);
    let (_, delta) = apply(&image, &[led_by(1, 0, 2, 1)]);
    assert!(delta.created_topics.is_empty());
    let [change] = delta.partitions.as_slice() else {
        panic!("{delta:?}")
    };
    assert_eq!(change.before.as_ref().unwrap().leader, 1);
    assert_eq!((change.after.leader, change.after.leader_epoch), (2, 1));
}

#[test]
fn a_record_restating_the_same_state_is_no_change() {
    let (image, _) = apply(&MetadataImage::new(), &[topic("a", 1), led_by(1, 0, 1, 0)]);
    let (_, delta) = apply(&image, &[led_by(1, 0, 1, 0)]);
    assert!(delta.partitions.is_empty());
}

#[test]
fn deletion_carries_the_topic_as_it_was() {
    let (image, _) = apply(
        &MetadataImage::new(),
        &[
            topic("a", 1),
            partition(1, 0),
            topic_config("a", "k", Some("v")),
        ],
    );
    let (_, delta) = apply(&image, &[remove_topic(1)]);
    assert_eq!(delta.deleted_topics.len(), 1);
    assert_eq!(delta.deleted_topics[0].name, "a");
    assert_eq!(delta.deleted_topics[0].partitions.len(), 1);
}

#[test]
fn configs_name_their_resource() {
    let (image, _) = apply(&MetadataImage::new(), &[topic("a", 1)]);
    let broker = MetadataRecord::Config(ConfigRecord {
        resource_type: ConfigResourceType::Broker,
        resource_name: "1".into(),
        name: "k".into(),
        value: None,
    });
    let (_, delta) = apply(&image, &[topic_config("a", "k", Some("v")), broker]);
    let names: Vec<_> = delta.configs.iter().cloned().collect();
    assert_eq!(
        names,
        [
            (ConfigResourceType::Topic, "a".to_string()),
            (ConfigResourceType::Broker, "1".to_string())
        ]
    );
}

#[test]
fn a_snapshot_replacing_the_image_names_everything_it_changed() {
    let (before, _) = apply(
        &MetadataImage::new(),
        &[
            topic("gone", 1),
            partition(1, 0),
            topic("kept", 2),
            partition(2, 0),
            topic_config("gone", "retention.ms", Some("1")),
        ],
    );
    let (after, _) = apply(
        &MetadataImage::new(),
        &[
            topic("kept", 2),
            led_by(2, 0, 2, 1),
            topic("new", 3),
            partition(3, 0),
        ],
    );
    let delta = MetadataDelta::of_images(&before, &after);
    assert_eq!(delta.created_topics, ["new"]);
    assert_eq!(delta.deleted_topics.len(), 1);
    assert_eq!(delta.deleted_topics[0].name, "gone");
    let changed: Vec<_> = delta.partitions.iter().map(|c| c.topic.as_str()).collect();
    assert_eq!(changed, ["kept", "new"]);
    assert!(delta
        .configs
        .contains(&(ConfigResourceType::Topic, "gone".to_string())));
    // Nothing changed, nothing named.
    let same = MetadataDelta::of_images(&after, &after);
    assert!(same.created_topics.is_empty() && same.partitions.is_empty());
}
