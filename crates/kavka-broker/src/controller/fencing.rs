//! Fencing and unfencing a broker: the records that take a broker the controller no longer
//! hears from out of service, and put it back when it is heard again. Fenced, it leaves the
//! ISR of every partition (KIP-841: a fenced broker is never in an ISR), except where it is
//! the last member (the ISR is never empty: that partition waits for it), and each partition
//! it led gets a new leader from the remaining ISR, the first live one in replica order, or
//! leader -1 when none is live; leader and partition epochs are bumped as Kafka's controller
//! bumps them. Unfenced, the partitions with no leader whose ISR holds it get it back as
//! leader; it rejoins other ISRs when their leader sees it caught up (AlterPartition).
//! Unregistered (UnregisterBroker), it is fenced first, then its registration removed. Pure:
//! image in, records out.

use kavka_metadata::{
    BrokerFencingRecord, MetadataImage, MetadataRecord, PartitionImage, PartitionRecord,
};

/// The fencing record of `broker_id`, with its current broker epoch.
fn fencing(image: &MetadataImage, broker_id: i32) -> BrokerFencingRecord {
    BrokerFencingRecord {
        broker_id,
        broker_epoch: image.broker(broker_id).map_or(-1, |b| b.broker_epoch),
    }
}

/// The partition records of every partition `change` gives a new state.
fn partition_changes(
    image: &MetadataImage,
    change: impl Fn(&PartitionImage) -> Option<PartitionImage>,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics() {
        for (&partition, p) in &topic.partitions {
            if let Some(next) = change(p) {
                records.push(MetadataRecord::Partition(PartitionRecord::of(
                    topic.topic_id,
                    partition,
                    &next,
                )));
            }
        }
    }
    records
}

/// The state of `p` once `broker_id` is fenced: out of the ISR unless it is its last member,
/// and replaced as leader by the first live ISR member in replica order (or none).
fn without_broker(
    image: &MetadataImage,
    p: &PartitionImage,
    broker_id: i32,
) -> Option<PartitionImage> {
    if p.leader != broker_id && !p.isr.contains(&broker_id) {
        return None;
    }
    let mut isr: Vec<i32> = p.isr.iter().copied().filter(|&r| r != broker_id).collect();
    if isr.is_empty() {
        isr = vec![broker_id];
    }
    let live = |r: i32| r != broker_id && image.broker(r).is_some() && !image.is_fenced(r);
    let leader = if p.leader == broker_id {
        p.replicas
            .iter()
            .copied()
            .find(|&r| isr.contains(&r) && live(r))
            .unwrap_or(-1)
    } else {
        p.leader
    };
    if leader == p.leader && isr == p.isr {
        return None;
    }
    let next = PartitionImage {
        isr,
        leader,
        leader_epoch: p.leader_epoch + i32::from(leader != p.leader),
        partition_epoch: p.partition_epoch + 1,
        ..p.clone()
    };
    // Losing a replica the reassignment removes may complete it.
    Some(super::reassignment::settle_with(p, next, |r| {
        r != broker_id && image.broker(r).is_some() && !image.is_fenced(r)
    }))
}

/// Fences `broker_id` (registered, not fenced yet): nothing otherwise.
pub fn fence_broker(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    if image.broker(broker_id).is_none() || image.is_fenced(broker_id) {
        return Vec::new();
    }
    let mut records = vec![MetadataRecord::FenceBroker(fencing(image, broker_id))];
    records.extend(partition_changes(image, |p| {
        without_broker(image, p, broker_id)
    }));
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
    records.push(MetadataRecord::UnregisterBroker(fencing(image, broker_id)));
    Ok(records)
}

/// Unfences `broker_id` (fenced now): nothing otherwise.
pub fn unfence_broker(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    if !image.is_fenced(broker_id) {
        return Vec::new();
    }
    let mut records = vec![MetadataRecord::UnfenceBroker(fencing(image, broker_id))];
    records.extend(partition_changes(image, |p| {
        (p.leader == -1 && p.isr.contains(&broker_id)).then(|| PartitionImage {
            leader: broker_id,
            leader_epoch: p.leader_epoch + 1,
            partition_epoch: p.partition_epoch + 1,
            ..p.clone()
        })
    }));
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_metadata::TopicRecord;
    use uuid::Uuid;

    fn image() -> MetadataImage {
        let mut image = MetadataImage::new();
        // Registered brokers start fenced; the controller unfences them once heard.
        let mut records = crate::controller::test_brokers::brokers(&[1, 2], &[1, 2], |_| -1);
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
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
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

    #[test]
    fn a_fenced_leader_is_replaced_from_the_isr_and_leaves_it() {
        let mut image = image();
        let topic_id = Uuid::from_u128(88);
        apply(
            &mut image,
            &[
                MetadataRecord::Topic(TopicRecord {
                    name: "r".into(),
                    topic_id,
                }),
                MetadataRecord::Partition(PartitionRecord {
                    topic_id,
                    partition: 0,
                    replicas: vec![2, 1],
                    isr: vec![2, 1],
                    leader: 2,
                    leader_epoch: 4,
                    partition_epoch: 6,
                    adding_replicas: Vec::new(),
                    removing_replicas: Vec::new(),
                }),
            ],
        );
        let state =
            |image: &MetadataImage| image.topic_by_name("r").unwrap().partitions[&0].clone();
        let records = fence_broker(&image, 2);
        apply(&mut image, &records);
        let p = state(&image);
        assert_eq!((p.leader, p.isr.as_slice()), (1, &[1][..]), "{p:?}");
        assert_eq!((p.leader_epoch, p.partition_epoch), (5, 7));
        // Broker 1, the last ISR member, fenced too: it stays in the ISR, nobody leads.
        let records = fence_broker(&image, 1);
        apply(&mut image, &records);
        let p = state(&image);
        assert_eq!((p.leader, p.isr.as_slice()), (-1, &[1][..]), "{p:?}");
        // Broker 2 comes back: not in the ISR, so it does not lead; broker 1 does.
        let records = unfence_broker(&image, 2);
        apply(&mut image, &records);
        assert_eq!(state(&image).leader, -1);
        let records = unfence_broker(&image, 1);
        apply(&mut image, &records);
        let p = state(&image);
        assert_eq!(
            (p.leader, p.isr.as_slice(), p.leader_epoch),
            (1, &[1][..], 7)
        );
    }
}
