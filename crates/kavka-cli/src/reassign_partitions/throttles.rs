//! The replication throttles `kavka reassign-partitions` sets with `--execute --throttle` and
//! clears with `--verify` (once nothing moves) and `--cancel`, as Kafka's tool does.

use std::collections::{BTreeMap, BTreeSet};

use kavka_client::admin::{AlterConfigOp, AlterOpType, ConfigResource};
use kavka_client::Admin;

use crate::reassign_json::{Assignment, TopicPartition};
use crate::ToolError;

/// Broker-level throttle configs the tool sets and clears.
const BROKER_THROTTLES: [&str; 2] = [
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
];
/// Topic-level throttle configs.
const TOPIC_THROTTLES: [&str; 2] = [
    "leader.replication.throttled.replicas",
    "follower.replication.throttled.replicas",
];

/// Sets Kafka's throttles for a reassignment: on each topic, the partitions' sources on the
/// leader side and their new replicas on the follower side; on every broker involved, both
/// rates.
pub(super) async fn set_throttles(
    admin: &Admin,
    ongoing: &[kavka_client::admin::OngoingReassignment],
    proposed: &Assignment,
    current: &Assignment,
    throttle: i64,
) -> Result<(), ToolError> {
    // (sources, destinations) per partition: ongoing moves first, then the proposed ones.
    let mut moves: BTreeMap<TopicPartition, (BTreeSet<i32>, BTreeSet<i32>)> = BTreeMap::new();
    for r in ongoing {
        let sources = r
            .replicas
            .iter()
            .copied()
            .filter(|b| !r.adding.contains(b))
            .collect();
        moves.insert(
            (r.topic.clone(), r.partition),
            (sources, r.adding.iter().copied().collect()),
        );
    }
    for (tp, replicas) in proposed {
        let sources = match moves.get(tp) {
            Some((s, _)) => s.clone(),
            None => current
                .get(tp)
                .map(|r| r.iter().copied().collect())
                .unwrap_or_default(),
        };
        let destinations = replicas
            .iter()
            .copied()
            .filter(|b| !sources.contains(b))
            .collect();
        moves.insert(tp.clone(), (sources, destinations));
    }
    let mut by_topic: BTreeMap<&str, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    let mut brokers: BTreeSet<i32> = BTreeSet::new();
    for ((topic, p), (sources, destinations)) in &moves {
        let entry = by_topic.entry(topic).or_default();
        entry.0.extend(sources.iter().map(|b| format!("{p}:{b}")));
        entry
            .1
            .extend(destinations.iter().map(|b| format!("{p}:{b}")));
        brokers.extend(sources.iter().chain(destinations));
    }
    let set = |name: &str, value: String| AlterConfigOp {
        name: name.into(),
        value: Some(value),
        op: AlterOpType::Set,
    };
    for (topic, (leader, follower)) in by_topic {
        let join = |s: BTreeSet<String>| s.into_iter().collect::<Vec<_>>().join(",");
        let ops = [
            set(TOPIC_THROTTLES[0], join(leader)),
            set(TOPIC_THROTTLES[1], join(follower)),
        ];
        admin
            .incremental_alter_configs(&ConfigResource::Topic(topic.to_string()), &ops)
            .await?;
    }
    for broker in brokers {
        let ops: Vec<AlterConfigOp> = BROKER_THROTTLES
            .iter()
            .map(|n| set(n, throttle.to_string()))
            .collect();
        admin
            .incremental_alter_configs(&ConfigResource::Broker(broker.to_string()), &ops)
            .await?;
    }
    Ok(())
}

/// Removes every throttle of the brokers (all of the cluster's and those named) and topics.
pub(super) async fn clear_throttles(
    admin: &Admin,
    targets: &[(TopicPartition, Vec<i32>)],
) -> Result<(), ToolError> {
    let mut brokers = crate::common::broker_ids(admin).await?;
    brokers.extend(targets.iter().flat_map(|(_, r)| r.iter().copied()));
    let topics: BTreeSet<&str> = targets.iter().map(|((t, _), _)| t.as_str()).collect();
    let list = |v: Vec<String>| v.join(",");
    let s = if brokers.len() == 1 { "" } else { "s" };
    println!(
        "Clearing broker-level throttles on broker{s} {}",
        list(brokers.iter().map(i32::to_string).collect())
    );
    let delete = |name: &str| AlterConfigOp {
        name: name.into(),
        value: None,
        op: AlterOpType::Delete,
    };
    for b in &brokers {
        let ops: Vec<AlterConfigOp> = BROKER_THROTTLES.iter().map(|n| delete(n)).collect();
        admin
            .incremental_alter_configs(&ConfigResource::Broker(b.to_string()), &ops)
            .await?;
    }
    let s = if topics.len() == 1 { "" } else { "s" };
    println!(
        "Clearing topic-level throttles on topic{s} {}",
        list(topics.iter().map(|t| t.to_string()).collect())
    );
    for t in topics {
        let ops: Vec<AlterConfigOp> = TOPIC_THROTTLES.iter().map(|n| delete(n)).collect();
        admin
            .incremental_alter_configs(&ConfigResource::Topic(t.to_string()), &ops)
            .await?;
    }
    Ok(())
}
