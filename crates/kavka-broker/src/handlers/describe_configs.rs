//! DescribeConfigs (key 32): topic configs with their sources and synonyms, and this broker's
//! static configuration.

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kavka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kavka_protocol::ErrorCode;

use super::{message, RequestContext};
use crate::config::BrokerConfig;
use crate::topic_config::{self, ConfigSource, ConfigType};

/// `resource_type` of topics.
const RESOURCE_TOPIC: i8 = 2;
/// `resource_type` of brokers.
const RESOURCE_BROKER: i8 = 4;

fn entry(
    name: &str,
    value: String,
    source: ConfigSource,
    config_type: ConfigType,
) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value)))
        .with_config_source(source as i8)
        .with_config_type(config_type as i8)
}

fn synonym(name: &str, value: &str, source: ConfigSource) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value.to_string())))
        .with_source(source as i8)
}

fn broker_entries(config: &BrokerConfig) -> Vec<(&'static str, String, ConfigType)> {
    let long_max = i64::MAX.to_string();
    let (host, port) = (&config.advertised.host, config.advertised.port);
    vec![
        (
            "advertised.listeners",
            format!("PLAINTEXT://{host}:{port}"),
            ConfigType::List,
        ),
        (
            "auto.create.topics.enable",
            config.auto_create_topics_enable.to_string(),
            ConfigType::Boolean,
        ),
        (
            "compression.type",
            config.compression_type.clone(),
            ConfigType::String,
        ),
        (
            "default.replication.factor",
            config.default_replication_factor.to_string(),
            ConfigType::Int,
        ),
        (
            "listeners",
            format!(
                "PLAINTEXT://{}:{}",
                config.listener.host, config.listener.port
            ),
            ConfigType::List,
        ),
        (
            "log.cleanup.policy",
            config.log_cleanup_policy.clone(),
            ConfigType::List,
        ),
        (
            "log.dirs",
            config
                .log_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(","),
            ConfigType::String,
        ),
        (
            "log.flush.interval.messages",
            config
                .log_flush_interval_messages
                .map_or(long_max.clone(), |v| v.to_string()),
            ConfigType::Long,
        ),
        (
            "log.flush.interval.ms",
            config
                .log_flush_interval_ms
                .map_or(long_max, |v| v.to_string()),
            ConfigType::Long,
        ),
        (
            "log.index.interval.bytes",
            config.log_index_interval_bytes.to_string(),
            ConfigType::Int,
        ),
        (
            "log.index.size.max.bytes",
            config.log_index_size_max_bytes.to_string(),
            ConfigType::Int,
        ),
        (
            "log.message.timestamp.type",
            config.log_message_timestamp_type.clone(),
            ConfigType::String,
        ),
        (
            "log.retention.bytes",
            config.log_retention_bytes.to_string(),
            ConfigType::Long,
        ),
        (
            "log.retention.ms",
            config.log_retention_ms.to_string(),
            ConfigType::Long,
        ),
        (
            "log.roll.ms",
            config.log_roll_ms.to_string(),
            ConfigType::Long,
        ),
        (
            "log.segment.bytes",
            config.log_segment_bytes.to_string(),
            ConfigType::Int,
        ),
        (
            "message.max.bytes",
            config.message_max_bytes.to_string(),
            ConfigType::Int,
        ),
        (
            "min.insync.replicas",
            config.min_insync_replicas.to_string(),
            ConfigType::Int,
        ),
        ("node.id", config.node_id.to_string(), ConfigType::Int),
        (
            "num.partitions",
            config.num_partitions.to_string(),
            ConfigType::Int,
        ),
        (
            "socket.request.max.bytes",
            config.socket_request_max_bytes.to_string(),
            ConfigType::Int,
        ),
    ]
}

fn wanted(keys: &Option<Vec<StrBytes>>, name: &str) -> bool {
    keys.as_ref()
        .is_none_or(|k| k.is_empty() || k.iter().any(|k| k.as_str() == name))
}

/// Handles DescribeConfigs.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let broker = ctx.broker;
    let image = broker.image();
    let synonyms = request.include_synonyms;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let name = resource.resource_name.as_str().to_string();
            let result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            let fail = |code: ErrorCode, text: String| {
                result
                    .clone()
                    .with_error_code(code.code())
                    .with_error_message(message(text))
            };
            match resource.resource_type {
                RESOURCE_TOPIC => {
                    let Some(_) = image.topic_by_name(&name) else {
                        return fail(
                            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                            format!("Topic {name} does not exist"),
                        );
                    };
                    let overrides = image.topic_configs(&name).cloned().unwrap_or_default();
                    let configs = topic_config::effective(&broker.config, &overrides)
                        .into_iter()
                        .filter(|e| wanted(&resource.configuration_keys, e.def.name))
                        .map(|e| {
                            let mut s = Vec::new();
                            if synonyms {
                                if let Some(v) = overrides.get(e.def.name) {
                                    s.push(synonym(e.def.name, v, ConfigSource::DynamicTopic));
                                }
                                let (bv, given) = &e.broker_value;
                                if *given {
                                    s.push(synonym(
                                        e.def.broker_key,
                                        bv,
                                        ConfigSource::StaticBroker,
                                    ));
                                } else {
                                    s.push(synonym(e.def.broker_key, bv, ConfigSource::Default));
                                }
                            }
                            entry(e.def.name, e.value, e.source, e.def.config_type).with_synonyms(s)
                        })
                        .collect();
                    result.with_configs(configs)
                }
                RESOURCE_BROKER => {
                    if !name.is_empty() && name != broker.config.node_id.to_string() {
                        return fail(
                            ErrorCode::INVALID_REQUEST,
                            format!(
                                "Unexpected broker id {name}: this is broker {}",
                                broker.config.node_id
                            ),
                        );
                    }
                    let configs = broker_entries(&broker.config)
                        .into_iter()
                        .filter(|(k, _, _)| wanted(&resource.configuration_keys, k))
                        .map(|(k, v, t)| {
                            let source = if broker.config.given.contains_key(k) {
                                ConfigSource::StaticBroker
                            } else {
                                ConfigSource::Default
                            };
                            let s = if synonyms {
                                vec![synonym(k, &v, source)]
                            } else {
                                vec![]
                            };
                            entry(k, v, source, t).with_read_only(true).with_synonyms(s)
                        })
                        .collect();
                    result.with_configs(configs)
                }
                other => fail(
                    ErrorCode::INVALID_REQUEST,
                    format!("Describing configs of resource type {other} is not supported"),
                ),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
