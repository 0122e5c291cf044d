//! Every served version of every served API, request and response through the real broker:
//! each response must encode for that version (fields a version lacks left out) and decode on
//! the client side, with no error.

mod common;

use common::*;
use kavka_client::Connection;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kavka_protocol::messages::delete_topics_request::DeleteTopicState;
use kavka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kavka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kavka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kavka_protocol::messages::metadata_request::MetadataRequestTopic;
use kavka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kavka_protocol::messages::*;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use uuid::Uuid;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn topic_id(c: &mut Connection, name: &str) -> Uuid {
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name(name)))
    ]));
    let Response::Metadata(m) = c.send(12, Request::Metadata(req)).await.unwrap() else {
        panic!()
    };
    m.topics[0].topic_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_version_round_trips() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "v", 1).await, 0);
    let id = topic_id(&mut c, "v").await;

    for v in 0..=4 {
        let mut req = ApiVersionsRequest::default();
        if v >= 3 {
            req = req
                .with_client_software_name(s("kavka-tests"))
                .with_client_software_version(s("1.0"));
        }
        let Response::ApiVersions(r) = c.send(v, Request::ApiVersions(req)).await.unwrap() else {
            panic!()
        };
        assert_eq!(r.error_code, 0, "ApiVersions v{v}");
    }

    for v in 0..=13 {
        let mut req = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(topic_name("v"))),
        ]));
        if (8..=10).contains(&v) {
            req = req.with_include_cluster_authorized_operations(true);
        }
        if v >= 8 {
            req = req.with_include_topic_authorized_operations(true);
        }
        let Response::Metadata(r) = c.send(v, Request::Metadata(req)).await.unwrap() else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, 0, "Metadata v{v}");
        assert_eq!(r.topics[0].partitions.len(), 1, "Metadata v{v}");
    }

    for v in 3..=13 {
        let topic = if v >= 13 {
            TopicProduceData::default().with_topic_id(id)
        } else {
            TopicProduceData::default().with_name(topic_name("v"))
        };
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![topic.with_partition_data(vec![
                PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch("v", v as usize, 1))),
            ])]);
        let Response::Produce(r) = c.send(v, Request::Produce(req)).await.unwrap() else {
            panic!()
        };
        let p = &r.responses[0].partition_responses[0];
        assert_eq!(
            (p.error_code, p.base_offset),
            (0, i64::from(v - 3)),
            "Produce v{v}"
        );
    }

    for v in 4..=18 {
        let topic = if v >= 13 {
            FetchTopic::default().with_topic_id(id)
        } else {
            FetchTopic::default().with_topic(topic_name("v"))
        };
        let mut req = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![topic.with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
        if v >= 7 {
            req = req.with_session_epoch(-1);
        }
        let Response::Fetch(r) = c.send(v, Request::Fetch(req)).await.unwrap() else {
            panic!()
        };
        let p = &r.responses[0].partitions[0];
        assert_eq!(
            (r.error_code, p.error_code, p.high_watermark),
            (0, 0, 11),
            "Fetch v{v}"
        );
        assert!(!p.records.as_ref().unwrap().is_empty(), "Fetch v{v}");
    }

    for v in 1..=10 {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name("v"))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(0)
                    .with_timestamp(-1)])]);
        let Response::ListOffsets(r) = c.send(v, Request::ListOffsets(req)).await.unwrap() else {
            panic!()
        };
        let p = &r.topics[0].partitions[0];
        assert_eq!((p.error_code, p.offset), (0, 11), "ListOffsets v{v}");
    }

    for v in 1..=4 {
        let mut req = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("v")),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s("1")),
        ]);
        req = req.with_include_synonyms(true);
        let Response::DescribeConfigs(r) = c.send(v, Request::DescribeConfigs(req)).await.unwrap()
        else {
            panic!()
        };
        assert!(
            r.results
                .iter()
                .all(|x| x.error_code == 0 && !x.configs.is_empty()),
            "DescribeConfigs v{v}"
        );
    }

    for v in 0..=2 {
        let Response::DescribeCluster(r) = c
            .send(
                v,
                Request::DescribeCluster(DescribeClusterRequest::default()),
            )
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (r.error_code, r.brokers.len()),
            (0, 1),
            "DescribeCluster v{v}"
        );
    }

    for v in 2..=7 {
        let name = format!("created-v{v}");
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(1000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(topic_name(&name))
                .with_num_partitions(2)
                .with_replication_factor(1)
                .with_configs(vec![CreatableTopicConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("3600000")))])]);
        let Response::CreateTopics(r) = c.send(v, Request::CreateTopics(req)).await.unwrap() else {
            panic!()
        };
        assert_eq!(r.topics[0].error_code, 0, "CreateTopics v{v}");
    }

    for v in 1..=6 {
        let name = format!("created-v{}", v + 1);
        let req = if v >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(topic_name(&name)))
            ])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![topic_name(&name)])
        };
        let Response::DeleteTopics(r) = c
            .send(v, Request::DeleteTopics(req.with_timeout_ms(1000)))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(r.responses[0].error_code, 0, "DeleteTopics v{v}");
    }
    for v in 0..=1 {
        use kavka_protocol::messages::incremental_alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("v"))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("86400000")))]),
        ]);
        let Response::IncrementalAlterConfigs(r) = c
            .send(v, Request::IncrementalAlterConfigs(req))
            .await
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(r.responses[0].error_code, 0, "IncrementalAlterConfigs v{v}");
    }
    for v in 0..=2 {
        use kavka_protocol::messages::alter_configs_request::{
            AlterConfigsResource, AlterableConfig,
        };
        let req =
            AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("v"))
                .with_configs(vec![AlterableConfig::default()
                    .with_name(s("retention.ms"))
                    .with_value(Some(s("86400000")))])]);
        let Response::AlterConfigs(r) = c.send(v, Request::AlterConfigs(req)).await.unwrap() else {
            panic!()
        };
        assert_eq!(r.responses[0].error_code, 0, "AlterConfigs v{v}");
    }
    for v in 0..=3 {
        use kavka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
        let req =
            CreatePartitionsRequest::default().with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name("v"))
                .with_count(2 + i32::from(v))]);
        let Response::CreatePartitions(r) =
            c.send(v, Request::CreatePartitions(req)).await.unwrap()
        else {
            panic!()
        };
        assert_eq!(r.results[0].error_code, 0, "CreatePartitions v{v}");
    }
    for v in 0..=2 {
        use kavka_protocol::messages::delete_records_request::{
            DeleteRecordsPartition, DeleteRecordsTopic,
        };
        let req = DeleteRecordsRequest::default().with_topics(vec![DeleteRecordsTopic::default()
            .with_name(topic_name("v"))
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(0)
                .with_offset(1 + i64::from(v))])]);
        let Response::DeleteRecords(r) = c.send(v, Request::DeleteRecords(req)).await.unwrap()
        else {
            panic!()
        };
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (p.error_code, p.low_watermark),
            (0, 1 + i64::from(v)),
            "DeleteRecords v{v}"
        );
    }
    for v in 1..=4 {
        let req = DescribeLogDirsRequest::default().with_topics(None);
        let Response::DescribeLogDirs(r) = c.send(v, Request::DescribeLogDirs(req)).await.unwrap()
        else {
            panic!()
        };
        assert!(
            r.results[0].topics.iter().any(|t| t.name.0.as_str() == "v"),
            "DescribeLogDirs v{v}"
        );
    }
    assert!(!b.log().contains("does not encode"), "{}", b.log());
}
