use super::*;
use kavka_metadata::{MetadataRecord, PartitionRecord, TopicRecord};
use uuid::Uuid;

const TOPIC: Uuid = Uuid::from_u128(9);

/// Brokers 1-4 live, 5 registered but fenced; topic "t" with partition 0 at `state`.
fn image(state: PartitionImage) -> MetadataImage {
    let mut image = MetadataImage::new();
    let mut records =
        crate::controller::test_brokers::brokers(&[1, 2, 3, 4, 5], &[1, 2, 3, 4], |_| 1);
    records.push(MetadataRecord::Topic(TopicRecord {
        name: "t".into(),
        topic_id: TOPIC,
    }));
    records.push(MetadataRecord::Partition(PartitionRecord::of(
        TOPIC, 0, &state,
    )));
    for r in &records {
        image.apply(r).unwrap();
    }
    image
}

fn state(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionImage {
    PartitionImage {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch: 4,
        partition_epoch: 10,
        ..Default::default()
    }
}

fn reassign_to(
    p: &PartitionImage,
    target: Option<&[i32]>,
) -> Result<Option<PartitionImage>, Refusal> {
    let image = image(p.clone());
    let topic = image.topic_by_id(&TOPIC).unwrap().clone();
    super::reassign(&image, &topic, 0, target, true, false)
}

#[test]
fn a_move_adds_first_then_completes_once_the_isr_holds_the_target() {
    let p = state(&[1, 2, 3], &[1, 2, 3], 1);
    // 1,2,3 -> 2,3,4: 4 is added, 1 (the leader) removed.
    let step1 = reassign_to(&p, Some(&[2, 3, 4])).unwrap().unwrap();
    assert_eq!(step1.replicas, vec![2, 3, 4, 1]);
    assert_eq!(
        (
            step1.adding_replicas.clone(),
            step1.removing_replicas.clone()
        ),
        (vec![4], vec![1])
    );
    assert_eq!(
        (step1.leader, step1.leader_epoch, step1.partition_epoch),
        (1, 4, 11)
    );
    // The leader asks for 4 in the ISR: that completes the move, and 2 leads.
    let image = image(step1.clone());
    let expanded = PartitionImage {
        isr: vec![1, 2, 3, 4],
        partition_epoch: 12,
        ..step1.clone()
    };
    let done = settle(&image, &step1, expanded);
    assert_eq!(done.replicas, vec![2, 3, 4]);
    assert_eq!(done.isr, vec![2, 3, 4]);
    assert!(!done.is_reassigning());
    assert_eq!(
        (done.leader, done.leader_epoch, done.partition_epoch),
        (2, 5, 12)
    );
}

#[test]
fn a_reordering_or_a_removal_completes_at_once() {
    let p = state(&[1, 2, 3], &[1, 2, 3], 1);
    let reordered = reassign_to(&p, Some(&[3, 1, 2])).unwrap().unwrap();
    assert_eq!(
        (reordered.replicas.clone(), reordered.leader),
        (vec![3, 1, 2], 1)
    );
    assert_eq!(reordered.leader_epoch, 4, "nobody left, the leader stays");
    let shrunk = reassign_to(&p, Some(&[2, 3])).unwrap().unwrap();
    assert_eq!(
        (shrunk.replicas.clone(), shrunk.isr.clone()),
        (vec![2, 3], vec![2, 3])
    );
    assert_eq!((shrunk.leader, shrunk.leader_epoch), (2, 5));
    // The same replicas in the same order: nothing to do.
    assert_eq!(reassign_to(&p, Some(&[1, 2, 3])).unwrap(), None);
}

#[test]
fn bad_targets_are_refused_with_kafkas_messages() {
    let p = state(&[1, 2, 3], &[1, 2, 3], 1);
    let refused = |t: &[i32]| reassign_to(&p, Some(t)).unwrap_err();
    assert_eq!(refused(&[]).0, ErrorCode::INVALID_REPLICA_ASSIGNMENT);
    let twice = refused(&[1, 2, 2]);
    assert!(twice.1.contains("broker 2 more than once"), "{}", twice.1);
    let unknown = refused(&[1, 2, 9]);
    assert!(
        unknown
            .1
            .contains("broker 9, but no such broker is registered"),
        "{}",
        unknown.1
    );
    let image = image(p.clone());
    let topic = image.topic_by_id(&TOPIC).unwrap().clone();
    let no_rf_change = super::reassign(&image, &topic, 0, Some(&[1, 2]), false, false);
    assert_eq!(
        no_rf_change.unwrap_err().0,
        ErrorCode::INVALID_REPLICATION_FACTOR
    );
    let missing = super::reassign(&image, &topic, 3, Some(&[1, 2, 3]), true, false);
    assert_eq!(
        missing.unwrap_err().0,
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn cancelling_goes_back_to_the_original_replicas() {
    let p = state(&[1, 2, 3], &[1, 2, 3], 1);
    assert_eq!(
        reassign_to(&p, None).unwrap_err().0,
        ErrorCode::NO_REASSIGNMENT_IN_PROGRESS
    );
    let moving = reassign_to(&p, Some(&[2, 3, 4])).unwrap().unwrap();
    let back = reassign_to(&moving, None).unwrap().unwrap();
    // As in Kafka, the replicas keep the reassignment's order (targets first).
    assert_eq!(
        (back.replicas.clone(), back.isr.clone(), back.leader),
        (vec![2, 3, 1], vec![1, 2, 3], 1)
    );
    assert!(!back.is_reassigning());
    assert_eq!(
        back.leader_epoch,
        moving.leader_epoch + 1,
        "4 left the replicas"
    );
    // An ISR of only added replicas cannot be reverted without an unclean election.
    let odd = PartitionImage {
        replicas: vec![4, 1],
        isr: vec![4],
        leader: 4,
        adding_replicas: vec![4],
        removing_replicas: vec![1],
        ..state(&[1], &[1], 1)
    };
    let refused = reassign_to(&odd, None).unwrap_err();
    assert_eq!(refused.0, ErrorCode::INVALID_REPLICA_ASSIGNMENT);
    assert!(
        refused.1.contains("unclean leader election"),
        "{}",
        refused.1
    );
    let image = image(odd.clone());
    let topic = image.topic_by_id(&TOPIC).unwrap().clone();
    let unclean = super::reassign(&image, &topic, 0, None, true, true)
        .unwrap()
        .unwrap();
    assert_eq!(
        (unclean.replicas, unclean.isr, unclean.leader),
        (vec![1], vec![1], 1)
    );
}

#[test]
fn a_fenced_removed_replica_leaving_the_isr_can_complete_a_move() {
    // 1,2 -> 2,3 with 3 already caught up: the ISR holds the target but 1 still leads.
    let p = PartitionImage {
        replicas: vec![2, 3, 1],
        isr: vec![1, 2],
        leader: 1,
        adding_replicas: vec![3],
        removing_replicas: vec![1],
        ..state(&[1], &[1], 1)
    };
    let image = image(p.clone());
    // 3 joins the ISR: complete; 1 is removed, 2 leads.
    let done = settle(
        &image,
        &p,
        PartitionImage {
            isr: vec![1, 2, 3],
            ..p.clone()
        },
    );
    assert_eq!(
        (done.replicas.clone(), done.isr.clone(), done.leader),
        (vec![2, 3], vec![2, 3], 2)
    );
    // A fenced broker is never elected: with 2 fenced, 3 leads.
    let done = settle_with(
        &p,
        PartitionImage {
            isr: vec![1, 2, 3],
            ..p.clone()
        },
        |r| r != 2,
    );
    assert_eq!(done.leader, 3);
}
