//! Fencing and unfencing a broker: the records that take a broker the controller no longer
//! hears from out of service, and put it back when it is heard again. Fenced, it leads
//! nothing: each partition it led gets leader -1 (offline, since partitions have one replica
//! until replication) with bumped leader and partition epochs; unfenced, the partitions whose
//! ISR holds it and that have no leader get it back as leader. Unregistered (UnregisterBroker),
//! it is fenced first, then its registration removed. Pure: image in, records out.

use kavka_metadata::{BrokerFencingRecord, MetadataImage, MetadataRecord, PartitionRecord};

fn fencing(broker_id: i32) -> BrokerFencingRecord {
    BrokerFencingRecord {
        broker_id,
        broker_epoch: -1,
    }
}

/// The partition records moving leadership: every partition `pick` gives a new leader.
fn leadership(
    image: &MetadataImage,
    pick: impl Fn(&kavka_metadata::PartitionImage) -> Option<i32>,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics() {
        for (&partition, p) in &topic.partitions {
            if let Some(leader) = pick(p) {
                records.push(MetadataRecord::Partition(PartitionRecord {
                    topic_id: topic.topic_id,
                    partition,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    leader,
                    leader_epoch: p.leader_epoch + 1,
                    partition_epoch: p.partition_epoch + 1,
                }));
            }
        }
    }
    records
}

/// Fences `broker_id` (registered, not fenced yet): nothing otherwise.
pub fn fence_broker(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    if image.broker(broker_id).is_none() || image.is_fenced(broker_id) {
        return Vec::new();
    }
    let mut records = vec![MetadataRecord::FenceBroker(fencing(broker_id))];
    records.extend(leadership(image, |p| (p.leader == broker_id).then_some(-1)));
    records
}

/// Unregisters `broker_id`: fenced first if it is not (its partitions lose it as leader), then
/// its registration removed; BROKER_ID_NOT_REGISTERED if it is not registered.
pub fn unregister_broker(
    image: &MetadataImage,
    broker_id: i32,
) -> Result<Vec<MetadataRecord>, super::Refusal> {
    if image.broker(broker_id).is_none() {
        return Err((
            kavka_protocol::ErrorCode::BROKER_ID_NOT_REGISTERED,
            format!("broker {broker_id} is not registered"),
        ));
    }
    let mut records = fence_broker(image, broker_id);
    records.push(MetadataRecord::UnregisterBroker(fencing(broker_id)));
    Ok(records)
}

/// Unfences `broker_id` (fenced now): nothing otherwise.
pub fn unfence_broker(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    if !image.is_fenced(broker_id) {
        return Vec::new();
    }
    let mut records = vec![MetadataRecord::UnfenceBroker(fencing(broker_id))];
    records.extend(leadership(image, |p| {
        (p.leader == -1 && p.isr.contains(&broker_id)).then_some(broker_id)
    }));
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_metadata::{RegisterBrokerRecord, TopicRecord};
    use uuid::Uuid;

    fn image() -> MetadataImage {
        let mut image = MetadataImage::new();
        let mut records = vec![];
        for id in [1, 2] {
            records.push(MetadataRecord::RegisterBroker(RegisterBrokerRecord {
                broker_id: id,
                incarnation_id: Uuid::from_u128(id as u128),
                broker_epoch: -1,
                endpoints: vec![kavka_metadata::BrokerEndpointRecord {
                    listener: "PLAINTEXT".into(),
                    host: "h".into(),
                    port: 9092,
                }],
                rack: None,
            }));
        }
        // Registered brokers start fenced; the controller unfences them once heard.
        for id in [1, 2] {
            records.push(MetadataRecord::UnfenceBroker(fencing(id)));
        }
        let topic_id = Uuid::from_u128(77);
        records.push(MetadataRecord::Topic(TopicRecord {
            name: "t".into(),
            topic_id,
        }));
        for (partition, b) in [(0, 1), (1, 2), (2, 2)] {
            records.push(MetadataRecord::Partition(PartitionRecord {
                topic_id,
                partition,
                replicas: vec![b],
                isr: vec![b],
                leader: b,
                leader_epoch: 0,
                partition_epoch: 0,
            }));
        }
        for r in &records {
            image.apply(r).unwrap();
        }
        image
    }

    fn leaders(image: &MetadataImage) -> Vec<(i32, i32)> {
        let t = image.topic_by_name("t").unwrap();
        t.partitions
            .values()
            .map(|p| (p.leader, p.leader_epoch))
            .collect()
    }

    fn apply(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r).unwrap();
        }
    }

    #[test]
    fn a_fenced_broker_leads_nothing_until_unfenced() {
        let mut image = image();
        let fence = fence_broker(&image, 2);
        assert_eq!(
            fence.len(),
            3,
            "the fence and its two partitions: {fence:?}"
        );
        apply(&mut image, &fence);
        assert_eq!(leaders(&image), [(1, 0), (-1, 1), (-1, 1)]);
        assert!(
            fence_broker(&image, 2).is_empty(),
            "fencing twice changes nothing"
        );
        let unfence = unfence_broker(&image, 2);
        apply(&mut image, &unfence);
        assert_eq!(leaders(&image), [(1, 0), (2, 2), (2, 2)]);
        assert!(unfence_broker(&image, 2).is_empty());
        assert!(fence_broker(&image, 9).is_empty(), "an unknown broker");
    }

    #[test]
    fn an_unregistered_broker_is_fenced_then_removed() {
        let mut image = image();
        let records = unregister_broker(&image, 2).unwrap();
        assert!(matches!(
            records.last(),
            Some(MetadataRecord::UnregisterBroker(r)) if r.broker_id == 2
        ));
        apply(&mut image, &records);
        assert!(image.broker(2).is_none());
        assert_eq!(leaders(&image), [(1, 0), (-1, 1), (-1, 1)]);
        let (code, _) = unregister_broker(&image, 2).unwrap_err();
        assert_eq!(code, kavka_protocol::ErrorCode::BROKER_ID_NOT_REGISTERED);
        // A fenced broker is only removed.
        let mut image = super::tests::image();
        let fence = fence_broker(&image, 1);
        apply(&mut image, &fence);
        assert_eq!(unregister_broker(&image, 1).unwrap().len(), 1);
    }
}
