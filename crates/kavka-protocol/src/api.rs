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
            (Metadata, MetadataRequest, MetadataResponse),
            (ApiVersions, ApiVersionsRequest, ApiVersionsResponse),
            (CreateTopics, CreateTopicsRequest, CreateTopicsResponse),
            (DeleteTopics, DeleteTopicsRequest, DeleteTopicsResponse),
            (DescribeConfigs, DescribeConfigsRequest, DescribeConfigsResponse),
            (DescribeCluster, DescribeClusterRequest, DescribeClusterResponse),
            (AlterConfigs, AlterConfigsRequest, AlterConfigsResponse),
            (IncrementalAlterConfigs, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse),
            (CreatePartitions, CreatePartitionsRequest, CreatePartitionsResponse),
            (DeleteRecords, DeleteRecordsRequest, DeleteRecordsResponse),
            (DescribeLogDirs, DescribeLogDirsRequest, DescribeLogDirsResponse),
        }
    };
}
pub(crate) use for_each_served_api;

/// The codec's version range (Kafka 4.1) for an API.
pub fn codec_versions(api_key: ApiKey) -> (i16, i16) {
    let r = api_key.valid_versions();
    (r.min, r.max)
}
