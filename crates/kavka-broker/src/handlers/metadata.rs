//! Metadata (key 3): brokers, controller, topics with ids and partitions; auto-creates requested
//! topics when the request allows it and `auto.create.topics.enable` is true.

use kavka_metadata::{MetadataImage, TopicImage};
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kavka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use kavka_protocol::ErrorCode;
use uuid::Uuid;

use super::{
    topic_name, RequestContext, CLUSTER_OPERATIONS_ALL, OPERATIONS_NOT_REQUESTED,
    TOPIC_OPERATIONS_ALL,
};
use crate::controller::{is_internal_topic, validate_topic_name};

fn topic_entry(topic: &TopicImage, authorized_operations: i32) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|(&index, p)| {
            // No leader (its broker fenced): Kafka's LEADER_NOT_AVAILABLE, which clients retry.
            let code = if p.leader < 0 {
                ErrorCode::LEADER_NOT_AVAILABLE
            } else {
                ErrorCode::NONE
            };
            MetadataResponsePartition::default()
                .with_error_code(code.code())
                .with_partition_index(index)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&topic.name)))
        .with_topic_id(topic.topic_id)
        .with_is_internal(is_internal_topic(&topic.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(authorized_operations)
}

fn error_entry(name: Option<&str>, topic_id: Uuid, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code.code())
        .with_name(name.map(topic_name))
        .with_topic_id(topic_id)
        .with_topic_authorized_operations(OPERATIONS_NOT_REQUESTED)
}

/// Handles Metadata.
pub fn handle(ctx: &RequestContext<'_>, request: MetadataRequest) -> MetadataResponse {
    let broker = ctx.broker;
    let version = ctx.version();
    let operations = if request.include_topic_authorized_operations {
        TOPIC_OPERATIONS_ALL
    } else {
        OPERATIONS_NOT_REQUESTED
    };
    // v0: an empty list means every topic; v1+: null means every topic.
    let requested = match request.topics {
        Some(t) if version == 0 && t.is_empty() => None,
        other => other,
    };
    let auto_create = broker.config().auto_create_topics_enable
        && (version < 4 || request.allow_auto_topic_creation);

    let mut image: std::sync::Arc<MetadataImage> = broker.image();
    let topics = match requested {
        None => image.topics().map(|t| topic_entry(t, operations)).collect(),
        Some(list) => {
            let mut out = Vec::with_capacity(list.len());
            for t in list {
                let name = t.name.as_ref().map(|n| n.0.as_str().to_string());
                match name {
                    Some(name) if !name.is_empty() => {
                        if let Some(topic) = image.topic_by_name(&name) {
                            out.push(topic_entry(topic, operations));
                            continue;
                        }
                        if validate_topic_name(&name).is_err() {
                            out.push(error_entry(
                                Some(&name),
                                Uuid::nil(),
                                ErrorCode::INVALID_TOPIC_EXCEPTION,
                            ));
                            continue;
                        }
                        // Internal topics are created by their coordinators with their own
                        // settings, never by a client's Metadata request.
                        if !auto_create
                            || is_internal_topic(&name)
                            || name == crate::controller::CLUSTER_METADATA_TOPIC
                        {
                            out.push(error_entry(
                                Some(&name),
                                Uuid::nil(),
                                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                            ));
                            continue;
                        }
                        match broker.auto_create_topic(&name) {
                            Ok(_) => {
                                image = broker.image();
                                match image.topic_by_name(&name) {
                                    Some(topic) => out.push(topic_entry(topic, operations)),
                                    None => out.push(error_entry(
                                        Some(&name),
                                        Uuid::nil(),
                                        ErrorCode::LEADER_NOT_AVAILABLE,
                                    )),
                                }
                            }
                            Err((code, message)) => {
                                tracing::warn!(topic = %name, %code, %message, "auto-creation refused");
                                out.push(error_entry(Some(&name), Uuid::nil(), code));
                            }
                        }
                    }
                    _ if !t.topic_id.is_nil() => match image.topic_by_id(&t.topic_id) {
                        Some(topic) => out.push(topic_entry(topic, operations)),
                        None => {
                            out.push(error_entry(None, t.topic_id, ErrorCode::UNKNOWN_TOPIC_ID))
                        }
                    },
                    _ => out.push(error_entry(
                        Some(""),
                        Uuid::nil(),
                        ErrorCode::INVALID_TOPIC_EXCEPTION,
                    )),
                }
            }
            out
        }
    };

    let brokers = broker
        .cluster_brokers(ctx.listener)
        .into_iter()
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.map(StrBytes::from_string))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id().to_string())))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_topics(topics)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS_ALL
        } else {
            OPERATIONS_NOT_REQUESTED
        })
}
