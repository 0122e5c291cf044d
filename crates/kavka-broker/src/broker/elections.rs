//! Leader elections an operator asks for (ElectLeaders): decided by
//! `controller::elect_leaders` on the active controller, written as partition records.

use kavka_protocol::ErrorCode;

use super::Broker;
use crate::controller::elect_leaders::{self, ElectionType};
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
}
