//! CreateTopics (key 19): each topic checked on its own, then by the controller against the
//! image and the topics before it; every creatable topic is committed in one metadata batch
//! (bounded: a request above the controller's record limit creates nothing), and the logs
//! appear when the batch is published.

use std::collections::{BTreeMap, HashMap};

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kavka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::{message, RequestContext};
use crate::controller::TopicSpec;
use crate::topic_config::ConfigLayers;

fn failure(result: CreatableTopicResult, code: ErrorCode, text: String) -> CreatableTopicResult {
    result
        .with_error_code(code.code())
        .with_error_message(message(text))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
}

/// Handles CreateTopics.
pub fn handle(ctx: &RequestContext<'_>, request: CreateTopicsRequest) -> CreateTopicsResponse {
    let broker = ctx.broker;
    let mut seen: HashMap<String, usize> = HashMap::new();
    for t in &request.topics {
        *seen.entry(t.name.0.as_str().to_string()).or_default() += 1;
    }
    // First the checks of each topic on its own; then every creatable topic in one batch.
    let mut checked: Vec<Result<CreatableTopicResult, CreatableTopicResult>> =
        Vec::with_capacity(request.topics.len());
    let mut specs = Vec::new();
    for topic in request.topics {
        let name = topic.name.0.as_str().to_string();
        let result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_topic_id(Uuid::nil());
        if seen.get(&name).copied().unwrap_or(0) > 1 {
            checked.push(Err(failure(
                result,
                ErrorCode::INVALID_REQUEST,
                format!("Create topics request from client contains a duplicate topic: {name}"),
            )));
            continue;
        }
        let mut configs = BTreeMap::new();
        let mut null_config = None;
        for c in &topic.configs {
            match &c.value {
                Some(v) => {
                    configs.insert(c.name.as_str().to_string(), v.as_str().to_string());
                }
                None => null_config = Some(c.name.as_str().to_string()),
            }
        }
        if let Some(key) = null_config {
            checked.push(Err(failure(
                result,
                ErrorCode::INVALID_CONFIG,
                format!("Null value not supported for topic configs: {key}"),
            )));
            continue;
        }
        let assigned = !topic.assignments.is_empty();
        if assigned && (topic.num_partitions != -1 || topic.replication_factor != -1) {
            checked.push(Err(failure(
                result,
                ErrorCode::INVALID_REQUEST,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
            )));
            continue;
        }
        specs.push(TopicSpec {
            name,
            num_partitions: if assigned {
                topic.assignments.len() as i32
            } else if topic.num_partitions == -1 {
                broker.config().num_partitions
            } else {
                topic.num_partitions
            },
            replication_factor: if topic.replication_factor == -1 {
                broker.config().default_replication_factor
            } else {
                topic.replication_factor
            },
            assignments: topic
                .assignments
                .iter()
                .map(|a| {
                    (
                        a.partition_index,
                        a.broker_ids.iter().map(|b| b.0).collect(),
                    )
                })
                .collect(),
            configs,
        });
        checked.push(Ok(result));
    }
    let mut outcomes = broker
        .create_topics(&specs, request.validate_only)
        .into_iter();
    let mut specs = specs.iter();
    let image = broker.image();
    let layers = ConfigLayers::new(broker.config(), &image);
    let mut results = Vec::with_capacity(checked.len());
    for entry in checked {
        let result = match entry {
            Ok(pending) => pending,
            Err(failed) => {
                results.push(failed);
                continue;
            }
        };
        let spec = specs.next().expect("one spec per checked topic");
        match outcomes.next().expect("one outcome per spec") {
            Ok(topic_id) => {
                let effective = layers
                    .effective(&spec.configs)
                    .into_iter()
                    .map(|e| {
                        CreatableTopicConfigs::default()
                            .with_name(StrBytes::from_static_str(e.def.name))
                            .with_value(Some(StrBytes::from_string(e.value)))
                            .with_config_source(e.source as i8)
                    })
                    .collect();
                results.push(
                    result
                        .with_topic_id(if request.validate_only {
                            Uuid::nil()
                        } else {
                            topic_id
                        })
                        .with_num_partitions(spec.num_partitions)
                        .with_replication_factor(1)
                        // The config list is part of the response from v5.
                        .with_configs((ctx.version() >= 5).then_some(effective)),
                );
            }
            Err((code, text)) => results.push(failure(result, code, text)),
        }
    }
    CreateTopicsResponse::default().with_topics(results)
}
