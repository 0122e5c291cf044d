//! Topic configuration at run time, CreatePartitions, DeleteRecords, DescribeLogDirs, retention
//! and compaction, over the wire against a real `kavka server`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use kavka_client::Connection;
use kavka_protocol::batch::{BatchIter, Compression};
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kavka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kavka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kavka_protocol::messages::*;
use kavka_protocol::records::BatchBuilder;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn set_topic_config(c: &mut Connection, topic: &str, key: &str, value: Option<&str>) -> i16 {
    let op = if value.is_some() { 0 } else { 1 };
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(topic))
            .with_configs(vec![AlterableConfig::default()
                .with_name(s(key))
                .with_config_operation(op)
                .with_value(value.map(s))]),
    ]);
    let Response::IncrementalAlterConfigs(r) = c
        .send(1, Request::IncrementalAlterConfigs(req))
        .await
        .unwrap()
    else {
        panic!()
    };
    r.responses[0].error_code
}

async fn earliest(c: &mut Connection, topic: &str) -> i64 {
    use kavka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let req = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-2)])]);
    let Response::ListOffsets(r) = c.send(7, Request::ListOffsets(req)).await.unwrap() else {
        panic!()
    };
    r.topics[0].partitions[0].offset
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_partitions_delete_records_and_recompression() {
    let mut b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "t", 2).await, 0);

    // Bad names, types and values change nothing.
    assert_eq!(
        set_topic_config(&mut c, "t", "retention.ms", Some("soon")).await,
        40
    );
    assert_eq!(
        set_topic_config(&mut c, "t", "no.such.thing", Some("1")).await,
        40
    );
    assert_eq!(
        set_topic_config(&mut c, "nope", "retention.ms", Some("1")).await,
        3
    );
    // compression.type=gzip: batches in another codec are stored re-compressed.
    assert_eq!(
        set_topic_config(&mut c, "t", "compression.type", Some("gzip")).await,
        0
    );
    let mut lz4 = BatchBuilder::new(Compression::Lz4);
    for i in 0..10 {
        lz4.append(now(), Some(b"k"), Some(format!("v{i}").as_bytes()), &[]);
    }
    assert_eq!(
        produce(&mut c, "t", 0, 1, lz4.build().unwrap()).await,
        (0, 0)
    );
    let (_, _, bytes) = fetch(&mut c, "t", 0, 0, 1 << 20).await;
    let view = BatchIter::new(&bytes).next().unwrap().unwrap();
    assert_eq!(view.compression(), Some(Compression::Gzip));
    let all = read_all(&mut c, "t", 0).await;
    assert_eq!(
        all.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        (0..10).map(|i| format!("v{i}")).collect::<Vec<_>>()
    );

    // CreatePartitions: only up.
    let grow = |count: i32| {
        Request::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![
            CreatePartitionsTopic::default().with_name(topic_name("t")).with_count(count),
        ]))
    };
    let Response::CreatePartitions(r) = c.send(3, grow(4)).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.results[0].error_code, 0);
    assert_eq!(produce(&mut c, "t", 3, 1, batch("p3", 0, 1)).await, (0, 0));
    let Response::CreatePartitions(r) = c.send(3, grow(3)).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.results[0].error_code, 37, "INVALID_PARTITIONS");

    // DeleteRecords: the low watermark moves; reads below it are out of range.
    for i in 1..10 {
        produce(&mut c, "t", 0, 1, batch("d", i * 10, 10)).await;
    }
    let delete = |offset: i64| {
        Request::DeleteRecords(DeleteRecordsRequest::default().with_topics(
            vec![DeleteRecordsTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(offset)])],
        ))
    };
    let Response::DeleteRecords(r) = c.send(2, delete(50)).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            r.topics[0].partitions[0].error_code,
            r.topics[0].partitions[0].low_watermark
        ),
        (0, 50)
    );
    assert_eq!(earliest(&mut c, "t").await, 50);
    assert_eq!(
        fetch(&mut c, "t", 0, 10, 1000).await.0,
        1,
        "OFFSET_OUT_OF_RANGE below the log start"
    );
    let Response::DeleteRecords(r) = c.send(2, delete(1000)).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.topics[0].partitions[0].error_code, 1);

    // DescribeLogDirs lists the partitions with their sizes.
    let Response::DescribeLogDirs(r) = c
        .send(
            4,
            Request::DescribeLogDirs(DescribeLogDirsRequest::default().with_topics(None)),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    let dir = &r.results[0];
    assert_eq!(dir.error_code, 0);
    assert!(dir.total_bytes > 0 && dir.usable_bytes > 0);
    let t = dir
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == "t")
        .unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(t.partitions.len(), 4);
    assert!(t.partitions.iter().any(|p| p.partition_size > 0));

    // Everything survives a restart: configs, partitions, the log start offset.
    drop(c);
    b.stop();
    b.restart();
    let mut c = b.connect().await;
    assert_eq!(earliest(&mut c, "t").await, 50);
    assert_eq!(produce(&mut c, "t", 3, 1, batch("p3", 1, 1)).await, (0, 1));
    let req = DescribeConfigsRequest::default().with_resources(vec![
        describe_configs_request::DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s("t")),
    ]);
    let Response::DescribeConfigs(r) = c.send(4, Request::DescribeConfigs(req)).await.unwrap()
    else {
        panic!()
    };
    let ct = r.results[0]
        .configs
        .iter()
        .find(|e| e.name.as_str() == "compression.type")
        .unwrap();
    assert_eq!(
        (ct.value.as_ref().unwrap().as_str(), ct.config_source),
        ("gzip", 1)
    );
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_segments_and_the_cleaner_compacts() {
    let b = TestBroker::start(&[
        "log.retention.check.interval.ms=100",
        "log.cleaner.backoff.ms=100",
    ]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "old", 1).await, 0);
    assert_eq!(
        set_topic_config(&mut c, "old", "segment.bytes", Some("1024")).await,
        0
    );
    // Records an hour old, in several segments, then a fresh one in the active segment.
    for i in 0..20 {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(
            now() - 3_600_000,
            None,
            Some(format!("old-{i:0>60}").as_bytes()),
            &[],
        );
        produce(&mut c, "old", 0, 1, b.build().unwrap()).await;
    }
    produce(&mut c, "old", 0, 1, batch("fresh", 0, 1)).await;
    assert_eq!(
        set_topic_config(&mut c, "old", "retention.ms", Some("60000")).await,
        0
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    // Every closed segment holds only old records; the active one holds the fresh record (and
    // perhaps old ones: the active segment is never deleted).
    while earliest(&mut c, "old").await < 7 {
        assert!(
            Instant::now() < deadline,
            "retention did not move the log start offset"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let left = read_all_from(&mut c, "old").await;
    assert!(
        left.iter().any(|v| v.starts_with("fresh")),
        "the active segment stays"
    );
    assert!(
        left.len() < 21,
        "old segments are gone: {} records left",
        left.len()
    );

    // Compaction: the last value per key remains, tombstoned keys go.
    assert_eq!(create_topic(&mut c, "compact", 1).await, 0);
    for (k, v) in [
        ("cleanup.policy", "compact"),
        ("segment.bytes", "1024"),
        ("delete.retention.ms", "0"),
        ("min.cleanable.dirty.ratio", "0.01"),
    ] {
        assert_eq!(
            set_topic_config(&mut c, "compact", k, Some(v)).await,
            0,
            "{k}"
        );
    }
    for i in 0..200 {
        let mut b = BatchBuilder::new(Compression::None);
        let key = format!("key-{}", i % 10);
        b.append(
            now(),
            Some(key.as_bytes()),
            Some(format!("value-{i}").as_bytes()),
            &[],
        );
        produce(&mut c, "compact", 0, 1, b.build().unwrap()).await;
    }
    for k in 0..3 {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(now(), Some(format!("key-{k}").as_bytes()), None, &[]);
        produce(&mut c, "compact", 0, 1, b.build().unwrap()).await;
    }
    for i in 0..30 {
        produce(&mut c, "compact", 0, 1, batch("filler", i, 1)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let records = decoded(&mut c, "compact").await;
        let keyed: Vec<_> = records
            .iter()
            .filter(|(k, _)| k.starts_with("key-"))
            .collect();
        let values: std::collections::HashSet<&String> =
            keyed.iter().filter_map(|(_, v)| v.as_ref()).collect();
        let done =
            keyed.len() == 7 && (3..10).all(|k| values.contains(&format!("value-{}", 190 + k)));
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not compacted: {} keyed records left",
            keyed.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(b.log().contains("log cleaned"), "{}", b.log());
}

async fn read_all_from(c: &mut Connection, topic: &str) -> Vec<String> {
    decoded(c, topic)
        .await
        .into_iter()
        .filter_map(|(_, v)| v)
        .collect()
}

/// (key, value) of every record from the log start offset.
async fn decoded(c: &mut Connection, topic: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut offset = earliest(c, topic).await;
    loop {
        let (err, hw, bytes) = fetch(c, topic, 0, offset, 1 << 20).await;
        assert_eq!(err, 0);
        if offset >= hw {
            return out;
        }
        for view in BatchIter::new(&bytes) {
            let view = view.unwrap();
            for r in kavka_protocol::records::decode_records(&view).unwrap() {
                if r.offset >= offset {
                    let k = r
                        .key
                        .map(|k| String::from_utf8_lossy(&k).into_owned())
                        .unwrap_or_default();
                    out.push((k, r.value.map(|v| String::from_utf8_lossy(&v).into_owned())));
                }
            }
            offset = view.next_offset();
        }
    }
}
