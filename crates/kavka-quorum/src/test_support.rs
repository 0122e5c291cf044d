//! Builders shared by the crate's tests.

use kavka_metadata::{MetadataBatch, MetadataRecord, PartitionRecord, TopicRecord};
use uuid::Uuid;

/// A valid topic id for tests.
pub(crate) fn topic_id(n: u8) -> Uuid {
    Uuid::from_u128(0x1000 + u128::from(n))
}

/// A topic record and its first `partitions` partitions.
pub(crate) fn topic(name: &str, n: u8, partitions: i32) -> Vec<MetadataRecord> {
    let mut records = vec![MetadataRecord::Topic(TopicRecord {
        name: name.to_owned(),
        topic_id: topic_id(n),
    })];
    records.extend((0..partitions).map(|partition| {
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
    }));
    records
}

/// A batch at `offset` of `epoch` creating topic `t<offset>`.
pub(crate) fn batch(offset: u64, epoch: u32) -> MetadataBatch {
    MetadataBatch {
        offset,
        epoch,
        records: topic(&format!("t{offset}"), offset as u8, 1),
    }
}
