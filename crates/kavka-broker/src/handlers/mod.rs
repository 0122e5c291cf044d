//! One file per API. This table maps each served API to its handler and the versions it
//! serves; ApiVersions advertises exactly this table.

use std::net::SocketAddr;

use kavka_protocol::api::ApiKey;
use kavka_protocol::request::{Request, RequestHeader};
use kavka_protocol::response::Response;

use crate::broker::Broker;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod alter_configs;
pub mod alter_partition;
pub mod alter_partition_reassignments;
pub mod api_versions;
pub mod broker_heartbeat;
pub mod broker_registration;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod describe_quorum;
pub mod describe_transactions;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
mod fetch_plan;
mod fetch_quiet;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod list_partition_reassignments;
pub mod list_transactions;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
mod produce_checks;
pub mod produce_wait;
pub mod sync_group;
pub mod txn_offset_commit;
pub mod unregister_broker;
pub mod write_txn_markers;

/// What a handler knows about the request besides its body.
#[derive(Debug)]
pub struct RequestContext<'a> {
    /// The node.
    pub broker: &'a Broker,
    /// Header of the request.
    pub header: &'a RequestHeader,
    /// Client address.
    pub peer: SocketAddr,
    /// The listener the request came through: Metadata, DescribeCluster and FindCoordinator
    /// answer with the brokers' endpoints on it.
    pub listener: &'a str,
}

impl RequestContext<'_> {
    /// Version of the request.
    pub fn version(&self) -> i16 {
        self.header.api_version
    }
}

/// Served APIs and version ranges (within the Kafka 4.1 codec's ranges).
pub const SERVED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 13),
    (ApiKey::Fetch, 4, 18),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ApiVersions, 0, api_versions::VERSION_MAX),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::DescribeCluster, 0, 2),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::UnregisterBroker, 0, 0),
    (ApiKey::BrokerRegistration, 0, 4),
    (ApiKey::BrokerHeartbeat, 0, 1),
    (ApiKey::AlterPartition, 2, 3),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 1),
    (ApiKey::ListPartitionReassignments, 0, 0),
];

/// Whether this version of the API is served.
pub fn serves(api_key: ApiKey, version: i16) -> bool {
    SERVED
        .iter()
        .any(|&(k, min, max)| k == api_key && (min..=max).contains(&version))
}

/// What the connection does after a handler ran.
#[derive(Debug)]
pub enum Outcome {
    /// Send this response.
    Respond(Response),
    /// Send this Fetch response with the records still in the segment files.
    RespondFetch(kavka_protocol::messages::FetchResponse, fetch::FetchReads),
    /// Send nothing (acks=0 produce that succeeded).
    Silent,
    /// Close the connection (acks=0 produce that failed: the only way to tell the client).
    Close(&'static str),
}

/// Runs a handler that may block on disk (fsync, file creation, record decoding) so that the
/// runtime moves other connections' tasks to another worker meanwhile.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Runs the handler of a decoded request.
pub async fn handle(ctx: &RequestContext<'_>, request: Request) -> Outcome {
    Outcome::Respond(match request {
        Request::ApiVersions(r) => Response::ApiVersions(api_versions::handle(ctx, r)),
        Request::Metadata(r) => Response::Metadata(blocking(|| metadata::handle(ctx, r))),
        Request::CreateTopics(r) => {
            Response::CreateTopics(blocking(|| create_topics::handle(ctx, r)))
        }
        Request::DeleteTopics(r) => {
            Response::DeleteTopics(blocking(|| delete_topics::handle(ctx, r)))
        }
        // Page-cache writes are quick; appends that may fsync or re-compress step aside
        // inside the handler (see `produce::append`).
        Request::Produce(r) => {
            let timeout_ms = r.timeout_ms;
            let (outcome, waits) = produce::handle(ctx, r);
            if waits.is_empty() {
                return outcome;
            }
            return produce_wait::complete(outcome, waits, timeout_ms).await;
        }
        Request::Fetch(r) => {
            let (response, reads) = fetch::handle(ctx, r).await;
            return Outcome::RespondFetch(response, reads);
        }
        Request::ListOffsets(r) => Response::ListOffsets(blocking(|| list_offsets::handle(ctx, r))),
        Request::OffsetForLeaderEpoch(r) => {
            Response::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(ctx, r))
        }
        Request::DescribeCluster(r) => Response::DescribeCluster(describe_cluster::handle(ctx, r)),
        Request::DescribeQuorum(r) => Response::DescribeQuorum(describe_quorum::handle(ctx, r)),
        Request::UnregisterBroker(r) => {
            Response::UnregisterBroker(blocking(|| unregister_broker::handle(ctx, r)))
        }
        Request::AlterPartitionReassignments(r) => {
            Response::AlterPartitionReassignments(blocking(|| {
                alter_partition_reassignments::handle(ctx, r)
            }))
        }
        Request::ListPartitionReassignments(r) => {
            Response::ListPartitionReassignments(list_partition_reassignments::handle(ctx, r))
        }
        Request::ElectLeaders(r) => {
            Response::ElectLeaders(blocking(|| elect_leaders::handle(ctx, r)))
        }
        Request::AlterPartition(r) => {
            Response::AlterPartition(blocking(|| alter_partition::handle(ctx, r)))
        }
        Request::BrokerRegistration(r) => {
            Response::BrokerRegistration(blocking(|| broker_registration::handle(ctx, r)))
        }
        // Blocks only when it asks for a controlled shutdown (a metadata commit).
        Request::BrokerHeartbeat(r) => {
            Response::BrokerHeartbeat(blocking(|| broker_heartbeat::handle(ctx, r)))
        }
        Request::DescribeConfigs(r) => Response::DescribeConfigs(describe_configs::handle(ctx, r)),
        Request::AlterConfigs(r) => {
            Response::AlterConfigs(blocking(|| alter_configs::handle(ctx, r)))
        }
        Request::IncrementalAlterConfigs(r) => Response::IncrementalAlterConfigs(blocking(|| {
            incremental_alter_configs::handle(ctx, r)
        })),
        Request::CreatePartitions(r) => {
            Response::CreatePartitions(blocking(|| create_partitions::handle(ctx, r)))
        }
        Request::DeleteRecords(r) => {
            Response::DeleteRecords(blocking(|| delete_records::handle(ctx, r)))
        }
        Request::DescribeLogDirs(r) => Response::DescribeLogDirs(describe_log_dirs::handle(ctx, r)),
        Request::FindCoordinator(r) => {
            Response::FindCoordinator(blocking(|| find_coordinator::handle(ctx, r)))
        }
        // JoinGroup and SyncGroup wait for the other members.
        Request::JoinGroup(r) => Response::JoinGroup(join_group::handle(ctx, r).await),
        Request::SyncGroup(r) => Response::SyncGroup(sync_group::handle(ctx, r).await),
        Request::Heartbeat(r) => Response::Heartbeat(heartbeat::handle(ctx, r)),
        Request::LeaveGroup(r) => Response::LeaveGroup(leave_group::handle(ctx, r)),
        Request::OffsetCommit(r) => Response::OffsetCommit(offset_commit::handle(ctx, r)),
        // OffsetFetch, DescribeGroups, ListGroups and ListTransactions answer committed
        // state: they may wait for the ISR.
        Request::OffsetFetch(r) => Response::OffsetFetch(offset_fetch::handle(ctx, r).await),
        Request::DescribeGroups(r) => {
            Response::DescribeGroups(describe_groups::handle(ctx, r).await)
        }
        Request::ListGroups(r) => Response::ListGroups(list_groups::handle(ctx, r).await),
        Request::DeleteGroups(r) => Response::DeleteGroups(delete_groups::handle(ctx, r)),
        Request::OffsetDelete(r) => Response::OffsetDelete(offset_delete::handle(ctx, r)),
        // A new block of ids is a metadata commit (fsync).
        // Transaction requests append to __transaction_state (and may fsync).
        Request::AddPartitionsToTxn(r) => {
            Response::AddPartitionsToTxn(blocking(|| add_partitions_to_txn::handle(ctx, r)))
        }
        Request::AddOffsetsToTxn(r) => {
            Response::AddOffsetsToTxn(blocking(|| add_offsets_to_txn::handle(ctx, r)))
        }
        Request::EndTxn(r) => Response::EndTxn(blocking(|| end_txn::handle(ctx, r))),
        Request::TxnOffsetCommit(r) => {
            Response::TxnOffsetCommit(blocking(|| txn_offset_commit::handle(ctx, r)))
        }
        Request::WriteTxnMarkers(r) => {
            Response::WriteTxnMarkers(blocking(|| write_txn_markers::handle(ctx, r)))
        }
        Request::DescribeTransactions(r) => {
            Response::DescribeTransactions(describe_transactions::handle(ctx, r))
        }
        Request::ListTransactions(r) => {
            Response::ListTransactions(list_transactions::handle(ctx, r).await)
        }
        Request::DescribeProducers(r) => {
            Response::DescribeProducers(describe_producers::handle(ctx, r))
        }
        Request::InitProducerId(r) => {
            Response::InitProducerId(blocking(|| init_producer_id::handle(ctx, r)))
        }
    })
}

/// `*_authorized_operations` when the client did not ask for them.
pub const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// Bit set of Kafka ACL operations (READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8,
/// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11): with no authorizer, every operation is allowed.
pub const TOPIC_OPERATIONS_ALL: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// Cluster operations allowed with no authorizer (CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9,
/// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12).
pub const CLUSTER_OPERATIONS_ALL: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

/// The target of a config resource (`resource_type` 2 = topic, 4 = broker).
pub fn config_target(
    resource_type: i8,
    name: &str,
) -> Result<crate::controller::ConfigTarget, crate::controller::Refusal> {
    use crate::controller::ConfigTarget;
    match resource_type {
        describe_configs::RESOURCE_TOPIC => Ok(ConfigTarget::Topic(name.to_string())),
        describe_configs::RESOURCE_BROKER => Ok(ConfigTarget::Broker(name.to_string())),
        other => Err((
            kavka_protocol::ErrorCode::INVALID_REQUEST,
            format!("Config resource type {other} is not supported"),
        )),
    }
}

/// Runs a config change per resource of an AlterConfigs-style request: a resource named twice
/// is refused, each other one gets its target, its changes (`changes`) and a commit. Returns
/// each resource's outcome, in request order.
pub fn alter_config_resources<T>(
    ctx: &RequestContext<'_>,
    resources: &[T],
    id: impl Fn(&T) -> (i8, &str),
    changes: impl Fn(
        &crate::controller::ConfigTarget,
        &T,
    ) -> Result<Vec<crate::controller::ConfigChange>, crate::controller::Refusal>,
    validate_only: bool,
) -> Vec<Result<(), crate::controller::Refusal>> {
    let mut count = std::collections::HashMap::new();
    for r in resources {
        *count.entry(id(r)).or_insert(0) += 1;
    }
    resources
        .iter()
        .map(|resource| {
            let (resource_type, name) = id(resource);
            if count[&(resource_type, name)] > 1 {
                return Err((
                    kavka_protocol::ErrorCode::INVALID_REQUEST,
                    format!("Duplicate resource {name} in the request"),
                ));
            }
            let target = config_target(resource_type, name)?;
            let changes = changes(&target, resource)?;
            ctx.broker.alter_configs(&target, &changes, validate_only)
        })
        .collect()
}

/// A topic name for a response.
pub fn topic_name(name: &str) -> kavka_protocol::messages::TopicName {
    kavka_protocol::messages::TopicName(kavka_protocol::codec::StrBytes::from_string(
        name.to_string(),
    ))
}

/// An optional error message for a response.
pub fn message(text: impl Into<String>) -> Option<kavka_protocol::codec::StrBytes> {
    let text = text.into();
    (!text.is_empty()).then(|| kavka_protocol::codec::StrBytes::from_string(text))
}

/// The error for partition `index` of `topic` when this node does not host it: the partition
/// exists and another broker leads it (NOT_LEADER_OR_FOLLOWER, so the client refreshes its
/// metadata), or `missing` when it does not exist.
pub(crate) fn unhosted(
    topic: Option<&kavka_metadata::TopicImage>,
    index: i32,
    missing: kavka_protocol::ErrorCode,
) -> kavka_protocol::ErrorCode {
    match topic {
        Some(t) if t.partitions.contains_key(&index) => {
            kavka_protocol::ErrorCode::NOT_LEADER_OR_FOLLOWER
        }
        _ => missing,
    }
}

/// A request's `current_leader_epoch` against the partition's (KIP-320): -1 skips the check;
/// an older one is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
pub(crate) fn check_leader_epoch(
    requested: i32,
    partition: &crate::replica_manager::Partition,
) -> Result<(), kavka_protocol::ErrorCode> {
    let current = partition.leader_epoch();
    match requested {
        r if r < 0 || r == current => Ok(()),
        r if r < current => Err(kavka_protocol::ErrorCode::FENCED_LEADER_EPOCH),
        _ => Err(kavka_protocol::ErrorCode::UNKNOWN_LEADER_EPOCH),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_ranges_lie_within_the_codec() {
        for &(key, min, max) in SERVED {
            let (cmin, cmax) = kavka_protocol::api::codec_versions(key);
            assert!(
                cmin <= min && max <= cmax,
                "{key:?} {min}-{max} vs codec {cmin}-{cmax}"
            );
        }
    }
}
