//! The APIs Kavka decodes and encodes, and the codec's version ranges.
//!
//! [`for_each_served_api!`] lists (variant, request type, response type) for every API the
//! broker serves; [`crate::request::Request`] and [`crate::response::Response`] are generated
//! from it. Adding an API starts here.

pub use proto_kafka::messages::ApiKey;

/// Calls `$m!` with the list of served APIs.
macro_rules! for_each_served_api {
    ($m:ident) => {
        $m! {
            (Produce, ProduceRequest, ProduceResponse),
            (Fetch, FetchRequest, FetchResponse),
            (ListOffsets, ListOffsetsRequest, ListOffsetsResponse),
            (OffsetForLeaderEpoch, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse),
            (Metadata, MetadataRequest, MetadataResponse),
            (ApiVersions, ApiVersionsRequest, ApiVersionsResponse),
            (CreateTopics, CreateTopicsRequest, CreateTopicsResponse),
            (DeleteTopics, DeleteTopicsRequest, DeleteTopicsResponse),
            (DescribeConfigs, DescribeConfigsRequest, DescribeConfigsResponse),
            (DescribeCluster, DescribeClusterRequest, DescribeClusterResponse),
            (DescribeQuorum, DescribeQuorumRequest, DescribeQuorumResponse),
            (AlterConfigs, AlterConfigsRequest, AlterConfigsResponse),
            (IncrementalAlterConfigs, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse),
            (CreatePartitions, CreatePartitionsRequest, CreatePartitionsResponse),
            (DeleteRecords, DeleteRecordsRequest, DeleteRecordsResponse),
            (DescribeLogDirs, DescribeLogDirsRequest, DescribeLogDirsResponse),
            (FindCoordinator, FindCoordinatorRequest, FindCoordinatorResponse),
            (JoinGroup, JoinGroupRequest, JoinGroupResponse),
            (SyncGroup, SyncGroupRequest, SyncGroupResponse),
            (Heartbeat, HeartbeatRequest, HeartbeatResponse),
            (LeaveGroup, LeaveGroupRequest, LeaveGroupResponse),
            (OffsetCommit, OffsetCommitRequest, OffsetCommitResponse),
            (OffsetFetch, OffsetFetchRequest, OffsetFetchResponse),
            (DescribeGroups, DescribeGroupsRequest, DescribeGroupsResponse),
            (ListGroups, ListGroupsRequest, ListGroupsResponse),
            (DeleteGroups, DeleteGroupsRequest, DeleteGroupsResponse),
            (OffsetDelete, OffsetDeleteRequest, OffsetDeleteResponse),
            (InitProducerId, InitProducerIdRequest, InitProducerIdResponse),
            (DescribeProducers, DescribeProducersRequest, DescribeProducersResponse),
            (AddPartitionsToTxn, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse),
            (AddOffsetsToTxn, AddOffsetsToTxnRequest, AddOffsetsToTxnResponse),
            (EndTxn, EndTxnRequest, EndTxnResponse),
            (TxnOffsetCommit, TxnOffsetCommitRequest, TxnOffsetCommitResponse),
            (WriteTxnMarkers, WriteTxnMarkersRequest, WriteTxnMarkersResponse),
            (DescribeTransactions, DescribeTransactionsRequest, DescribeTransactionsResponse),
            (ListTransactions, ListTransactionsRequest, ListTransactionsResponse),
            (UnregisterBroker, UnregisterBrokerRequest, UnregisterBrokerResponse),
            (BrokerRegistration, BrokerRegistrationRequest, BrokerRegistrationResponse),
            (BrokerHeartbeat, BrokerHeartbeatRequest, BrokerHeartbeatResponse),
            (AlterPartition, AlterPartitionRequest, AlterPartitionResponse),
            (ElectLeaders, ElectLeadersRequest, ElectLeadersResponse),
            (AlterPartitionReassignments, AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse),
            (ListPartitionReassignments, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse),
        }
    };
}
pub(crate) use for_each_served_api;

/// The versions the codec can decode requests and encode responses of, for an API: the
/// intersection of the request and response types' ranges (the generated types may lag the
/// API key's own range: OffsetCommit/OffsetFetch requests stop at v9 in proto-kafka 0.22).
pub fn codec_versions(api_key: ApiKey) -> (i16, i16) {
    macro_rules! ranges {
        ($( ($variant:ident, $req:ident, $resp:ident) ),* $(,)?) => {
            match api_key {
                $( ApiKey::$variant => {
                    use proto_kafka::protocol::Message;
                    let (req, resp) = (
                        proto_kafka::messages::$req::VERSIONS,
                        proto_kafka::messages::$resp::VERSIONS,
                    );
                    (req.min.max(resp.min), req.max.min(resp.max))
                } )*
                _ => {
                    let r = api_key.valid_versions();
                    (r.min, r.max)
                }
            }
        };
    }
    for_each_served_api!(ranges)
}
