//! The classic consumer-group assignors, with exactly the results of Kafka's `RangeAssignor` and
//! `RoundRobinAssignor` (without rack awareness): the group leader runs one over the members'
//! subscriptions and the topics' partition counts.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::ClientError;

/// A partition assignment strategy of the classic protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssignorKind {
    /// Kafka's `RangeAssignor` ("range"): per topic, consecutive partition ranges.
    Range,
    /// Kafka's `RoundRobinAssignor` ("roundrobin"): all partitions dealt in turn.
    RoundRobin,
}

impl AssignorKind {
    /// The protocol name on the wire (JoinGroup protocols, DescribeGroups).
    pub fn name(self) -> &'static str {
        match self {
            AssignorKind::Range => "range",
            AssignorKind::RoundRobin => "roundrobin",
        }
    }

    /// The assignor named on the wire.
    pub fn from_name(name: &str) -> Option<AssignorKind> {
        match name {
            "range" => Some(AssignorKind::Range),
            "roundrobin" => Some(AssignorKind::RoundRobin),
            _ => None,
        }
    }

    /// The assignor named in `partition.assignment.strategy`: a short name or Kafka's class
    /// name (`org.apache.kafka.clients.consumer.RangeAssignor`).
    pub fn from_config(value: &str) -> Result<AssignorKind, ClientError> {
        let short = value.rsplit('.').next().unwrap_or(value);
        match short.to_ascii_lowercase().as_str() {
            "range" | "rangeassignor" => Ok(AssignorKind::Range),
            "roundrobin" | "roundrobinassignor" => Ok(AssignorKind::RoundRobin),
            _ => Err(ClientError::Config(format!(
                "partition.assignment.strategy: {value:?} is not supported (range, roundrobin)"
            ))),
        }
    }
}

/// One member as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSubscription {
    /// Member id.
    pub member_id: String,
    /// Static member id: static members sort before dynamic ones, by this id (Kafka's
    /// `MemberInfo` order).
    pub group_instance_id: Option<String>,
    /// Subscribed topics.
    pub topics: Vec<String>,
}

/// Kafka's `MemberInfo` order: static members first by instance id, then by member id.
fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> std::cmp::Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// Partitions assigned to each member id, every member present (possibly with nothing), each
/// list sorted by topic then partition.
pub type GroupAssignment = BTreeMap<String, Vec<(String, i32)>>;

/// Runs `kind` over `members` and the partition counts of the topics (topics missing from
/// `partitions_per_topic` are not assigned).
pub fn assign(
    kind: AssignorKind,
    members: &[MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
) -> GroupAssignment {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| member_order(a, b));
    let mut out: GroupAssignment = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    match kind {
        AssignorKind::Range => range(&sorted, partitions_per_topic, &mut out),
        AssignorKind::RoundRobin => round_robin(&sorted, partitions_per_topic, &mut out),
    }
    for partitions in out.values_mut() {
        partitions.sort();
    }
    out
}

fn range(
    sorted: &[&MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
    out: &mut GroupAssignment,
) {
    let topics: BTreeSet<&String> = sorted.iter().flat_map(|m| m.topics.iter()).collect();
    for topic in topics {
        let Some(&count) = partitions_per_topic.get(topic) else {
            continue;
        };
        let consumers: Vec<&&MemberSubscription> =
            sorted.iter().filter(|m| m.topics.contains(topic)).collect();
        let n = consumers.len() as i32;
        let per_consumer = count / n;
        let with_extra = count % n;
        for (i, m) in consumers.iter().enumerate() {
            let i = i as i32;
            let start = per_consumer * i + i.min(with_extra);
            let length = per_consumer + i32::from(i < with_extra);
            let assigned = out
                .get_mut(&m.member_id)
                .expect("every member has an entry");
            assigned.extend((start..start + length).map(|p| (topic.clone(), p)));
        }
    }
}

fn round_robin(
    sorted: &[&MemberSubscription],
    partitions_per_topic: &BTreeMap<String, i32>,
    out: &mut GroupAssignment,
) {
    if sorted.is_empty() {
        return;
    }
    let topics: BTreeSet<&String> = sorted.iter().flat_map(|m| m.topics.iter()).collect();
    let mut next = 0usize;
    for topic in topics {
        let Some(&count) = partitions_per_topic.get(topic) else {
            continue;
        };
        for p in 0..count {
            // Some member subscribes to `topic`, so this stops within one turn.
            while !sorted[next % sorted.len()].topics.contains(topic) {
                next += 1;
            }
            let m = sorted[next % sorted.len()];
            next += 1;
            out.get_mut(&m.member_id)
                .expect("every member has an entry")
                .push((topic.clone(), p));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, topics: &[&str]) -> MemberSubscription {
        MemberSubscription {
            member_id: id.into(),
            group_instance_id: None,
            topics: topics.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn counts(pairs: &[(&str, i32)]) -> BTreeMap<String, i32> {
        pairs.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn tps(pairs: &[(&str, i32)]) -> Vec<(String, i32)> {
        pairs.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    /// RangeAssignor's javadoc: C0, C1 on t0, t1 of 3 partitions each.
    #[test]
    fn range_matches_kafkas_documented_example() {
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let a = assign(
            AssignorKind::Range,
            &members,
            &counts(&[("t0", 3), ("t1", 3)]),
        );
        assert_eq!(a["C0"], tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]));
        assert_eq!(a["C1"], tps(&[("t0", 2), ("t1", 2)]));
    }

    /// RangeAssignorTest: 3 consumers, 2 topics of 3 and 2 partitions; one with 4 partitions
    /// over 3 consumers (the first gets the extra one).
    #[test]
    fn range_matches_kafkas_tests() {
        let members = [
            member("consumer1", &["t1", "t2"]),
            member("consumer2", &["t1", "t2"]),
            member("consumer3", &["t1", "t2"]),
        ];
        let a = assign(
            AssignorKind::Range,
            &members,
            &counts(&[("t1", 3), ("t2", 2)]),
        );
        assert_eq!(a["consumer1"], tps(&[("t1", 0), ("t2", 0)]));
        assert_eq!(a["consumer2"], tps(&[("t1", 1), ("t2", 1)]));
        assert_eq!(a["consumer3"], tps(&[("t1", 2)]));
        let a = assign(AssignorKind::Range, &members[..3], &counts(&[("t1", 4)]));
        assert_eq!(a["consumer1"], tps(&[("t1", 0), ("t1", 1)]));
        assert_eq!(a["consumer3"], tps(&[("t1", 3)]));
        // Only subscribers of a topic share it; unknown topics are skipped.
        let members = [member("a", &["t1"]), member("b", &["t1", "t2", "gone"])];
        let a = assign(
            AssignorKind::Range,
            &members,
            &counts(&[("t1", 2), ("t2", 2)]),
        );
        assert_eq!(a["a"], tps(&[("t1", 0)]));
        assert_eq!(a["b"], tps(&[("t1", 1), ("t2", 0), ("t2", 1)]));
    }

    /// RoundRobinAssignor's javadoc, both examples.
    #[test]
    fn round_robin_matches_kafkas_documented_examples() {
        let members = [member("C0", &["t0", "t1"]), member("C1", &["t0", "t1"])];
        let a = assign(
            AssignorKind::RoundRobin,
            &members,
            &counts(&[("t0", 3), ("t1", 3)]),
        );
        assert_eq!(a["C0"], tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
        assert_eq!(a["C1"], tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));

        let members = [
            member("C0", &["t0"]),
            member("C1", &["t0", "t1"]),
            member("C2", &["t0", "t1", "t2"]),
        ];
        let a = assign(
            AssignorKind::RoundRobin,
            &members,
            &counts(&[("t0", 1), ("t1", 2), ("t2", 3)]),
        );
        assert_eq!(a["C0"], tps(&[("t0", 0)]));
        assert_eq!(a["C1"], tps(&[("t1", 0)]));
        assert_eq!(a["C2"], tps(&[("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]));
    }

    #[test]
    fn static_members_sort_first() {
        let mut a = member("a", &["t"]);
        let mut z = member("z", &["t"]);
        z.group_instance_id = Some("instance-0".into());
        a.group_instance_id = None;
        let out = assign(AssignorKind::Range, &[a, z], &counts(&[("t", 3)]));
        assert_eq!(out["z"], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(out["a"], tps(&[("t", 2)]));
    }

    #[test]
    fn names_round_trip() {
        for k in [AssignorKind::Range, AssignorKind::RoundRobin] {
            assert_eq!(AssignorKind::from_name(k.name()), Some(k));
            assert_eq!(AssignorKind::from_config(k.name()).unwrap(), k);
        }
        assert_eq!(
            AssignorKind::from_config("org.apache.kafka.clients.consumer.RangeAssignor").unwrap(),
            AssignorKind::Range
        );
    }
}
