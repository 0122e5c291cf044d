//! Leader elections asked for (ElectLeaders, `kafka-leader-election.sh`), decided as Kafka's
//! controller decides them. Pure: image in, results and records out.
//!
//! - PREFERRED: the partition's first replica becomes leader if it is live and in the ISR
//!   (PREFERRED_LEADER_NOT_AVAILABLE otherwise); ELECTION_NOT_NEEDED when it already leads.
//! - UNCLEAN: only for a partition without a live leader (ELECTION_NOT_NEEDED otherwise): a live
//!   ISR member if there is one, else the first live replica, which becomes the whole ISR —
//!   records it never had are then lost, as Kafka documents; ELIGIBLE_LEADERS_NOT_AVAILABLE
//!   when no replica is live.
//!
//! A new leader bumps the leader and partition epochs.

use kavka_metadata::{MetadataImage, MetadataRecord, PartitionImage, PartitionRecord};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

/// The election types of ElectLeaders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// Back to the preferred (first) replica.
    Preferred,
    /// A leader for a partition that has none, from outside the ISR if need be.
    Unclean,
}

impl ElectionType {
    /// The protocol's `election_type` (0 preferred, 1 unclean).
    pub fn from_code(code: i8) -> Option<ElectionType> {
        match code {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }
}

/// Whether broker `id` is registered and not fenced.
fn live(image: &MetadataImage, id: i32) -> bool {
    image.broker(id).is_some() && !image.is_fenced(id)
}

/// The new state of partition `p` after an election of `kind`, or why there is none.
pub fn elect(
    image: &MetadataImage,
    p: &PartitionImage,
    kind: ElectionType,
) -> Result<PartitionImage, ErrorCode> {
    let next = |leader: i32, isr: Vec<i32>| PartitionImage {
        isr,
        leader,
        leader_epoch: p.leader_epoch + 1,
        partition_epoch: p.partition_epoch + 1,
        ..p.clone()
    };
    match kind {
        ElectionType::Preferred => {
            let preferred = *p
                .replicas
                .first()
                .ok_or(ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE)?;
            if p.leader == preferred {
                return Err(ErrorCode::ELECTION_NOT_NEEDED);
            }
            if !p.isr.contains(&preferred) || !live(image, preferred) {
                return Err(ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE);
            }
            Ok(next(preferred, p.isr.clone()))
        }
        ElectionType::Unclean => {
            if p.leader >= 0 && live(image, p.leader) {
                return Err(ErrorCode::ELECTION_NOT_NEEDED);
            }
            let in_isr = p
                .replicas
                .iter()
                .copied()
                .find(|&r| p.isr.contains(&r) && live(image, r));
            if let Some(leader) = in_isr {
                return Ok(next(leader, p.isr.clone()));
            }
            let any = p.replicas.iter().copied().find(|&r| live(image, r));
            any.map(|leader| next(leader, vec![leader]))
                .ok_or(ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE)
        }
    }
}

/// The record that gives partition `partition` of topic `topic_id` its new state.
pub fn record(topic_id: Uuid, partition: i32, next: &PartitionImage) -> MetadataRecord {
    MetadataRecord::Partition(PartitionRecord::of(topic_id, partition, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(live_brokers: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::new();
        for r in crate::controller::test_brokers::brokers(&[1, 2, 3], live_brokers, |id| id as i64)
        {
            image.apply(&r).unwrap();
        }
        image
    }

    fn partition(leader: i32, isr: &[i32]) -> PartitionImage {
        PartitionImage {
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader,
            leader_epoch: 4,
            partition_epoch: 9,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    #[test]
    fn preferred_elections_follow_kafkas_rules() {
        let image = image(&[1, 2, 3]);
        let p = elect(&image, &partition(2, &[1, 2, 3]), ElectionType::Preferred).unwrap();
        assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (1, 5, 10));
        assert_eq!(
            elect(&image, &partition(1, &[1, 2]), ElectionType::Preferred),
            Err(ErrorCode::ELECTION_NOT_NEEDED)
        );
        assert_eq!(
            elect(&image, &partition(2, &[2, 3]), ElectionType::Preferred),
            Err(ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE),
            "not in the ISR"
        );
        let image = super::tests::image(&[2, 3]);
        assert_eq!(
            elect(&image, &partition(2, &[1, 2]), ElectionType::Preferred),
            Err(ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE),
            "fenced"
        );
    }

    #[test]
    fn unclean_elections_take_a_live_replica_outside_the_isr_last() {
        let image = image(&[2, 3]);
        assert_eq!(
            elect(&image, &partition(2, &[2]), ElectionType::Unclean),
            Err(ErrorCode::ELECTION_NOT_NEEDED)
        );
        let p = elect(&image, &partition(-1, &[1, 3]), ElectionType::Unclean).unwrap();
        assert_eq!(
            (p.leader, p.isr.as_slice()),
            (3, &[1, 3][..]),
            "an ISR member first"
        );
        let p = elect(&image, &partition(-1, &[1]), ElectionType::Unclean).unwrap();
        assert_eq!(
            (p.leader, p.isr.as_slice()),
            (2, &[2][..]),
            "then any live replica"
        );
        let image = super::tests::image(&[]);
        assert_eq!(
            elect(&image, &partition(-1, &[1]), ElectionType::Unclean),
            Err(ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE)
        );
    }
}
