//! AlterConfigs (key 33), the older whole-set form: the resource's configs become exactly the
//! ones given; every other override of it is removed.

use std::collections::HashSet;

use kavka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kavka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kavka_protocol::ErrorCode;

use super::{alter_config_resources, message, RequestContext};
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
    AlterConfigsResponse::default().with_responses(responses)
}
