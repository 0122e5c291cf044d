//! [`MetadataDelta`]: what one committed batch changed, as the node that applies it needs to
//! know (which partitions to create, lead, follow or drop; which configs to reload).

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::image::{MetadataImage, PartitionImage, TopicImage};
use crate::records::{ConfigResourceType, MetadataRecord};

/// A partition whose state a batch set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionChange {
    /// The topic's name.
    pub topic: String,
    /// The topic's id.
    pub topic_id: Uuid,
    /// The partition index.
    pub partition: i32,
    /// The state before the batch (`None`: the batch created the partition).
    pub before: Option<PartitionImage>,
    /// The state after.
    pub after: PartitionImage,
}

/// The changes of one batch, from the images before and after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataDelta {
    /// Topics the batch created, by name.
    pub created_topics: Vec<String>,
    /// Topics the batch deleted, as they were before it.
    pub deleted_topics: Vec<TopicImage>,
    /// Partitions whose state changed (or that were created), in record order, each once with
    /// its final state; partitions of topics deleted by the same batch are left out.
    pub partitions: Vec<PartitionChange>,
    /// Config resources with a changed key.
    pub configs: BTreeSet<(ConfigResourceType, String)>,
    /// Brokers that registered, or were fenced or unfenced.
    pub brokers: Vec<i32>,
}

impl MetadataDelta {
    /// The delta of `records`, applied to `before` to give `after`.
    pub fn between(
        before: &MetadataImage,
        after: &MetadataImage,
        records: &[MetadataRecord],
    ) -> MetadataDelta {
        let mut delta = MetadataDelta::default();
        let mut seen = BTreeSet::new();
        for record in records {
            match record {
                MetadataRecord::Topic(t) => {
                    if before.topic_by_id(&t.topic_id).is_none()
                        && after.topic_by_id(&t.topic_id).is_some()
                    {
                        delta.created_topics.push(t.name.clone());
                    }
                }
                MetadataRecord::Partition(p) => {
                    if !seen.insert((p.topic_id, p.partition)) {
                        continue;
                    }
                    let Some(topic) = after.topic_by_id(&p.topic_id) else {
                        continue;
                    };
                    let Some(now) = topic.partitions.get(&p.partition) else {
                        continue;
                    };
                    let was = before
                        .topic_by_id(&p.topic_id)
                        .and_then(|t| t.partitions.get(&p.partition));
                    if was != Some(now) {
                        delta.partitions.push(PartitionChange {
                            topic: topic.name.clone(),
                            topic_id: topic.topic_id,
                            partition: p.partition,
                            before: was.cloned(),
                            after: now.clone(),
                        });
                    }
                }
                MetadataRecord::RemoveTopic(r) => {
                    if let Some(topic) = before.topic_by_id(&r.topic_id) {
                        delta.deleted_topics.push(topic.clone());
                    }
                }
                MetadataRecord::Config(c) => {
                    delta
                        .configs
                        .insert((c.resource_type, c.resource_name.clone()));
                }
                MetadataRecord::RegisterBroker(r) => delta.brokers.push(r.broker_id),
                MetadataRecord::FenceBroker(r)
                | MetadataRecord::UnfenceBroker(r)
                | MetadataRecord::UnregisterBroker(r) => delta.brokers.push(r.broker_id),
                MetadataRecord::ProducerIds(_) => {}
            }
        }
        delta
    }

    /// The changes from `before` to `after` when `after` replaces it whole (a snapshot from
    /// the quorum's leader): topics created and deleted, partitions changed, and every config
    /// resource either image names.
    pub fn of_images(before: &MetadataImage, after: &MetadataImage) -> MetadataDelta {
        let mut delta = MetadataDelta::between(before, after, &after.to_records());
        delta.deleted_topics = before
            .topics()
            .filter(|t| after.topic_by_id(&t.topic_id).is_none())
            .cloned()
            .collect();
        for record in before.to_records() {
            if let MetadataRecord::Config(c) = record {
                delta.configs.insert((c.resource_type, c.resource_name));
            }
        }
        delta
    }
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
