//! Partition reassignment decided (AlterPartitionReassignments, as KRaft's controller does it).
//! A reassignment to target replicas T of a partition whose replicas are R goes in two steps:
//! 1. the partition's replicas become T followed by R − T, with `adding_replicas` = T − R and
//!    `removing_replicas` = R − T; the added replicas open the partition and fetch from its
//!    leader, which asks for them in the ISR once they hold its high watermark;
//! 2. once the ISR, less the removed replicas, is not empty and holds every target replica,
//!    the partition's replicas become T and its ISR loses the removed ones ([`settle`], run
//!    on every ISR change, on fencing, and on the request itself, so that a reordering or a
//!    removal completes at once); a leader being removed hands over to the first target
//!    replica in the ISR, with a new leader epoch, as does any change that drops a replica.
//!
//! Cancelling (a null target) goes back to the original replicas (R less what the reassignment
//! adds) and drops the added ones from the ISR; if that leaves the ISR empty the revert needs
//! an unclean election and is refused unless the topic allows one. A new target while one is
//! in progress starts from the current replica list, as in Kafka. Pure: image in, state out.

use kavka_metadata::{MetadataImage, PartitionImage, TopicImage};
use kavka_protocol::ErrorCode;

use super::Refusal;

/// Whether broker `id` is registered and not fenced.
fn live(image: &MetadataImage, id: i32) -> bool {
    image.broker(id).is_some() && !image.is_fenced(id)
}

fn invalid(message: String) -> Refusal {
    (ErrorCode::INVALID_REPLICA_ASSIGNMENT, message)
}

/// Kafka's checks of a manual assignment: not empty, no broker twice, every broker
/// registered.
pub fn check_assignment(image: &MetadataImage, replicas: &[i32]) -> Result<(), Refusal> {
    if replicas.is_empty() {
        return Err(invalid(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    for (i, id) in replicas.iter().enumerate() {
        if replicas[..i].contains(id) {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {id} more than once."
            )));
        }
        if image.broker(*id).is_none() {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {id}, but no such broker is registered."
            )));
        }
    }
    Ok(())
}

/// The new state of partition `index` of `topic` for a reassignment to `target` (`None`:
/// cancel the one in progress); `Ok(None)` when nothing changes. `unclean_allowed`: the
/// topic's `unclean.leader.election.enable`, for a revert that needs one.
pub fn reassign(
    image: &MetadataImage,
    topic: &TopicImage,
    index: i32,
    target: Option<&[i32]>,
    allow_replication_factor_change: bool,
    unclean_allowed: bool,
) -> Result<Option<PartitionImage>, Refusal> {
    let p = topic.partitions.get(&index).ok_or_else(|| {
        (
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Unable to find partition {}:{index}.", topic.name),
        )
    })?;
    let next = match target {
        None => revert(image, topic, index, p, unclean_allowed)?,
        Some(target) => {
            check_assignment(image, target)?;
            if !allow_replication_factor_change && target.len() != p.target_replicas().len() {
                return Err((
                    ErrorCode::INVALID_REPLICATION_FACTOR,
                    format!(
                        "The replication factor is changed from {} to {} but allowReplicationFactorChange is false",
                        p.target_replicas().len(),
                        target.len()
                    ),
                ));
            }
            let mut removing: Vec<i32> = p
                .replicas
                .iter()
                .copied()
                .filter(|r| !target.contains(r))
                .collect();
            removing.sort_unstable();
            let mut adding: Vec<i32> = target
                .iter()
                .copied()
                .filter(|r| !p.replicas.contains(r))
                .collect();
            adding.sort_unstable();
            let mut replicas = target.to_vec();
            replicas.extend(&removing);
            PartitionImage {
                replicas,
                adding_replicas: adding,
                removing_replicas: removing,
                ..p.clone()
            }
        }
    };
    let settled = settle(image, p, next);
    if settled == *p {
        return Ok(None);
    }
    Ok(Some(settled))
}

/// The state a cancelled reassignment goes back to.
fn revert(
    image: &MetadataImage,
    topic: &TopicImage,
    index: i32,
    p: &PartitionImage,
    unclean_allowed: bool,
) -> Result<PartitionImage, Refusal> {
    if !p.is_reassigning() {
        return Err((
            ErrorCode::NO_REASSIGNMENT_IN_PROGRESS,
            "No partition reassignment is in progress for this topic-partition.".into(),
        ));
    }
    let replicas = p.original_replicas();
    let mut isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|r| !p.adding_replicas.contains(r))
        .collect();
    let mut unclean = false;
    if isr.is_empty() {
        if !unclean_allowed {
            return Err(invalid(format!(
                "Unable to revert partition assignment for {}:{index} because it would require an unclean leader election.",
                topic.name
            )));
        }
        isr = vec![replicas[0]];
        unclean = true;
    }
    let mut next = PartitionImage {
        replicas,
        isr,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
        ..p.clone()
    };
    if !next.isr.contains(&next.leader) || !live(image, next.leader) {
        next.leader = next
            .replicas
            .iter()
            .copied()
            .find(|&r| next.isr.contains(&r) && live(image, r))
            .or(unclean.then(|| next.isr[0]))
            .unwrap_or(-1);
    }
    Ok(next)
}

/// [`settle_with`] with the image's live brokers.
pub fn settle(
    image: &MetadataImage,
    before: &PartitionImage,
    next: PartitionImage,
) -> PartitionImage {
    settle_with(before, next, |r| live(image, r))
}

/// Completes the reassignment of `next` (a proposed new state of `before`) when its ISR
/// allows (see the module), electing a new leader among the live (`live`) target replicas in
/// the ISR if the current one goes; then gives the state its epochs: the partition epoch
/// moves when anything changed, the leader epoch when the leader changed or a replica left.
pub fn settle_with(
    before: &PartitionImage,
    mut next: PartitionImage,
    live: impl Fn(i32) -> bool,
) -> PartitionImage {
    if next.is_reassigning() {
        let kept_isr: Vec<i32> = next
            .isr
            .iter()
            .copied()
            .filter(|r| !next.removing_replicas.contains(r))
            .collect();
        let target = next.target_replicas();
        if !kept_isr.is_empty() && target.iter().all(|r| kept_isr.contains(r)) {
            next.replicas = target;
            next.isr = kept_isr;
            next.adding_replicas.clear();
            next.removing_replicas.clear();
            if !next.isr.contains(&next.leader) || !live(next.leader) {
                next.leader = next
                    .replicas
                    .iter()
                    .copied()
                    .find(|&r| next.isr.contains(&r) && live(r))
                    .unwrap_or(-1);
            }
        }
    }
    let same = PartitionImage {
        leader_epoch: before.leader_epoch,
        partition_epoch: before.partition_epoch,
        ..next.clone()
    };
    if same == *before {
        return same;
    }
    let replica_left = before.replicas.iter().any(|r| !next.replicas.contains(r));
    if next.leader != before.leader || replica_left {
        next.leader_epoch = before.leader_epoch + 1;
    }
    next.partition_epoch = before.partition_epoch + 1;
    next
}

#[cfg(test)]
#[path = "reassignment_tests.rs"]
mod tests;
