//! CreatePartitions (key 37): raises a topic's partition count (a decrease is refused, as in
//! Kafka); the new partitions are metadata records, their logs appear when published.

use std::collections::HashMap;

use kavka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kavka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kavka_protocol::ErrorCode;

use super::{message, RequestContext};

/// Handles CreatePartitions.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut count: HashMap<String, usize> = HashMap::new();
    for t in &request.topics {
        *count.entry(t.name.0.as_str().to_string()).or_default() += 1;
    }
    let results = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.0.as_str();
            let assignments: Option<Vec<Vec<i32>>> = topic.assignments.as_ref().map(|a| {
                a.iter()
                    .map(|x| x.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            });
            let outcome = if count[name] > 1 {
                Err((
                    ErrorCode::INVALID_REQUEST,
                    format!("Duplicate topic {name} in the request"),
                ))
            } else {
                ctx.broker.create_partitions(
                    name,
                    topic.count,
                    assignments.as_deref(),
                    request.validate_only,
                )
            };
            let result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
            match outcome {
                Ok(()) => result,
                Err((code, text)) => result
                    .with_error_code(code.code())
                    .with_error_message(message(text)),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}
