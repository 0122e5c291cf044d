//! AlterConfigs (key 33), the older whole-set form: the resource's configs become exactly the
//! ones given; every other override of it is removed.

use std::collections::HashSet;

use kavka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kavka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kavka_protocol::ErrorCode;

use super::{config_target, message, RequestContext};
use crate::controller::{ConfigChange, ConfigTarget, Refusal};

fn changes(
    ctx: &RequestContext<'_>,
    target: &ConfigTarget,
    resource: &kavka_protocol::messages::alter_configs_request::AlterConfigsResource,
) -> Result<Vec<ConfigChange>, Refusal> {
    let mut out: Vec<ConfigChange> = Vec::new();
    let mut given = HashSet::new();
    for c in &resource.configs {
        let key = c.name.as_str().to_string();
        if !given.insert(key.clone()) {
            return Err((
                ErrorCode::INVALID_REQUEST,
                format!("Error due to duplicate config keys: {key}"),
            ));
        }
        let Some(value) = c.value.as_ref() else {
            return Err((
                ErrorCode::INVALID_CONFIG,
                format!("Null value not supported for: {key}"),
            ));
        };
        out.push((key, Some(value.as_str().to_string())));
    }
    let image = ctx.broker.image();
    let existing = match target {
        ConfigTarget::Topic(name) => image.topic_configs(name),
        ConfigTarget::Broker(name) => image.broker_configs(name),
    };
    for key in existing.into_iter().flat_map(|m| m.keys()) {
        if !given.contains(key) {
            out.push((key.clone(), None));
        }
    }
    Ok(out)
}

/// Handles AlterConfigs.
pub fn handle(ctx: &RequestContext<'_>, request: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut count = std::collections::HashMap::new();
    for r in &request.resources {
        *count
            .entry((r.resource_type, r.resource_name.as_str().to_string()))
            .or_insert(0) += 1;
    }
    let responses = request
        .resources
        .iter()
        .map(|resource| {
            let name = resource.resource_name.as_str().to_string();
            let outcome = if count[&(resource.resource_type, name.clone())] > 1 {
                Err((
                    ErrorCode::INVALID_REQUEST,
                    format!("Duplicate resource {name} in the request"),
                ))
            } else {
                config_target(resource.resource_type, &name).and_then(|target| {
                    let changes = changes(ctx, &target, resource)?;
                    ctx.broker
                        .alter_configs(&target, &changes, request.validate_only)
                })
            };
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
    AlterConfigsResponse::default().with_responses(responses)
}
