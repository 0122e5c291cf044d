//! WriteTxnMarkers (v1): write COMMIT/ABORT markers to partitions — how a transaction
//! coordinator ends a transaction on the partitions' leader. This node's own coordinator writes
//! its markers through the same path (`txn_coordinator::markers::write_marker`).

use kavka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kavka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::RequestContext;
use crate::txn_coordinator::markers::{write_marker, Marker};

/// Handles WriteTxnMarkers.
pub fn handle(
    ctx: &RequestContext<'_>,
    request: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let markers = request
        .markers
        .into_iter()
        .map(|m| {
            let topics = m
                .topics
                .into_iter()
                .map(|t| {
                    let partitions = t
                        .partition_indexes
                        .iter()
                        .map(|&p| {
                            let marker = Marker {
                                topic: t.name.0.as_str(),
                                partition: p,
                                producer_id: m.producer_id.0,
                                epoch: m.producer_epoch,
                                commit: m.transaction_result,
                                coordinator_epoch: m.coordinator_epoch,
                            };
                            let code = write_marker(ctx.broker, &marker);
                            WritableTxnMarkerPartitionResult::default()
                                .with_partition_index(p)
                                .with_error_code(code.code())
                        })
                        .collect();
                    WritableTxnMarkerTopicResult::default()
                        .with_name(t.name)
                        .with_partitions(partitions)
                })
                .collect();
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics)
        })
        .collect();
    WriteTxnMarkersResponse::default().with_markers(markers)
}
