//! Partition reassignments an operator asks for (AlterPartitionReassignments, decided by
//! `controller::reassignment`, written as partition records) and the ones in progress
//! (ListPartitionReassignments, read from the image: a reassignment lives in its partition's
//! record, so it survives a controller failover).

use kavka_metadata::{MetadataImage, MetadataRecord, PartitionImage, PartitionRecord};
use kavka_protocol::ErrorCode;

use super::Broker;
use crate::controller::reassignment;
use crate::controller::Refusal;

/// A reassignment asked for one partition: its index and target replicas (`None`: cancel).
pub type ReassignTarget = (i32, Option<Vec<i32>>);

/// The outcome for one partition: index, error, message.
pub type ReassignResult = (i32, ErrorCode, String);

/// Most partitions one request may reassign (Kafka's records per user operation).
const PARTITIONS_PER_REQUEST_MAX: usize = 10_000;

/// Whether a topic allows unclean leader elections.
fn unclean_allowed(broker: &Broker, image: &MetadataImage, topic: &str) -> bool {
    let layers = crate::topic_config::ConfigLayers::new(&broker.config, image);
    let overrides = image.topic_configs(topic).cloned().unwrap_or_default();
    layers
        .value(&overrides, "unclean.leader.election.enable")
        .as_deref()
        == Some("true")
}

impl Broker {
    /// Starts, changes or cancels reassignments, atomically for the whole request: the
    /// partitions that can be reassigned are, the others get their error.
    pub fn alter_partition_reassignments(
        &self,
        topics: Vec<(String, Vec<ReassignTarget>)>,
        allow_replication_factor_change: bool,
    ) -> Result<Vec<(String, Vec<ReassignResult>)>, Refusal> {
        let count: usize = topics.iter().map(|(_, p)| p.len()).sum();
        if count > PARTITIONS_PER_REQUEST_MAX {
            return Err((
                ErrorCode::POLICY_VIOLATION,
                format!("at most {PARTITIONS_PER_REQUEST_MAX} partitions per request"),
            ));
        }
        let results = self.change_metadata(false, |image| {
            // Each decision is made against the image with the request's earlier changes.
            let mut working = image.clone();
            let mut records = Vec::new();
            let mut results = Vec::with_capacity(topics.len());
            for (name, partitions) in &topics {
                let mut outcomes = Vec::with_capacity(partitions.len());
                for (index, target) in partitions {
                    let outcome = decide(
                        self,
                        &working,
                        name,
                        *index,
                        target.as_deref(),
                        allow_replication_factor_change,
                    );
                    match outcome {
                        Ok(Some(record)) => {
                            if let Err(e) = working.apply(&record) {
                                outcomes.push((
                                    *index,
                                    ErrorCode::UNKNOWN_SERVER_ERROR,
                                    e.to_string(),
                                ));
                                continue;
                            }
                            records.push(record);
                            outcomes.push((*index, ErrorCode::NONE, String::new()));
                        }
                        Ok(None) => outcomes.push((*index, ErrorCode::NONE, String::new())),
                        Err((code, message)) => outcomes.push((*index, code, message)),
                    }
                }
                results.push((name.clone(), outcomes));
            }
            Ok((results, records))
        })?;
        for (topic, outcomes) in &results {
            for (partition, code, message) in outcomes {
                if *code == ErrorCode::NONE {
                    tracing::info!(%topic, partition, "partition reassignment altered");
                } else {
                    tracing::info!(%topic, partition, code = code.name(), %message, "partition reassignment refused");
                }
            }
        }
        Ok(results)
    }

    /// The reassignments in progress: of the named partitions (`Some`), or all.
    pub fn list_partition_reassignments(
        &self,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<(String, Vec<(i32, PartitionImage)>)> {
        let image = self.image();
        let ongoing = |name: &str, wanted: Option<&[i32]>| {
            let topic = image.topic_by_name(name)?;
            let partitions: Vec<(i32, PartitionImage)> = topic
                .partitions
                .iter()
                .filter(|(i, p)| p.is_reassigning() && wanted.is_none_or(|w| w.contains(i)))
                .map(|(&i, p)| (i, p.clone()))
                .collect();
            (!partitions.is_empty()).then(|| (topic.name.clone(), partitions))
        };
        match topics {
            Some(topics) => topics
                .iter()
                .filter_map(|(name, indexes)| ongoing(name, Some(indexes)))
                .collect(),
            None => image
                .topics()
                .filter_map(|t| ongoing(&t.name, None))
                .collect(),
        }
    }
}

/// The record of one partition's reassignment, `None` when nothing changes.
fn decide(
    broker: &Broker,
    image: &MetadataImage,
    name: &str,
    index: i32,
    target: Option<&[i32]>,
    allow_replication_factor_change: bool,
) -> Result<Option<MetadataRecord>, Refusal> {
    let topic = image.topic_by_name(name).ok_or_else(|| {
        (
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            format!("Unable to find a topic named {name}."),
        )
    })?;
    let unclean = unclean_allowed(broker, image, name);
    let next = reassignment::reassign(
        image,
        topic,
        index,
        target,
        allow_replication_factor_change,
        unclean,
    )?;
    Ok(next
        .map(|state| MetadataRecord::Partition(PartitionRecord::of(topic.topic_id, index, &state))))
}
