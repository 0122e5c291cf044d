//! Publishing committed metadata applies every kind of partition change to the hosted
//! partitions: a leader change gives the partition its new leader epoch, leaving the replica
//! set deletes the log, and a restart opens only the partitions this node replicates.

use std::collections::BTreeMap;

use kavka_broker::broker::Broker;
use kavka_broker::config::BrokerConfig;
use kavka_broker::controller::TopicSpec;
use kavka_metadata::{MetadataImage, MetadataRecord, PartitionRecord};

fn open(dir: &std::path::Path) -> Broker {
    let mut map = BTreeMap::new();
    map.insert("log.dirs".to_string(), dir.display().to_string());
    Broker::open(BrokerConfig::from_map(map).unwrap()).unwrap()
}

/// A new state for partition `p` of `topic`: the given replicas, led by the first, with both
/// epochs one above the image's.
fn moved(image: &MetadataImage, topic: &str, p: i32, replicas: Vec<i32>) -> Vec<MetadataRecord> {
    let t = image.topic_by_name(topic).unwrap();
    let old = &t.partitions[&p];
    vec![MetadataRecord::Partition(PartitionRecord {
        topic_id: t.topic_id,
        partition: p,
        leader: replicas[0],
        isr: replicas.clone(),
        replicas,
        leader_epoch: old.leader_epoch + 1,
        partition_epoch: old.partition_epoch + 1,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    })]
}

#[test]
fn partition_changes_reach_the_hosted_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let broker = open(tmp.path());
    let spec = TopicSpec {
        name: "t".into(),
        num_partitions: 2,
        replication_factor: 1,
        assignments: vec![],
        configs: BTreeMap::new(),
    };
    let topic_id = broker.create_topic(&spec, false).unwrap();
    let p0 = broker.partition("t", &topic_id, 0).unwrap();
    assert_eq!(p0.leader_epoch(), 0);

    // Leadership moves (to this node again, under a new epoch).
    broker
        .change_metadata(false, |image| Ok(((), moved(image, "t", 0, vec![1]))))
        .unwrap();
    assert_eq!(p0.leader_epoch(), 1);
    assert_eq!(
        broker.image().topic_by_name("t").unwrap().partitions[&0].leader_epoch,
        1
    );

    // Partition 1 moves to broker 2: this node stops hosting it and deletes its log.
    let dir1 = tmp.path().join("t-1");
    assert!(dir1.exists());
    broker
        .change_metadata(false, |image| Ok(((), moved(image, "t", 1, vec![2]))))
        .unwrap();
    assert!(broker.partition("t", &topic_id, 1).is_none());
    assert!(!dir1.exists());
    broker.close().unwrap();
    drop(broker);

    // After a restart the image is the same and only partition 0 is opened.
    let broker = open(tmp.path());
    let t = broker.image().topic_by_name("t").unwrap().clone();
    assert_eq!(
        (t.partitions[&0].leader_epoch, t.partitions[&1].leader),
        (1, 2)
    );
    assert_eq!(
        broker.partition("t", &topic_id, 0).unwrap().leader_epoch(),
        1
    );
    assert!(broker.partition("t", &topic_id, 1).is_none());
    assert!(!dir1.exists());
}
