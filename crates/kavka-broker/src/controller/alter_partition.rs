//! AlterPartition decided: a partition leader asks to change its ISR (a follower fell behind,
//! or caught up). Kafka's rules: the request comes from the current leader with its current
//! broker epoch (STALE_BROKER_EPOCH), names the current leader epoch (FENCED_LEADER_EPOCH
//! otherwise) and partition epoch (INVALID_UPDATE_VERSION), and its new ISR holds the leader
//! and only replicas that are registered with the broker epoch the leader saw and are not
//! fenced (KIP-841, KIP-903: INELIGIBLE_REPLICA). The change is a partition record with the
//! new ISR and the next partition epoch; the leader and its epoch stay. Pure: image in,
//! record out.

use kavka_metadata::{MetadataImage, MetadataRecord, PartitionImage, PartitionRecord};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::Refusal;

/// One partition's requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrChange {
    /// Topic id.
    pub topic_id: Uuid,
    /// Partition index.
    pub partition: i32,
    /// The leader epoch the leader holds.
    pub leader_epoch: i32,
    /// The partition epoch the change was made against.
    pub partition_epoch: i32,
    /// The new ISR: broker ids with the broker epoch the leader knew them by (-1: unknown).
    pub new_isr: Vec<(i32, i64)>,
}

/// One change with what was decided for it: the partition's new state or its error.
pub type IsrDecision = (IsrChange, Result<PartitionImage, ErrorCode>);

/// Checks the requesting broker's epoch (the whole request is refused otherwise).
pub fn check_broker(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> Result<(), Refusal> {
    match image.broker(broker_id) {
        Some(b) if broker_epoch == -1 || b.broker_epoch == broker_epoch => Ok(()),
        Some(b) => Err((
            ErrorCode::STALE_BROKER_EPOCH,
            format!(
                "broker {broker_id} has epoch {}, not {broker_epoch}",
                b.broker_epoch
            ),
        )),
        None => Err((
            ErrorCode::STALE_BROKER_EPOCH,
            format!("broker {broker_id} is not registered"),
        )),
    }
}

/// Decides one partition's change asked by `leader`: the partition's new state and its
/// record, or the per-partition error.
pub fn alter_isr(
    image: &MetadataImage,
    leader: i32,
    change: &IsrChange,
) -> Result<(PartitionImage, MetadataRecord), ErrorCode> {
    let topic = image
        .topic_by_id(&change.topic_id)
        .ok_or(ErrorCode::UNKNOWN_TOPIC_ID)?;
    let p = topic
        .partitions
        .get(&change.partition)
        .ok_or(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
    if change.leader_epoch < p.leader_epoch {
        return Err(ErrorCode::FENCED_LEADER_EPOCH);
    }
    if p.leader != leader || change.leader_epoch > p.leader_epoch {
        return Err(ErrorCode::INVALID_REQUEST);
    }
    if change.partition_epoch != p.partition_epoch {
        return Err(ErrorCode::INVALID_UPDATE_VERSION);
    }
    let isr: Vec<i32> = change.new_isr.iter().map(|(id, _)| *id).collect();
    if !isr.contains(&leader) {
        return Err(ErrorCode::INVALID_REQUEST);
    }
    let eligible = |&(id, epoch): &(i32, i64)| {
        p.replicas.contains(&id)
            && !image.is_fenced(id)
            && image
                .broker(id)
                .is_some_and(|b| epoch == -1 || b.broker_epoch == epoch)
    };
    let mut seen = isr.clone();
    seen.sort_unstable();
    seen.dedup();
    if seen.len() != isr.len() || !change.new_isr.iter().all(eligible) {
        return Err(ErrorCode::INELIGIBLE_REPLICA);
    }
    let next = PartitionImage {
        isr,
        partition_epoch: p.partition_epoch + 1,
        ..p.clone()
    };
    // An ISR that now holds every replica a reassignment adds completes it.
    let next = super::reassignment::settle(image, p, next);
    let record = MetadataRecord::Partition(PartitionRecord::of(
        change.topic_id,
        change.partition,
        &next,
    ));
    Ok((next, record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_metadata::TopicRecord;

    const TOPIC: Uuid = Uuid::from_u128(5);

    fn image() -> MetadataImage {
        let mut image = MetadataImage::new();
        let mut records =
            crate::controller::test_brokers::brokers(&[1, 2, 3], &[1, 2], |id| 10 * id as i64);
        records.push(MetadataRecord::Topic(TopicRecord {
            name: "t".into(),
            topic_id: TOPIC,
        }));
        records.push(MetadataRecord::Partition(PartitionRecord {
            topic_id: TOPIC,
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: vec![1],
            leader: 1,
            leader_epoch: 3,
            partition_epoch: 7,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }));
        for r in &records {
            image.apply(r).unwrap();
        }
        image
    }

    fn change(leader_epoch: i32, partition_epoch: i32, isr: &[(i32, i64)]) -> IsrChange {
        IsrChange {
            topic_id: TOPIC,
            partition: 0,
            leader_epoch,
            partition_epoch,
            new_isr: isr.to_vec(),
        }
    }

    #[test]
    fn the_leader_adds_a_caught_up_follower() {
        let mut image = image();
        let (next, record) = alter_isr(&image, 1, &change(3, 7, &[(1, 10), (2, 20)])).unwrap();
        assert_eq!(
            (next.isr.as_slice(), next.partition_epoch, next.leader_epoch),
            (&[1, 2][..], 8, 3)
        );
        image.apply(&record).unwrap();
        // The same request again is against an old partition epoch.
        assert_eq!(
            alter_isr(&image, 1, &change(3, 7, &[(1, 10), (2, 20)])).unwrap_err(),
            ErrorCode::INVALID_UPDATE_VERSION
        );
    }

    #[test]
    fn kafkas_refusals() {
        let image = image();
        let refuse = |leader, c: IsrChange| alter_isr(&image, leader, &c).unwrap_err();
        assert_eq!(
            refuse(1, change(2, 7, &[(1, 10)])),
            ErrorCode::FENCED_LEADER_EPOCH
        );
        assert_eq!(
            refuse(2, change(3, 7, &[(2, 20)])),
            ErrorCode::INVALID_REQUEST
        );
        // Broker 3 is fenced; broker 2 named with an old broker epoch; 4 is no replica.
        assert_eq!(
            refuse(1, change(3, 7, &[(1, 10), (3, 30)])),
            ErrorCode::INELIGIBLE_REPLICA
        );
        assert_eq!(
            refuse(1, change(3, 7, &[(1, 10), (2, 19)])),
            ErrorCode::INELIGIBLE_REPLICA
        );
        assert_eq!(
            refuse(1, change(3, 7, &[(1, 10), (4, -1)])),
            ErrorCode::INELIGIBLE_REPLICA
        );
        assert_eq!(
            refuse(1, change(3, 7, &[(2, 20)])),
            ErrorCode::INVALID_REQUEST
        );
        let mut c = change(3, 7, &[(1, 10)]);
        c.topic_id = Uuid::from_u128(6);
        assert_eq!(refuse(1, c), ErrorCode::UNKNOWN_TOPIC_ID);
        assert_eq!(
            check_broker(&image, 1, 11).unwrap_err().0,
            ErrorCode::STALE_BROKER_EPOCH
        );
        assert!(check_broker(&image, 1, 10).is_ok());
    }
}
