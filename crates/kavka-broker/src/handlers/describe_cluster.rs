//! DescribeCluster (key 60): this node as the cluster's only broker and controller.

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
    let (host, port) = broker.advertised();
    let node = BrokerId(broker.config().node_id);
    let response = DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id().to_string()))
        .with_controller_id(node)
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
    response.with_brokers(vec![DescribeClusterBroker::default()
        .with_broker_id(node)
        .with_host(StrBytes::from_string(host))
        .with_port(i32::from(port))])
}
