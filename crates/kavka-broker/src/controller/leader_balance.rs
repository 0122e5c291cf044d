//! Automatic preferred-leader balancing (`auto.leader.rebalance.enable`,
//! `leader.imbalance.per.broker.percentage`), decided by the active controller every
//! `leader.imbalance.check.interval.seconds`, as Kafka describes it: for each broker, the
//! share of the partitions it is the preferred (first) replica of that another broker leads;
//! when that share is above the percentage, each of those partitions whose preferred replica is
//! live and in the ISR is given back to it (a preferred election, new leader epoch). A
//! partition under reassignment is left alone. Pure: image in, records out.

use std::collections::BTreeMap;

use kavka_metadata::{MetadataImage, MetadataRecord};

use super::elect_leaders::{self, ElectionType};

/// The preferred elections due: the records, and for the log each broker whose imbalance
/// passed the limit with its share (percent).
pub fn rebalance(
    image: &MetadataImage,
    imbalance_percent: u32,
) -> (Vec<MetadataRecord>, Vec<(i32, u32)>) {
    // Per preferred broker: (partitions it should lead, those led elsewhere).
    let mut shares: BTreeMap<i32, (u32, u32)> = BTreeMap::new();
    for topic in image.topics() {
        for p in topic.partitions.values() {
            let Some(&preferred) = p.replicas.first() else {
                continue;
            };
            let share = shares.entry(preferred).or_default();
            share.0 += 1;
            if p.leader != preferred {
                share.1 += 1;
            }
        }
    }
    let over: Vec<(i32, u32)> = shares
        .iter()
        .filter(|(_, (total, off))| {
            *off > 0 && u64::from(*off) * 100 > u64::from(*total) * u64::from(imbalance_percent)
        })
        .map(|(&b, (total, off))| (b, off * 100 / total))
        .collect();
    let mut records = Vec::new();
    for topic in image.topics() {
        for (&index, p) in &topic.partitions {
            let preferred = p.replicas.first().copied();
            if p.is_reassigning() || !preferred.is_some_and(|b| over.iter().any(|(o, _)| *o == b)) {
                continue;
            }
            if let Ok(next) = elect_leaders::elect(image, p, ElectionType::Preferred) {
                records.push(elect_leaders::record(topic.topic_id, index, &next));
            }
        }
    }
    (records, over)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_metadata::{PartitionImage, PartitionRecord, TopicRecord};
    use uuid::Uuid;

    /// Brokers 1-3 (those of `live` unfenced) and topic "t" whose partitions have the given
    /// (replicas, leader), every replica in the ISR.
    fn image(live: &[i32], partitions: &[(&[i32], i32)]) -> MetadataImage {
        let mut image = MetadataImage::new();
        let mut records = crate::controller::test_brokers::brokers(&[1, 2, 3], live, |_| 1);
        let topic_id = Uuid::from_u128(3);
        records.push(MetadataRecord::Topic(TopicRecord {
            name: "t".into(),
            topic_id,
        }));
        for (i, (replicas, leader)) in partitions.iter().enumerate() {
            let state = PartitionImage {
                replicas: replicas.to_vec(),
                isr: replicas.to_vec(),
                leader: *leader,
                ..Default::default()
            };
            records.push(MetadataRecord::Partition(PartitionRecord::of(
                topic_id, i as i32, &state,
            )));
        }
        for r in &records {
            image.apply(r).unwrap();
        }
        image
    }

    fn leaders(records: &[MetadataRecord]) -> Vec<(i32, i32)> {
        records
            .iter()
            .map(|r| match r {
                MetadataRecord::Partition(p) => (p.partition, p.leader),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_broker_past_the_imbalance_gets_its_partitions_back() {
        // Broker 1 prefers 4 partitions and leads 2 of them: 50 % off, over 10 %.
        let parts: &[(&[i32], i32)] = &[
            (&[1, 2], 1),
            (&[1, 2], 2),
            (&[1, 3], 3),
            (&[1, 3], 1),
            (&[2, 1], 2),
        ];
        let (records, over) = rebalance(&image(&[1, 2, 3], parts), 10);
        assert_eq!(over, vec![(1, 50)]);
        assert_eq!(leaders(&records), vec![(1, 1), (2, 1)]);
        // A limit of 50 % is not passed.
        assert!(rebalance(&image(&[1, 2, 3], parts), 50).0.is_empty());
    }

    #[test]
    fn a_fenced_preferred_leader_is_not_elected() {
        let parts: &[(&[i32], i32)] = &[(&[1, 2], 2), (&[1, 3], 3)];
        let (records, over) = rebalance(&image(&[2, 3], parts), 10);
        assert_eq!(over, vec![(1, 100)]);
        assert!(records.is_empty(), "broker 1 is fenced");
    }
}
