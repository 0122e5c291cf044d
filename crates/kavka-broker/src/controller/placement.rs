//! Where new partitions go: on the live (registered, not fenced) brokers, round-robin from a
//! random one over a rack-alternating list (as Kafka's controller places replicas), so topics
//! spread over the cluster and its racks.
//! A partition's replicas are consecutive brokers of that list, its first replica the
//! preferred leader.

use kavka_metadata::MetadataImage;
use kavka_protocol::ErrorCode;

use super::Refusal;

/// The brokers partitions may be placed on: every registered broker not fenced, or, on a
/// single node (`node_id` >= 0; -1 in a cluster), that node alone while none is registered.
/// In a cluster nothing is placed before a broker has registered (INVALID_REPLICATION_FACTOR,
/// as Kafka answers), so a topic never lands on a node that may host nothing. With racks (`broker.rack`), the list
/// alternates racks (the first broker of each rack, then the second of each, ...), as Kafka's
/// rack-aware placement does, so consecutive partitions land in different racks.
pub fn brokers(image: &MetadataImage, node_id: i32) -> Vec<i32> {
    let live: Vec<(&str, i32)> = image
        .brokers()
        .filter(|b| !image.is_fenced(b.broker_id))
        .map(|b| (b.rack.as_deref().unwrap_or(""), b.broker_id))
        .collect();
    if image.brokers().next().is_none() && node_id >= 0 {
        return vec![node_id];
    }
    rack_alternated(live)
}

/// Broker ids alternating racks; by id within a rack.
fn rack_alternated(mut brokers: Vec<(&str, i32)>) -> Vec<i32> {
    brokers.sort_unstable();
    let mut racks: Vec<Vec<i32>> = Vec::new();
    let mut last: Option<&str> = None;
    for (rack, id) in brokers {
        if last != Some(rack) {
            racks.push(Vec::new());
            last = Some(rack);
        }
        racks.last_mut().expect("pushed").push(id);
    }
    let longest = racks.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| racks.iter().filter_map(move |r| r.get(i).copied()))
        .collect()
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
    Ok(())
}

/// Checks an explicit assignment of one partition: at least one replica, each a registered
/// broker, none twice.
pub fn check_assignment(replicas: &[i32], brokers: &[i32]) -> Result<(), String> {
    if replicas.is_empty() {
        return Err(
            "The manual partition assignment includes a partition with no replicas.".into(),
        );
    }
    if let Some(b) = replicas.iter().find(|b| !brokers.contains(b)) {
        return Err(format!(
            "Replica assignment {replicas:?} names broker {b}, which is not registered"
        ));
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != replicas.len() {
        return Err(format!(
            "The manual partition assignment includes the broker more than once: {replicas:?}"
        ));
    }
    Ok(())
}

/// Replica lists of `count` new partitions with `replication_factor` replicas each:
/// partition `i` starts at broker `start + i` (from a random start) and takes the next ones,
/// so leaders and copies spread over the brokers.
pub fn assign(brokers: &[i32], count: usize, replication_factor: usize) -> Vec<Vec<i32>> {
    if brokers.is_empty() {
        return Vec::new();
    }
    let n = brokers.len();
    let rf = replication_factor.clamp(1, n);
    let start = (kavka_metadata::random_kafka_uuid().as_u128() % n as u128) as usize;
    (0..count)
        .map(|i| (0..rf).map(|j| brokers[(start + i + j) % n]).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_single_node_places_on_itself_before_registering() {
        let empty = MetadataImage::new();
        assert_eq!(brokers(&empty, 1), vec![1]);
        assert!(
            brokers(&empty, -1).is_empty(),
            "a cluster waits for registrations"
        );
        let (code, _) = check_replication_factor(1, &brokers(&empty, -1)).unwrap_err();
        assert_eq!(code, ErrorCode::INVALID_REPLICATION_FACTOR);
    }

    #[test]
    fn partitions_spread_over_every_broker() {
        let a = assign(&[1, 2, 3], 6, 1);
        for b in [1, 2, 3] {
            assert_eq!(a.iter().filter(|r| r.as_slice() == [b]).count(), 2, "{a:?}");
        }
        assert_eq!(assign(&[7], 2, 1), vec![vec![7], vec![7]]);
        // Three copies on three brokers: every broker holds every partition, each leads two.
        let a = assign(&[1, 2, 3], 6, 3);
        for r in &a {
            let mut sorted = r.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [1, 2, 3], "{a:?}");
        }
        for b in [1, 2, 3] {
            assert_eq!(a.iter().filter(|r| r[0] == b).count(), 2, "{a:?}");
        }
    }

    #[test]
    fn racks_alternate() {
        let order = rack_alternated(vec![("a", 1), ("a", 2), ("b", 3), ("b", 4), ("c", 5)]);
        assert_eq!(order, [1, 3, 5, 2, 4]);
        assert_eq!(rack_alternated(vec![("", 2), ("", 1)]), [1, 2]);
    }

    #[test]
    fn factors_and_assignments_are_checked() {
        assert!(check_replication_factor(1, &[1, 2]).is_ok());
        let (code, m) = check_replication_factor(3, &[1]).unwrap_err();
        assert_eq!(code, ErrorCode::INVALID_REPLICATION_FACTOR);
        assert!(m.contains("only 1 broker(s)"), "{m}");
        assert!(check_replication_factor(2, &[1, 2]).is_ok());
        assert!(check_replication_factor(0, &[1]).is_err());
        assert!(check_assignment(&[2], &[1, 2]).is_ok());
        assert!(check_assignment(&[2, 1], &[1, 2]).is_ok());
        assert!(check_assignment(&[4], &[1, 2]).is_err());
        assert!(check_assignment(&[1, 1], &[1, 2]).is_err());
        assert!(check_assignment(&[], &[1, 2]).is_err());
    }
}
