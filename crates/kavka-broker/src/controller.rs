//! The controller role of this node: it checks topic changes against the metadata image and
//! answers with the metadata records that make them. It changes nothing itself: the records are
//! committed to the metadata log and replayed (see `broker::Broker::commit`).

use std::collections::BTreeMap;

use kavka_metadata::{
    random_kafka_uuid, ConfigRecord, ConfigResourceType, MetadataImage, MetadataRecord,
    PartitionRecord, RemoveTopicRecord, TopicRecord,
};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use crate::topic_config;

/// Longest legal topic name.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;
/// Most partitions one topic may have on this node.
pub const TOPIC_PARTITIONS_MAX: i32 = 100_000;

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

/// The records creating a topic, or why it cannot be.
pub fn create_topic(
    image: &MetadataImage,
    node_id: i32,
    spec: &TopicSpec,
) -> Result<(Uuid, Vec<MetadataRecord>), Refusal> {
    validate_topic_name(&spec.name)?;
    if image.topic_by_name(&spec.name).is_some() {
        return Err((
            ErrorCode::TOPIC_ALREADY_EXISTS,
            format!("Topic '{}' already exists.", spec.name),
        ));
    }
    let collision_key = |n: &str| n.replace('.', "_");
    if let Some(other) = image
        .topics()
        .find(|t| collision_key(&t.name) == collision_key(&spec.name))
    {
        return Err((
            ErrorCode::INVALID_TOPIC_EXCEPTION,
            format!(
                "Topic '{}' collides with existing topic: {}",
                spec.name, other.name
            ),
        ));
    }
    let partitions: Vec<(i32, Vec<i32>)> = if spec.assignments.is_empty() {
        if spec.num_partitions < 1 {
            return Err((
                ErrorCode::INVALID_PARTITIONS,
                "Number of partitions must be larger than 0.".into(),
            ));
        }
        if spec.num_partitions > TOPIC_PARTITIONS_MAX {
            return Err((
                ErrorCode::INVALID_PARTITIONS,
                format!("Number of partitions must be at most {TOPIC_PARTITIONS_MAX}."),
            ));
        }
        if spec.replication_factor < 1 {
            return Err((
                ErrorCode::INVALID_REPLICATION_FACTOR,
                "Replication factor must be larger than 0.".into(),
            ));
        }
        if spec.replication_factor > 1 {
            return Err((
                ErrorCode::INVALID_REPLICATION_FACTOR,
                format!(
                    "Unable to replicate the partition {} time(s): The target replication factor of {} cannot be reached because only 1 broker(s) are registered.",
                    spec.replication_factor, spec.replication_factor
                ),
            ));
        }
        (0..spec.num_partitions)
            .map(|p| (p, vec![node_id]))
            .collect()
    } else {
        let mut sorted = spec.assignments.clone();
        sorted.sort_by_key(|(p, _)| *p);
        for (i, (p, replicas)) in sorted.iter().enumerate() {
            if *p != i as i32 {
                return Err((
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    "Partitions should be a consecutive 0-based integer sequence".into(),
                ));
            }
            if replicas.as_slice() != [node_id] {
                return Err((
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    format!("Replica assignment {replicas:?} of partition {p} names brokers other than the only broker {node_id}"),
                ));
            }
        }
        sorted
    };
    for (name, value) in &spec.configs {
        topic_config::validate(name, value).map_err(|m| (ErrorCode::INVALID_CONFIG, m))?;
    }

    let topic_id = loop {
        let id = random_kafka_uuid();
        if image.topic_by_id(&id).is_none() {
            break id;
        }
    };
    let mut records = vec![MetadataRecord::Topic(TopicRecord {
        name: spec.name.clone(),
        topic_id,
    })];
    for (name, value) in &spec.configs {
        records.push(MetadataRecord::Config(ConfigRecord {
            resource_type: ConfigResourceType::Topic,
            resource_name: spec.name.clone(),
            name: name.clone(),
            value: Some(value.clone()),
        }));
    }
    for (partition, replicas) in partitions {
        records.push(MetadataRecord::Partition(PartitionRecord {
            topic_id,
            partition,
            isr: replicas.clone(),
            replicas,
            leader: node_id,
            leader_epoch: 0,
            partition_epoch: 0,
        }));
    }
    Ok((topic_id, records))
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
