//! IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on topic configs and on
//! the dynamic broker configs; committed as config records, applied to the logs when published.

use std::collections::HashSet;

use kavka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kavka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kavka_protocol::ErrorCode;

use super::{alter_config_resources, message, RequestContext};
use crate::controller::{ConfigChange, ConfigTarget, Refusal};
use crate::topic_config::{self, ConfigLayers, ConfigType};

const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
const OP_APPEND: i8 = 2;
const OP_SUBTRACT: i8 = 3;

/// The value in force now, for APPEND and SUBTRACT.
fn current_list(
    ctx: &RequestContext<'_>,
    target: &ConfigTarget,
    key: &str,
) -> Result<Vec<String>, Refusal> {
    let image = ctx.broker.image();
    let layers = ConfigLayers::new(ctx.broker.config(), &image);
    let (def, value) = match target {
        ConfigTarget::Topic(name) => {
            let def = topic_config::topic_config_def(key);
            let overrides = image.topic_configs(name).cloned().unwrap_or_default();
            (def, layers.value(&overrides, key))
        }
        ConfigTarget::Broker(_) => {
            let def = topic_config::broker_key_def(key);
            (def, def.map(|d| layers.broker_layers(d)[0].value.clone()))
        }
    };
    match def {
        Some(d) if d.config_type == ConfigType::List => Ok(value
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()),
        Some(_) => Err((
            ErrorCode::INVALID_CONFIG,
            format!("Config {key} is not a list: APPEND and SUBTRACT apply to list configs only"),
        )),
        None => Err((
            ErrorCode::INVALID_CONFIG,
            format!("Unknown config name: {key}"),
        )),
    }
}

fn changes(
    ctx: &RequestContext<'_>,
    target: &ConfigTarget,
    resource: &kavka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource,
) -> Result<Vec<ConfigChange>, Refusal> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(resource.configs.len());
    for c in &resource.configs {
        let key = c.name.as_str().to_string();
        if !seen.insert(key.clone()) {
            return Err((
                ErrorCode::INVALID_REQUEST,
                format!("Error due to duplicate config keys: {key}"),
            ));
        }
        let value = c.value.as_ref().map(|v| v.as_str().to_string());
        let change = match c.config_operation {
            OP_SET => match value {
                Some(v) => Some(v),
                None => {
                    return Err((
                        ErrorCode::INVALID_CONFIG,
                        format!("Null value not supported for: {key}"),
                    ))
                }
            },
            OP_DELETE => None,
            OP_APPEND | OP_SUBTRACT => {
                let mut list = current_list(ctx, target, &key)?;
                let items: Vec<String> = value
                    .unwrap_or_default()
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if c.config_operation == OP_APPEND {
                    for i in items {
                        if !list.contains(&i) {
                            list.push(i);
                        }
                    }
                } else {
                    list.retain(|x| !items.contains(x));
                }
                Some(list.join(","))
            }
            other => {
                return Err((
                    ErrorCode::INVALID_REQUEST,
                    format!("Unknown config operation {other} for {key}"),
                ))
            }
        };
        out.push((key, change));
    }
    Ok(out)
}

/// Handles IncrementalAlterConfigs.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let outcomes = alter_config_resources(
        ctx,
        &request.resources,
        |r| (r.resource_type, r.resource_name.as_str()),
        |target, r| changes(ctx, target, r),
        request.validate_only,
    );
    let responses = request
        .resources
        .iter()
        .zip(outcomes)
        .map(|(resource, outcome)| {
            let response = AlterConfigsResourceResponse::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone());
            match outcome {
                Ok(()) => response,
                Err((code, text)) => response
                    .with_error_code(code.code())
                    .with_error_message(message(text)),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
