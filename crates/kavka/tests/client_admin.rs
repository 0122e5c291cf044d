//! kavka-client against a real broker: Client bootstrap and errors, and the Admin round trip
//! over topics, configs, partitions, offsets and records.

mod common;

use std::time::{Duration, Instant};

use common::TestBroker;
use kavka_client::{
    Admin, AlterConfigOp, AlterOpType, Client, ClientConfig, ClientError, ConfigResource,
    ConfigSource, ErrorCode, OffsetSpec,
};

fn config(broker: &TestBroker) -> ClientConfig {
    ClientConfig {
        bootstrap_servers: vec![broker.addr.to_string()],
        client_id: "client-admin-test".into(),
        request_timeout_ms: 10_000,
        ..ClientConfig::default()
    }
}

#[tokio::test]
async fn unreachable_bootstrap_fails_fast_with_a_clear_error() {
    let started = Instant::now();
    let err = Client::connect(ClientConfig {
        bootstrap_servers: vec!["127.0.0.1:9".into()],
        request_timeout_ms: 2_000,
        ..ClientConfig::default()
    })
    .await
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(err, ClientError::Unreachable(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("cannot reach any bootstrap server (127.0.0.1:9)"),
        "{err}"
    );
    let empty = Client::connect(ClientConfig::default()).await.unwrap_err();
    assert!(matches!(empty, ClientError::Config(_)), "{empty:?}");
}

#[tokio::test]
async fn client_learns_brokers_and_versions() {
    let broker = TestBroker::start(&[]);
    let client = Client::connect(config(&broker)).await.unwrap();
    let brokers = client.brokers();
    assert_eq!(brokers.len(), 1);
    assert_eq!(brokers[0].port, i32::from(broker.addr.port()));
    let versions = client.api_versions(brokers[0].node_id).await.unwrap();
    let produce = versions.iter().find(|v| v.name == "Produce").unwrap();
    assert_eq!((produce.api_key, produce.min, produce.max), (0, 3, 13));
    assert_eq!(produce.usable(), Some(13));
    let m = client.metadata(None).await.unwrap();
    assert!(m.cluster_id.is_some());
    assert_eq!(m.brokers, brokers);
}

#[tokio::test]
async fn admin_topic_round_trip() {
    let broker = TestBroker::start(&["num.partitions=2"]);
    let admin = Admin::new(Client::connect(config(&broker)).await.unwrap());

    admin
        .create_topic(
            "orders",
            3,
            1,
            &[("retention.ms".into(), "3600000".into())],
            false,
        )
        .await
        .unwrap();
    admin
        .create_topic("defaults", -1, -1, &[], false)
        .await
        .unwrap();
    admin.create_topic("dry", 1, 1, &[], true).await.unwrap();
    let err = admin
        .create_topic("orders", 1, 1, &[], false)
        .await
        .unwrap_err();
    assert_eq!(err.kafka_code(), Some(ErrorCode::TOPIC_ALREADY_EXISTS));
    assert!(
        err.to_string().starts_with("TOPIC_ALREADY_EXISTS: "),
        "{err}"
    );

    assert_eq!(
        admin.list_topics(false).await.unwrap(),
        vec!["defaults", "orders"]
    );

    let described = admin
        .describe_topics(&["orders".into(), "defaults".into(), "missing".into()])
        .await
        .unwrap();
    assert_eq!(described[0].name, "orders");
    assert_eq!(described[0].partitions.len(), 3);
    assert!(!described[0].topic_id.is_nil());
    let id = described[0].topic_id_string();
    assert!(broker.log().contains(&format!("topic_id={id}")), "{id}");
    assert_eq!(described[0].partitions[2].replicas.len(), 1);
    assert_eq!(described[1].partitions.len(), 2, "num.partitions default");
    assert_eq!(
        described[2].error.as_ref().map(|e| e.code),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
    );

    // Configs: the topic's own value, then changed, then deleted back to the default.
    let topic = ConfigResource::Topic("orders".into());
    let entries = admin.describe_configs(&topic, true).await.unwrap();
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DYNAMIC_TOPIC_CONFIG);
    assert!(!retention.synonyms.is_empty());
    admin
        .incremental_alter_configs(
            &topic,
            &[
                AlterConfigOp {
                    name: "retention.ms".into(),
                    value: None,
                    op: AlterOpType::Delete,
                },
                AlterConfigOp {
                    name: "cleanup.policy".into(),
                    value: Some("compact".into()),
                    op: AlterOpType::Set,
                },
            ],
        )
        .await
        .unwrap();
    let entries = admin.describe_configs(&topic, false).await.unwrap();
    let policy = entries.iter().find(|e| e.name == "cleanup.policy").unwrap();
    assert_eq!(policy.value.as_deref(), Some("compact"));
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_ne!(retention.source, ConfigSource::DYNAMIC_TOPIC_CONFIG);
    let bad = admin
        .incremental_alter_configs(
            &topic,
            &[AlterConfigOp {
                name: "no.such.config".into(),
                value: Some("1".into()),
                op: AlterOpType::Set,
            }],
        )
        .await
        .unwrap_err();
    assert!(bad.kafka_code().is_some(), "{bad:?}");
    let node = admin.client().brokers()[0].node_id;
    let broker_entries = admin
        .describe_configs(&ConfigResource::Broker(node.to_string()), false)
        .await
        .unwrap();
    assert!(broker_entries
        .iter()
        .any(|e| e.name == "log.retention.check.interval.ms"));

    admin.create_partitions("orders", 5).await.unwrap();
    let described = admin.describe_topics(&["orders".into()]).await.unwrap();
    assert_eq!(described[0].partitions.len(), 5);
    let shrink = admin.create_partitions("orders", 2).await.unwrap_err();
    assert_eq!(shrink.kafka_code(), Some(ErrorCode::INVALID_PARTITIONS));

    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers.len(), 1);
    assert!(!cluster.cluster_id.is_empty());

    admin.delete_topic("orders").await.unwrap();
    admin.delete_topic("defaults").await.unwrap();
    let gone = admin.delete_topic("orders").await.unwrap_err();
    assert_eq!(
        gone.kafka_code(),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
    );
    assert!(admin.list_topics(false).await.unwrap().is_empty());
}

#[tokio::test]
async fn admin_offsets_and_delete_records() {
    let broker = TestBroker::start(&[]);
    let admin = Admin::new(Client::connect(config(&broker)).await.unwrap());
    admin
        .create_topic("events", 2, 1, &[], false)
        .await
        .unwrap();
    let mut conn = broker.connect().await;
    for i in 0..3 {
        let (err, _) =
            common::produce(&mut conn, "events", 0, -1, common::batch("v", i * 4, 4)).await;
        assert_eq!(err, 0);
    }
    let parts = vec![("events".to_string(), 0), ("events".to_string(), 1)];
    let latest = admin
        .list_offsets(&parts, OffsetSpec::Latest)
        .await
        .unwrap();
    assert_eq!(
        latest.iter().map(|o| o.offset).collect::<Vec<_>>(),
        vec![12, 0]
    );
    let earliest = admin
        .list_offsets(&parts, OffsetSpec::Earliest)
        .await
        .unwrap();
    assert_eq!(
        earliest.iter().map(|o| o.offset).collect::<Vec<_>>(),
        vec![0, 0]
    );
    let max_ts = admin
        .list_offsets(&parts[..1], OffsetSpec::MaxTimestamp)
        .await
        .unwrap();
    assert!(max_ts[0].offset >= 0 && max_ts[0].timestamp > 0);
    let by_time = admin
        .list_offsets(&parts[..1], OffsetSpec::Timestamp(0))
        .await
        .unwrap();
    assert_eq!(by_time[0].offset, 0);

    let deleted = admin
        .delete_records(&[("events".into(), 0, 5), ("events".into(), 1, -1)])
        .await
        .unwrap();
    assert_eq!(deleted[0].result, Ok(5));
    assert_eq!(deleted[1].result, Ok(0));
    let earliest = admin
        .list_offsets(&parts, OffsetSpec::Earliest)
        .await
        .unwrap();
    assert_eq!(earliest[0].offset, 5);
    let beyond = admin
        .delete_records(&[("events".into(), 0, 100)])
        .await
        .unwrap();
    assert_eq!(
        beyond[0].result.as_ref().unwrap_err().code,
        ErrorCode::OFFSET_OUT_OF_RANGE
    );

    let missing = admin
        .list_offsets(&[("nope".into(), 0)], OffsetSpec::Latest)
        .await
        .unwrap();
    assert_eq!(
        missing[0].error.as_ref().map(|e| e.code),
        Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
    );
}
