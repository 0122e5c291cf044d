//! Leader elections an operator asks for (ElectLeaders), and the unclean elections the active
//! controller runs itself for leaderless partitions of topics with
//! `unclean.leader.election.enable=true` (as Kafka's controller does): decided by
//! `controller::elect_leaders`, written as partition records.

use kavka_metadata::{MetadataImage, MetadataRecord};
use kavka_protocol::ErrorCode;

use super::Broker;
use crate::controller::elect_leaders::{self, ElectionType};
use crate::controller::leader_balance;
use crate::controller::Refusal;

/// One partition's election outcome: (topic, partition, error).
pub type ElectionResult = (String, i32, ErrorCode);

impl Broker {
    /// Runs elections of `kind` for the named partitions (`None`: every partition, answering
    /// only those an election was tried for).
    pub fn elect_leaders(
        &self,
        kind: ElectionType,
        partitions: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<Vec<ElectionResult>, Refusal> {
        let results = self.change_metadata(false, |image| {
            let mut results = Vec::new();
            let mut records = Vec::new();
            let named = partitions.is_some();
            let wanted: Vec<(String, i32)> = match &partitions {
                Some(p) => p
                    .iter()
                    .flat_map(|(t, ps)| ps.iter().map(move |&i| (t.clone(), i)))
                    .collect(),
                None => image
                    .topics()
                    .flat_map(|t| t.partitions.keys().map(move |&i| (t.name.clone(), i)))
                    .collect(),
            };
            for (topic, index) in wanted {
                let found = image
                    .topic_by_name(&topic)
                    .and_then(|t| Some((t.topic_id, t.partitions.get(&index)?)));
                let Some((topic_id, p)) = found else {
                    results.push((topic, index, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION));
                    continue;
                };
                match elect_leaders::elect(image, p, kind) {
                    Ok(next) => {
                        records.push(elect_leaders::record(topic_id, index, &next));
                        results.push((topic, index, ErrorCode::NONE));
                    }
                    Err(ErrorCode::ELECTION_NOT_NEEDED) if !named => {}
                    Err(code) => results.push((topic, index, code)),
                }
            }
            Ok((results, records))
        })?;
        for (topic, partition, code) in &results {
            if *code == ErrorCode::NONE {
                tracing::info!(%topic, partition, ?kind, "leader elected");
            }
        }
        Ok(results)
    }

    /// The unclean elections due now: leaderless partitions of topics that allow them and
    /// have a live replica.
    fn unclean_elections(&self, image: &MetadataImage) -> Vec<MetadataRecord> {
        let layers = crate::topic_config::ConfigLayers::new(&self.config, image);
        let mut records = Vec::new();
        for topic in image.topics() {
            if !topic.partitions.values().any(|p| p.leader == -1) {
                continue;
            }
            let overrides = image
                .topic_configs(&topic.name)
                .cloned()
                .unwrap_or_default();
            if layers
                .value(&overrides, "unclean.leader.election.enable")
                .as_deref()
                != Some("true")
            {
                continue;
            }
            for (&index, p) in topic.partitions.iter().filter(|(_, p)| p.leader == -1) {
                if let Ok(next) = elect_leaders::elect(image, p, ElectionType::Unclean) {
                    tracing::warn!(topic = %topic.name, partition = index, leader = next.leader,
                        isr = ?next.isr, "unclean leader election: records the new leader lacks are lost");
                    records.push(elect_leaders::record(topic.topic_id, index, &next));
                }
            }
        }
        records
    }

    /// On the active controller, with `auto.leader.rebalance.enable`: gives partitions back to
    /// their preferred replicas where a broker's imbalance passed the limit
    /// (`controller::leader_balance`).
    pub(super) fn balance_leaders(&self) {
        let percent = self.config.leader_imbalance_percent;
        if leader_balance::rebalance(&self.image(), percent)
            .0
            .is_empty()
        {
            return;
        }
        let changed = self.change_metadata(false, |image| {
            let (records, over) = leader_balance::rebalance(image, percent);
            Ok(((records.len(), over), records))
        });
        match changed {
            Ok((count, over)) => tracing::info!(
                elections = count,
                ?over,
                limit_percent = percent,
                "leader imbalance: partitions given back to their preferred replicas"
            ),
            Err((code, why)) => {
                tracing::debug!(code = code.name(), %why, "leader balancing not made")
            }
        }
    }

    /// On the active controller: runs the unclean elections due (see the module).
    pub(super) fn elect_unclean_leaders(&self) {
        if self.unclean_elections(&self.image()).is_empty() {
            return;
        }
        let changed = self.change_metadata(false, |image| Ok(((), self.unclean_elections(image))));
        if let Err((code, why)) = changed {
            tracing::debug!(code = code.name(), %why, "unclean elections not made");
        }
    }
}
