//! DeleteTopics (key 20): by name (all versions) or by id (v6); the topic's records are removed
//! from metadata, then its partitions' data from disk.

use kavka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kavka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::{message, topic_name, RequestContext};

/// Handles DeleteTopics.
pub fn handle(ctx: &RequestContext<'_>, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let broker = ctx.broker;
    let wanted: Vec<(Option<String>, Uuid)> = if ctx.version() >= 6 {
        request
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.as_ref().map(|n| n.0.as_str().to_string()),
                    t.topic_id,
                )
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.0.as_str().to_string()), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(wanted.len());
    for (name, id) in wanted {
        let result = DeletableTopicResult::default()
            .with_name(name.as_deref().map(topic_name))
            .with_topic_id(id);
        let image = broker.image();
        let target = match (&name, id.is_nil()) {
            (Some(_), false) => Err((
                ErrorCode::INVALID_REQUEST,
                "Give a topic name or a topic id, not both".to_string(),
            )),
            (Some(n), true) => image
                .topic_by_name(n)
                .map(|t| (t.name.clone(), t.topic_id))
                .ok_or((ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, String::new())),
            (None, false) => image
                .topic_by_id(&id)
                .map(|t| (t.name.clone(), t.topic_id))
                .ok_or((ErrorCode::UNKNOWN_TOPIC_ID, String::new())),
            (None, true) => Err((
                ErrorCode::INVALID_REQUEST,
                "Neither topic name nor topic id given".to_string(),
            )),
        };
        let outcome =
            target.and_then(|(n, topic_id)| broker.delete_topic(&topic_id).map(|()| (n, topic_id)));
        responses.push(match outcome {
            Ok((n, topic_id)) => result
                .with_name(Some(topic_name(&n)))
                .with_topic_id(topic_id),
            Err((code, text)) => result
                .with_error_code(code.code())
                .with_error_message(message(text)),
        });
    }
    DeleteTopicsResponse::default().with_responses(responses)
}
