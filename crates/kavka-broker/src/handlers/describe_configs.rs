//! DescribeConfigs (key 32): topic configs with their sources and synonyms, and this broker's
//! configuration (static keys, and the broker keys of topic configs with their dynamic layers).

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kavka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kavka_protocol::ErrorCode;

use super::{message, RequestContext};
use crate::config::{BrokerConfig, Effect, Update, BROKER_KEYS};
use crate::topic_config::{ConfigLayers, ConfigSource, ConfigType, SourcedValue, TOPIC_CONFIGS};

/// `resource_type` of topics.
pub const RESOURCE_TOPIC: i8 = 2;
/// `resource_type` of brokers.
pub const RESOURCE_BROKER: i8 = 4;

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

fn synonyms(layers: &[SourcedValue]) -> Vec<DescribeConfigsSynonym> {
    layers
        .iter()
        .map(|l| {
            DescribeConfigsSynonym::default()
                .with_name(StrBytes::from_static_str(l.key))
                .with_value(Some(StrBytes::from_string(l.value.clone())))
                .with_source(l.source as i8)
        })
        .collect()
}

/// The broker's static keys (not settable at run time) and their values in force: every key
/// of the broker-key table Kavka acts on (aliases are reported under the key they name).
fn static_entries(config: &BrokerConfig) -> Vec<(&'static str, String, ConfigType)> {
    BROKER_KEYS
        .iter()
        .filter(|k| k.effect == Effect::Acts && k.update == Update::ReadOnly)
        .map(|k| {
            let value = match k.name {
                "listeners" => config
                    .listeners
                    .iter()
                    .map(|l| format!("{}://{}:{}", l.name, l.host, l.port))
                    .collect::<Vec<_>>()
                    .join(","),
                "advertised.listeners" => config
                    .advertised
                    .iter()
                    .map(|a| format!("{}://{}:{}", a.name, a.host, a.port))
                    .collect::<Vec<_>>()
                    .join(","),
                "log.dirs" => config
                    .log_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(","),
                "node.id" => config.node_id.to_string(),
                name => config
                    .given
                    .get(name)
                    .map(|v| v.trim().to_string())
                    .or(k.default.map(str::to_string))
                    .unwrap_or_default(),
            };
            (k.name, value, k.config_type)
        })
        .collect()
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
    let layers = ConfigLayers::new(broker.config(), &image);
    let include_synonyms = request.include_synonyms;
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
                    if image.topic_by_name(&name).is_none() {
                        return fail(
                            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                            format!("Topic {name} does not exist"),
                        );
                    }
                    let overrides = image.topic_configs(&name).cloned().unwrap_or_default();
                    let configs = layers
                        .effective(&overrides)
                        .into_iter()
                        .filter(|e| wanted(&resource.configuration_keys, e.def.name))
                        .map(|e| {
                            let s = if include_synonyms {
                                synonyms(&e.synonyms)
                            } else {
                                vec![]
                            };
                            entry(e.def.name, e.value, e.source, e.def.config_type).with_synonyms(s)
                        })
                        .collect();
                    result.with_configs(configs)
                }
                RESOURCE_BROKER => {
                    let name_is_default = name.is_empty();
                    if !name.is_empty() && name != broker.config().node_id.to_string() {
                        return fail(
                            ErrorCode::INVALID_REQUEST,
                            format!(
                                "Unexpected broker id {name}: this is broker {}",
                                broker.config().node_id
                            ),
                        );
                    }
                    let mut configs: Vec<DescribeConfigsResourceResult> =
                        static_entries(broker.config())
                            .into_iter()
                            .filter(|(k, _, _)| wanted(&resource.configuration_keys, k))
                            .map(|(k, v, t)| {
                                let source = if broker.config().given.contains_key(k) {
                                    ConfigSource::StaticBroker
                                } else {
                                    ConfigSource::Default
                                };
                                let s = if include_synonyms {
                                    synonyms(&[SourcedValue {
                                        key: k,
                                        value: v.clone(),
                                        source,
                                    }])
                                } else {
                                    vec![]
                                };
                                entry(k, v, source, t).with_read_only(true).with_synonyms(s)
                            })
                            .collect();
                    // Keys settable at run time, with their layers; the cluster-default
                    // resource shows only the cluster-wide ones.
                    let mut dynamic = |name: &'static str, mut l: Vec<SourcedValue>, t| {
                        if name_is_default {
                            l.retain(|x| x.source != ConfigSource::DynamicBroker);
                        }
                        let s = if include_synonyms {
                            synonyms(&l)
                        } else {
                            vec![]
                        };
                        configs
                            .push(entry(name, l[0].value.clone(), l[0].source, t).with_synonyms(s));
                    };
                    for key in BROKER_KEYS.iter().filter(|k| k.update == Update::PerBroker) {
                        if wanted(&resource.configuration_keys, key.name) {
                            let given = broker
                                .config()
                                .given
                                .get(key.name)
                                .map(|v| v.trim().to_string());
                            let l =
                                layers.key_layers(key.name, key.default.unwrap_or_default(), given);
                            dynamic(key.name, l, key.config_type);
                        }
                    }
                    for def in TOPIC_CONFIGS {
                        if def.broker_key != crate::topic_config::NO_BROKER_KEY
                            && wanted(&resource.configuration_keys, def.broker_key)
                        {
                            dynamic(def.broker_key, layers.broker_layers(def), def.config_type);
                        }
                    }
                    configs.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
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
