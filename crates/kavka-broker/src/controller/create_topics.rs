//! CreateTopics decisions: the records of each topic, and of a whole request as one batch.

use kavka_metadata::{
    random_kafka_uuid, ConfigRecord, ConfigResourceType, MetadataImage, MetadataRecord,
    PartitionRecord, TopicRecord,
};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::{
    validate_topic_name, Refusal, TopicSpec, CLUSTER_METADATA_TOPIC, CONSUMER_OFFSETS_TOPIC,
    RECORDS_PER_REQUEST_MAX, TOPIC_PARTITIONS_MAX,
};
use crate::topic_config;

/// What Kafka's controller answers every topic of a request above the record bound.
pub const EXCESSIVE_BATCH_MESSAGE: &str = "Unable to perform excessively large batch operation.";

/// The records creating every creatable topic of `specs`, as one batch, with each topic's
/// outcome in request order. Each topic is checked against the image plus the topics before it
/// in the request. When the records would exceed [`RECORDS_PER_REQUEST_MAX`] nothing is
/// created and every topic gets POLICY_VIOLATION, as from Kafka's controller.
pub fn create_topics(
    image: &MetadataImage,
    node_id: i32,
    specs: &[TopicSpec],
) -> (Vec<Result<Uuid, Refusal>>, Vec<MetadataRecord>) {
    let mut working = image.clone();
    let mut outcomes = Vec::with_capacity(specs.len());
    let mut records = Vec::new();
    for spec in specs {
        let outcome = create_topic(&working, node_id, spec).and_then(|(topic_id, topic)| {
            if records.len() + topic.len() > RECORDS_PER_REQUEST_MAX {
                // Counted like Kafka's bounded list: the request fails as a whole.
                return Err((ErrorCode::POLICY_VIOLATION, EXCESSIVE_BATCH_MESSAGE.into()));
            }
            for r in &topic {
                working
                    .apply(r)
                    .map_err(|e| (ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()))?;
            }
            records.extend(topic);
            Ok(topic_id)
        });
        if matches!(&outcome, Err((ErrorCode::POLICY_VIOLATION, m)) if m == EXCESSIVE_BATCH_MESSAGE)
        {
            let refusal = (
                ErrorCode::POLICY_VIOLATION,
                EXCESSIVE_BATCH_MESSAGE.to_string(),
            );
            return (vec![Err(refusal); specs.len()], Vec::new());
        }
        outcomes.push(outcome);
    }
    (outcomes, records)
}

/// The records creating a topic, or why it cannot be.
pub fn create_topic(
    image: &MetadataImage,
    node_id: i32,
    spec: &TopicSpec,
) -> Result<(Uuid, Vec<MetadataRecord>), Refusal> {
    validate_topic_name(&spec.name)?;
    let brokers = super::placement::brokers(image, node_id);
    if spec.name == CLUSTER_METADATA_TOPIC {
        return Err((
            ErrorCode::INVALID_REQUEST,
            format!("Creation of internal topic {CLUSTER_METADATA_TOPIC} is prohibited."),
        ));
    }
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
        super::placement::check_replication_factor(spec.replication_factor, &brokers)?;
        let count = spec.num_partitions as usize;
        (0..spec.num_partitions)
            .zip(super::placement::assign(
                &brokers,
                count,
                spec.replication_factor as usize,
            ))
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
            super::placement::check_assignment(replicas, &brokers).map_err(|m| {
                (
                    ErrorCode::INVALID_REPLICA_ASSIGNMENT,
                    format!("Partition {p}: {m}"),
                )
            })?;
        }
        sorted
    };
    for (name, value) in &spec.configs {
        topic_config::validate(name, value).map_err(|m| (ErrorCode::INVALID_CONFIG, m))?;
    }
    // The group coordinator's offsets topic is compacted, as in Kafka, whoever creates it.
    let mut configs = spec.configs.clone();
    if spec.name == CONSUMER_OFFSETS_TOPIC || spec.name == "__transaction_state" {
        configs
            .entry("cleanup.policy".to_string())
            .or_insert_with(|| "compact".to_string());
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
    for (name, value) in &configs {
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
            leader: replicas[0],
            replicas,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }));
    }
    Ok((topic_id, records))
}
