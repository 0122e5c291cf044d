//! The controller role of this node: it checks topic changes against the metadata image and
//! answers with the metadata records that make them. It changes nothing itself: the records are
//! committed to the metadata log and replayed (see `broker::Broker::change_metadata`).

use std::collections::BTreeMap;

use kavka_metadata::{
    ConfigRecord, ConfigResourceType, MetadataImage, MetadataRecord, PartitionRecord,
    RemoveTopicRecord,
};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use crate::topic_config;

pub mod alter_partition;
mod create_topics;
pub mod elect_leaders;
pub mod fencing;
pub mod leader_balance;
pub mod placement;
pub mod reassignment;
pub mod registration;
#[cfg(test)]
mod test_brokers;

pub use create_topics::{create_topic, create_topics, EXCESSIVE_BATCH_MESSAGE};

/// Longest legal topic name.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Most partitions one topic may have on this node.
pub const TOPIC_PARTITIONS_MAX: i32 = 100_000;
/// Most partitions one CreatePartitions request may add to a topic.
pub const PARTITIONS_PER_REQUEST_MAX: i32 = 10_000;
/// Most records one request may write to the metadata log (Kafka's controller caps one
/// operation at 10 000 records likewise), so one request can neither exhaust file handles nor
/// stall the controller.
pub const RECORDS_PER_REQUEST_MAX: usize = 10_000;
/// The group coordinator's offsets topic.
pub const CONSUMER_OFFSETS_TOPIC: &str = "__consumer_offsets";
/// Kafka's internal topics: created by their coordinators, listed with `is_internal`, never
/// produced to by clients.
pub const INTERNAL_TOPICS: &[&str] = &[
    CONSUMER_OFFSETS_TOPIC,
    "__transaction_state",
    "__share_group_state",
];

/// Whether `name` is one of Kafka's internal topics.
pub fn is_internal_topic(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// The metadata log's own name: never a user topic.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// A refused change: the Kafka error and its message.
pub type Refusal = (ErrorCode, String);

/// Kafka's topic name rules.
pub fn validate_topic_name(name: &str) -> Result<(), Refusal> {
    let refuse = |why: String| Err((ErrorCode::INVALID_TOPIC_EXCEPTION, why));
    if name.is_empty() {
        return refuse("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return refuse("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > TOPIC_NAME_BYTES_MAX {
        return refuse(format!(
            "Topic name is illegal, it can't be longer than {TOPIC_NAME_BYTES_MAX} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return refuse(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// What a topic is to be created with.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    /// Name.
    pub name: String,
    /// Partition count (already defaulted).
    pub num_partitions: i32,
    /// Replication factor (already defaulted).
    pub replication_factor: i16,
    /// Explicit replica assignment per partition, if given.
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Topic config overrides.
    pub configs: BTreeMap<String, String>,
}

/// The records deleting a topic.
pub fn delete_topic(
    image: &MetadataImage,
    topic_id: &Uuid,
) -> Result<Vec<MetadataRecord>, Refusal> {
    if image.topic_by_id(topic_id).is_none() {
        return Err((
            ErrorCode::UNKNOWN_TOPIC_ID,
            "This server does not host this topic ID.".into(),
        ));
    }
    Ok(vec![MetadataRecord::RemoveTopic(RemoveTopicRecord {
        topic_id: *topic_id,
    })])
}

/// What a config change applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigTarget {
    /// A topic, by name.
    Topic(String),
    /// A broker: "" for every broker (the cluster default) or a node id.
    Broker(String),
}

/// One config change: a key and its new value, `None` to remove the key (back to the layer
/// below).
pub type ConfigChange = (String, Option<String>);

/// The records changing configs of a topic or broker, after checking every key and value.
pub fn alter_configs(
    image: &MetadataImage,
    node_id: i32,
    target: &ConfigTarget,
    changes: &[ConfigChange],
) -> Result<Vec<MetadataRecord>, Refusal> {
    let invalid = |m: String| (ErrorCode::INVALID_CONFIG, m);
    let (resource_type, resource_name) = match target {
        ConfigTarget::Topic(name) => {
            if image.topic_by_name(name).is_none() {
                return Err((
                    ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("Topic {name} does not exist"),
                ));
            }
            for (key, value) in changes {
                match value {
                    Some(v) => topic_config::validate(key, v).map_err(invalid)?,
                    None if topic_config::topic_config_def(key).is_none() => {
                        return Err(invalid(format!("Unknown topic config name: {key}")))
                    }
                    None => {}
                }
            }
            (ConfigResourceType::Topic, name.clone())
        }
        ConfigTarget::Broker(name) => {
            let known = placement::brokers(image, node_id);
            if !name.is_empty() && !known.iter().any(|b| *name == b.to_string()) {
                return Err((
                    ErrorCode::INVALID_REQUEST,
                    format!("Unexpected broker id {name}: the brokers are {known:?}"),
                ));
            }
            for (key, value) in changes {
                // Broker keys settable at run time, then the broker keys of topic configs.
                let dynamic = crate::config::broker_key(key)
                    .filter(|k| k.update == crate::config::Update::PerBroker);
                if let Some(k) = dynamic {
                    if let Some(v) = value {
                        topic_config::check_rule(k.rule, key, v).map_err(invalid)?;
                    }
                    continue;
                }
                let def = topic_config::broker_key_def(key).ok_or_else(|| {
                    invalid(format!(
                        "Cannot update these configs dynamically: {key} (only the replication throttle rates and the broker keys of topic configs, such as log.retention.ms, can change at run time)"
                    ))
                })?;
                if let Some(v) = value {
                    topic_config::check(def, key, v).map_err(invalid)?;
                }
            }
            (ConfigResourceType::Broker, name.clone())
        }
    };
    Ok(changes
        .iter()
        .map(|(key, value)| {
            MetadataRecord::Config(ConfigRecord {
                resource_type,
                resource_name: resource_name.clone(),
                name: key.clone(),
                value: value.clone(),
            })
        })
        .collect())
}

/// The records adding partitions to a topic (CreatePartitions); `count` is the new total.
pub fn create_partitions(
    image: &MetadataImage,
    node_id: i32,
    name: &str,
    count: i32,
    assignments: Option<&[Vec<i32>]>,
) -> Result<Vec<MetadataRecord>, Refusal> {
    let topic = image.topic_by_name(name).ok_or_else(|| {
        (
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            format!("The topic '{name}' does not exist."),
        )
    })?;
    if name == CONSUMER_OFFSETS_TOPIC || name == "__transaction_state" {
        return Err((
            ErrorCode::INVALID_PARTITIONS,
            format!("The partition count of {name} cannot change: groups are placed on its partitions by a hash of their id."),
        ));
    }
    let brokers = placement::brokers(image, node_id);
    let current = topic.partitions.len() as i32;
    if count < current {
        return Err((
            ErrorCode::INVALID_PARTITIONS,
            format!("The topic {name} currently has {current} partition(s); {count} would not be an increase."),
        ));
    }
    if count == current {
        return Err((
            ErrorCode::INVALID_PARTITIONS,
            format!("Topic already has {current} partition(s)."),
        ));
    }
    if count > TOPIC_PARTITIONS_MAX {
        return Err((
            ErrorCode::INVALID_PARTITIONS,
            format!("Number of partitions must be at most {TOPIC_PARTITIONS_MAX}."),
        ));
    }
    if count - current > PARTITIONS_PER_REQUEST_MAX {
        return Err((
            ErrorCode::INVALID_PARTITIONS,
            format!("At most {PARTITIONS_PER_REQUEST_MAX} partitions can be added in one request."),
        ));
    }
    // An empty list is taken as "no assignment given" (null), as clients mean it.
    if let Some(a) = assignments.filter(|a| !a.is_empty()) {
        if a.len() as i32 != count - current {
            return Err((
                ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                format!(
                    "Attempted to add {} additional partition(s), but only {} assignment(s) were specified.",
                    count - current,
                    a.len()
                ),
            ));
        }
        for replicas in a {
            placement::check_assignment(replicas, &brokers)
                .map_err(|m| (ErrorCode::INVALID_REPLICA_ASSIGNMENT, m))?;
        }
    }
    let added = (count - current) as usize;
    let replicas = match assignments.filter(|a| !a.is_empty()) {
        Some(a) => a.to_vec(),
        // New partitions get as many replicas as the topic's first partition has.
        None => {
            let rf = topic.partitions.get(&0).map_or(1, |p| p.replicas.len());
            placement::assign(&brokers, added, rf)
        }
    };
    Ok((current..count)
        .zip(replicas)
        .map(|(partition, replicas)| {
            MetadataRecord::Partition(PartitionRecord {
                topic_id: topic.topic_id,
                partition,
                isr: replicas.clone(),
                leader: replicas[0],
                replicas,
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, partitions: i32, rf: i16) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: rf,
            assignments: vec![],
            configs: BTreeMap::new(),
        }
    }

    #[test]
    fn names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            assert_eq!(
                validate_topic_name(bad).unwrap_err().0,
                ErrorCode::INVALID_TOPIC_EXCEPTION,
                "{bad}"
            );
        }
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }

    #[test]
    fn create_emits_topic_then_partitions_and_replays() {
        let mut image = MetadataImage::new();
        let (id, records) = create_topic(&image, 1, &spec("t", 3, 1)).unwrap();
        assert_eq!(records.len(), 4);
        for r in &records {
            image.apply(r).unwrap();
        }
        let t = image.topic_by_name("t").unwrap();
        assert_eq!(t.topic_id, id);
        assert_eq!(t.partitions.len(), 3);
        assert_eq!(
            create_topic(&image, 1, &spec("t", 1, 1)).unwrap_err().0,
            ErrorCode::TOPIC_ALREADY_EXISTS
        );
        let (_, rm) = (0, delete_topic(&image, &id).unwrap());
        image.apply(&rm[0]).unwrap();
        assert!(image.topic_by_name("t").is_none());
    }

    #[test]
    fn refusals_carry_kafka_codes() {
        let image = MetadataImage::new();
        assert_eq!(
            create_topic(&image, 1, &spec("t", 1, 3)).unwrap_err().0,
            ErrorCode::INVALID_REPLICATION_FACTOR
        );
        assert_eq!(
            create_topic(&image, 1, &spec("t", 0, 1)).unwrap_err().0,
            ErrorCode::INVALID_PARTITIONS
        );
        let mut s = spec("t", 1, 1);
        s.configs.insert("retention.ms".into(), "soon".into());
        assert_eq!(
            create_topic(&image, 1, &s).unwrap_err().0,
            ErrorCode::INVALID_CONFIG
        );
    }

    #[test]
    fn partitions_only_grow_and_configs_are_checked() {
        let mut image = MetadataImage::new();
        let (_, records) = create_topic(&image, 1, &spec("t", 2, 1)).unwrap();
        for r in &records {
            image.apply(r).unwrap();
        }
        assert_eq!(
            create_partitions(&image, 1, "t", 1, None).unwrap_err().0,
            ErrorCode::INVALID_PARTITIONS
        );
        assert_eq!(
            create_partitions(&image, 1, "t", 2, None).unwrap_err().0,
            ErrorCode::INVALID_PARTITIONS
        );
        assert_eq!(
            create_partitions(&image, 1, "nope", 3, None).unwrap_err().0,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        );
        assert_eq!(
            create_partitions(&image, 1, "t", 4, Some(&[vec![1]]))
                .unwrap_err()
                .0,
            ErrorCode::INVALID_REPLICA_ASSIGNMENT
        );
        for r in create_partitions(&image, 1, "t", 4, None).unwrap() {
            image.apply(&r).unwrap();
        }
        assert_eq!(image.topic_by_name("t").unwrap().partitions.len(), 4);

        let topic = ConfigTarget::Topic("t".into());
        let ok = alter_configs(
            &image,
            1,
            &topic,
            &[("retention.ms".into(), Some("1000".into()))],
        )
        .unwrap();
        image.apply(&ok[0]).unwrap();
        assert_eq!(image.topic_configs("t").unwrap()["retention.ms"], "1000");
        assert_eq!(
            alter_configs(
                &image,
                1,
                &topic,
                &[("retention.ms".into(), Some("x".into()))]
            )
            .unwrap_err()
            .0,
            ErrorCode::INVALID_CONFIG
        );
        let broker = ConfigTarget::Broker("".into());
        assert!(alter_configs(
            &image,
            1,
            &broker,
            &[("log.retention.ms".into(), Some("5".into()))]
        )
        .is_ok());
        assert_eq!(
            alter_configs(
                &image,
                1,
                &broker,
                &[("num.partitions".into(), Some("5".into()))]
            )
            .unwrap_err()
            .0,
            ErrorCode::INVALID_CONFIG
        );
        assert_eq!(
            alter_configs(&image, 1, &ConfigTarget::Broker("7".into()), &[])
                .unwrap_err()
                .0,
            ErrorCode::INVALID_REQUEST
        );
    }

    #[test]
    fn the_offsets_topic_is_compacted() {
        let mut image = MetadataImage::new();
        let (_, records) = create_topic(&image, 1, &spec("__consumer_offsets", 3, 1)).unwrap();
        for r in &records {
            image.apply(r).unwrap();
        }
        assert_eq!(
            image.topic_configs("__consumer_offsets").unwrap()["cleanup.policy"],
            "compact"
        );
    }

    #[test]
    fn the_metadata_log_name_is_refused() {
        let image = MetadataImage::new();
        assert_eq!(
            create_topic(&image, 1, &spec("__cluster_metadata", 1, 1))
                .unwrap_err()
                .0,
            ErrorCode::INVALID_REQUEST
        );
        assert_eq!(
            create_topic(&image, 1, &spec("big", TOPIC_PARTITIONS_MAX + 1, 1))
                .unwrap_err()
                .0,
            ErrorCode::INVALID_PARTITIONS
        );
    }

    #[test]
    fn a_request_is_one_batch_bounded_as_a_whole() {
        let image = MetadataImage::new();
        // Each topic alone fits; together they pass the bound by one record.
        let half = (RECORDS_PER_REQUEST_MAX / 2) as i32;
        let specs = [spec("a", half - 1, 1), spec("b", half, 1)];
        let (outcomes, records) = create_topics(&image, 1, &specs);
        assert!(records.is_empty());
        assert!(outcomes.iter().all(
            |o| matches!(o, Err((ErrorCode::POLICY_VIOLATION, m)) if m == EXCESSIVE_BATCH_MESSAGE)
        ));

        let specs = [
            spec("a", half - 1, 1),
            spec("a", 1, 1),
            spec("b", half - 1, 1),
        ];
        let (outcomes, records) = create_topics(&image, 1, &specs);
        assert_eq!(records.len(), RECORDS_PER_REQUEST_MAX);
        assert!(outcomes[0].is_ok() && outcomes[2].is_ok());
        assert_eq!(
            outcomes[1].as_ref().unwrap_err().0,
            ErrorCode::TOPIC_ALREADY_EXISTS,
            "a topic sees the ones before it in the request"
        );
        let mut after = image.clone();
        for r in &records {
            after.apply(r).unwrap();
        }
        assert_eq!(after.topic_count(), 2);
    }

    #[test]
    fn dot_and_underscore_collide() {
        let mut image = MetadataImage::new();
        let (_, records) = create_topic(&image, 1, &spec("a.b", 1, 1)).unwrap();
        for r in &records {
            image.apply(r).unwrap();
        }
        assert_eq!(
            create_topic(&image, 1, &spec("a_b", 1, 1)).unwrap_err().0,
            ErrorCode::INVALID_TOPIC_EXCEPTION
        );
    }
}
