//! DescribeCluster (key 60): the cluster's live brokers (and with v2's
//! `include_fenced_brokers`, the fenced ones marked `is_fenced`, KIP-1073) and, as controller,
//! this node, which forwards controller requests to the quorum's leader (as a KRaft broker
//! names a live broker).

use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kavka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kavka_protocol::ErrorCode;

use super::{RequestContext, CLUSTER_OPERATIONS_ALL, OPERATIONS_NOT_REQUESTED};

/// `endpoint_type` value asking for brokers (v1+).
const ENDPOINT_TYPE_BROKERS: i8 = 1;

/// Handles DescribeCluster.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let broker = ctx.broker;
    let response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id().to_string()))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_endpoint_type(ENDPOINT_TYPE_BROKERS)
        .with_cluster_authorized_operations(if request.include_cluster_authorized_operations {
            CLUSTER_OPERATIONS_ALL
        } else {
            OPERATIONS_NOT_REQUESTED
        });
    if ctx.version() >= 1 && request.endpoint_type != ENDPOINT_TYPE_BROKERS {
        return response
            .with_error_code(ErrorCode::UNSUPPORTED_ENDPOINT_TYPE.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Only endpoint type 1 (brokers) is served",
            )));
    }
    // KIP-1073: v2 lists the fenced brokers too when asked, marked so.
    let fenced = if ctx.version() >= 2 && request.include_fenced_brokers {
        broker.fenced_brokers(ctx.listener)
    } else {
        Vec::new()
    };
    let live = broker
        .cluster_brokers(ctx.listener)
        .into_iter()
        .map(|b| (b, false));
    let brokers = live
        .chain(fenced.into_iter().map(|b| (b, true)))
        .map(|(b, is_fenced)| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(b.id))
                .with_host(StrBytes::from_string(b.host))
                .with_port(i32::from(b.port))
                .with_rack(b.rack.map(StrBytes::from_string))
                .with_is_fenced(is_fenced)
        })
        .collect();
    response.with_brokers(brokers)
}
