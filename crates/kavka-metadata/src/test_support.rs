//! Proptest strategies and builders shared by the crate's tests.

use proptest::prelude::*;
use uuid::Uuid;

use crate::records::{
    ConfigRecord, ConfigResourceType, MetadataRecord, PartitionRecord, ProducerIdsRecord,
    RemoveTopicRecord, TopicRecord,
};

/// Any record, including ones an image would reject (the codec must not care).
pub(crate) fn arb_record() -> impl Strategy<Value = MetadataRecord> {
    let uuid = any::<u128>().prop_map(Uuid::from_u128);
    let ids = prop::collection::vec(any::<i32>(), 0..8);
    prop_oneof![
        (".{0,40}", uuid.clone())
            .prop_map(|(name, topic_id)| MetadataRecord::Topic(TopicRecord { name, topic_id })),
        (
            uuid.clone(),
            any::<i32>(),
            ids.clone(),
            ids,
            any::<[i32; 3]>()
        )
            .prop_map(
                |(topic_id, partition, replicas, isr, [leader, leader_epoch, partition_epoch])| {
                    MetadataRecord::Partition(PartitionRecord {
                        topic_id,
                        partition,
                        replicas,
                        isr,
                        leader,
                        leader_epoch,
                        partition_epoch,
                        adding_replicas: Vec::new(),
                        removing_replicas: Vec::new(),
                    })
                }
            ),
        (
            prop_oneof![
                Just(ConfigResourceType::Topic),
                Just(ConfigResourceType::Broker)
            ],
            ".{0,20}",
            ".{0,20}",
            prop::option::of(".{0,60}")
        )
            .prop_map(|(resource_type, resource_name, name, value)| {
                MetadataRecord::Config(ConfigRecord {
                    resource_type,
                    resource_name,
                    name,
                    value,
                })
            }),
        uuid.prop_map(|topic_id| MetadataRecord::RemoveTopic(RemoveTopicRecord { topic_id })),
        (any::<i32>(), any::<i64>(), any::<i64>()).prop_map(
            |(broker_id, broker_epoch, next_producer_id)| {
                MetadataRecord::ProducerIds(ProducerIdsRecord {
                    broker_id,
                    broker_epoch,
                    next_producer_id,
                })
            }
        ),
    ]
}

/// A deterministic, valid topic id for tests (never nil nor Kafka's reserved id).
pub(crate) fn topic_id(n: u8) -> Uuid {
    Uuid::from_u128(0x1000 + u128::from(n))
}

/// A [`TopicRecord`].
pub(crate) fn topic(name: &str, n: u8) -> MetadataRecord {
    MetadataRecord::Topic(TopicRecord {
        name: name.to_owned(),
        topic_id: topic_id(n),
    })
}

/// A single-replica [`PartitionRecord`] led by broker 1.
pub(crate) fn partition(n: u8, partition: i32) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord {
        topic_id: topic_id(n),
        partition,
        replicas: vec![1],
        isr: vec![1],
        leader: 1,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    })
}

/// A [`ConfigRecord`] on a topic.
pub(crate) fn topic_config(topic: &str, name: &str, value: Option<&str>) -> MetadataRecord {
    MetadataRecord::Config(ConfigRecord {
        resource_type: ConfigResourceType::Topic,
        resource_name: topic.to_owned(),
        name: name.to_owned(),
        value: value.map(str::to_owned),
    })
}

/// A [`RemoveTopicRecord`].
pub(crate) fn remove_topic(n: u8) -> MetadataRecord {
    MetadataRecord::RemoveTopic(RemoveTopicRecord {
        topic_id: topic_id(n),
    })
}
