//! Where new partitions go: on the registered brokers, round-robin from a random one (as
//! Kafka's controller places replicas without racks), so topics spread over the cluster.
//! Partitions are not replicated yet (one replica each); a replication factor above one is
//! refused with a reason instead of recording replicas that would never receive data.

use kavka_metadata::MetadataImage;
use kavka_protocol::ErrorCode;

use super::Refusal;

/// The brokers partitions may be placed on: every registered broker, or this node alone
/// while none is registered (a single node).
pub fn brokers(image: &MetadataImage, node_id: i32) -> Vec<i32> {
    let registered: Vec<i32> = image.brokers().map(|b| b.broker_id).collect();
    if registered.is_empty() {
        vec![node_id]
    } else {
        registered
    }
}

/// Checks a replication factor against the brokers available.
pub fn check_replication_factor(replication_factor: i16, brokers: &[i32]) -> Result<(), Refusal> {
    if replication_factor < 1 {
        return Err((
            ErrorCode::INVALID_REPLICATION_FACTOR,
            "Replication factor must be larger than 0.".into(),
        ));
    }
    let rf = usize::try_from(replication_factor).unwrap_or(0);
    if rf > brokers.len() {
        return Err((
            ErrorCode::INVALID_REPLICATION_FACTOR,
            format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {} broker(s) are registered.",
                brokers.len()
            ),
        ));
    }
    if rf > 1 {
        return Err((
            ErrorCode::INVALID_REPLICATION_FACTOR,
            format!("Replication factor {rf} is not available yet: partitions have one replica each until replication is served."),
        ));
    }
    Ok(())
}

/// Checks an explicit assignment of one partition: one replica, a registered broker.
pub fn check_assignment(replicas: &[i32], brokers: &[i32]) -> Result<(), String> {
    match replicas {
        [b] if brokers.contains(b) => Ok(()),
        [b] => Err(format!("Replica assignment {replicas:?} names broker {b}, which is not registered")),
        _ => Err(format!(
            "Replica assignment {replicas:?} has {} replicas; partitions have one replica each until replication is served",
            replicas.len()
        )),
    }
}

/// Replica lists of `count` new partitions: one broker each, round-robin from a random one.
pub fn assign(brokers: &[i32], count: usize) -> Vec<Vec<i32>> {
    if brokers.is_empty() {
        return Vec::new();
    }
    let start = (kavka_metadata::random_kafka_uuid().as_u128() % brokers.len() as u128) as usize;
    (0..count)
        .map(|i| vec![brokers[(start + i) % brokers.len()]])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_over_every_broker() {
        let a = assign(&[1, 2, 3], 6);
        for b in [1, 2, 3] {
            assert_eq!(a.iter().filter(|r| r.as_slice() == [b]).count(), 2, "{a:?}");
        }
        assert_eq!(assign(&[7], 2), vec![vec![7], vec![7]]);
    }

    #[test]
    fn factors_and_assignments_are_checked() {
        assert!(check_replication_factor(1, &[1, 2]).is_ok());
        let (code, m) = check_replication_factor(3, &[1]).unwrap_err();
        assert_eq!(code, ErrorCode::INVALID_REPLICATION_FACTOR);
        assert!(m.contains("only 1 broker(s)"), "{m}");
        let (_, m) = check_replication_factor(2, &[1, 2]).unwrap_err();
        assert!(m.contains("not available yet"), "{m}");
        assert!(check_replication_factor(0, &[1]).is_err());
        assert!(check_assignment(&[2], &[1, 2]).is_ok());
        assert!(check_assignment(&[4], &[1, 2]).is_err());
        assert!(check_assignment(&[1, 2], &[1, 2]).is_err());
    }
}
