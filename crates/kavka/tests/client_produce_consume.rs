//! kavka-client's Producer and Consumer (assign mode) against a real broker (in-process, kavka-testkit): every codec, keys
//! on murmur2 partitions, acks 0/1/-1, seeks, offset reset, errors.

mod common;

use std::time::Duration;

use bytes::Bytes;
use kavka_client::{
    partition_for_key, Admin, Client, ClientConfig, ClientError, Compression, Consumer,
    ConsumerConfig, ConsumerRecord, ErrorCode, OffsetReset, Producer, ProducerConfig,
    ProducerRecord, TimestampType,
};
use kavka_testkit::Broker;

async fn client(broker: &Broker) -> Client {
    Client::connect(ClientConfig {
        bootstrap_servers: vec![broker.bootstrap()],
        request_timeout_ms: 10_000,
        ..ClientConfig::default()
    })
    .await
    .unwrap()
}

/// Polls until `n` records came (or 10 s passed).
async fn poll_n(consumer: &mut Consumer, n: usize) -> Vec<ConsumerRecord> {
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n && std::time::Instant::now() < deadline {
        out.extend(consumer.poll(Duration::from_millis(500)).await.unwrap());
    }
    out
}

fn record(topic: &str, key: Option<&str>, value: &str) -> ProducerRecord {
    ProducerRecord::new(
        topic,
        key.map(|k| Bytes::from(k.to_string())),
        Some(Bytes::from(value.to_string())),
    )
}

#[tokio::test]
async fn every_codec_round_trips_and_keys_land_on_murmur2_partitions() {
    let broker = common::in_process(&[]).await;
    let client = client(&broker).await;
    let admin = Admin::new(client.clone());
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let topic = format!("codec-{}", codec.name());
        admin.create_topic(&topic, 4, 1, &[], false).await.unwrap();
        let producer = Producer::new(
            client.clone(),
            ProducerConfig {
                compression: codec,
                linger_ms: 20,
                ..ProducerConfig::default()
            },
        )
        .await
        .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..40 {
            let key = format!("key-{}", i % 7);
            let mut r = record(&topic, Some(&key), &format!("value-{i}"));
            r.headers = vec![
                ("h".into(), Some(Bytes::from_static(b"v"))),
                ("null".into(), None),
            ];
            deliveries.push((key, producer.send(r).await.unwrap()));
        }
        producer.flush().await.unwrap();
        for (key, d) in deliveries {
            let meta = d.await.unwrap();
            assert_eq!(
                meta.partition,
                partition_for_key(key.as_bytes(), 4),
                "{key}"
            );
            assert!(meta.offset >= 0);
        }
        producer.close().await.unwrap();

        let mut consumer = Consumer::new(
            client.clone(),
            ConsumerConfig {
                auto_offset_reset: OffsetReset::Earliest,
                ..ConsumerConfig::default()
            },
        )
        .await
        .unwrap();
        consumer
            .assign((0..4).map(|p| (topic.clone(), p)).collect())
            .await
            .unwrap();
        let records = poll_n(&mut consumer, 40).await;
        assert_eq!(records.len(), 40, "{codec:?}");
        for r in &records {
            let key = std::str::from_utf8(r.key.as_deref().unwrap()).unwrap();
            assert_eq!(r.partition, partition_for_key(key.as_bytes(), 4));
            assert_eq!(r.timestamp_type, TimestampType::CreateTime);
            assert_eq!(
                r.headers[0],
                ("h".to_string(), Some(Bytes::from_static(b"v")))
            );
            assert_eq!(r.headers[1], ("null".to_string(), None));
        }
        let mut values: Vec<String> = records
            .iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
            .collect();
        values.sort_by_key(|v| v[6..].parse::<u32>().unwrap());
        assert_eq!(
            values,
            (0..40).map(|i| format!("value-{i}")).collect::<Vec<_>>()
        );
        // Per partition, offsets are consecutive from 0 and positions moved past them.
        for p in 0..4 {
            let offsets: Vec<i64> = records
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| r.offset)
                .collect();
            assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>());
            assert_eq!(consumer.position(&topic, p), Some(offsets.len() as i64));
        }
        consumer.close().await.unwrap();
    }
}

#[tokio::test]
async fn acks_zero_one_and_all() {
    let broker = common::in_process(&[]).await;
    let client = client(&broker).await;
    Admin::new(client.clone())
        .create_topic("acks", 1, 1, &[], false)
        .await
        .unwrap();
    let mut expected_offset = 0;
    for acks in [-1i16, 1, 0] {
        let producer = Producer::new(
            client.clone(),
            ProducerConfig {
                acks,
                linger_ms: 0,
                ..ProducerConfig::default()
            },
        )
        .await
        .unwrap();
        let mut futures = Vec::new();
        for i in 0..5 {
            futures.push(
                producer
                    .send(record("acks", None, &format!("{acks}-{i}")))
                    .await
                    .unwrap(),
            );
        }
        for f in futures {
            let meta = f.await.unwrap();
            if acks == 0 {
                assert_eq!(meta.offset, -1);
            } else {
                assert_eq!(meta.offset, expected_offset);
                expected_offset += 1;
            }
        }
        producer.close().await.unwrap();
    }
    let mut consumer = Consumer::new(
        client.clone(),
        ConsumerConfig {
            auto_offset_reset: OffsetReset::Earliest,
            ..ConsumerConfig::default()
        },
    )
    .await
    .unwrap();
    consumer.assign(vec![("acks".into(), 0)]).await.unwrap();
    let records = poll_n(&mut consumer, 15).await;
    assert_eq!(records.len(), 15, "acks=0 records arrive too");
    assert_eq!(records[14].value.as_deref(), Some(b"0-4".as_slice()));
}

#[tokio::test]
async fn batches_fill_by_size_and_unkeyed_records_stick() {
    let broker = common::in_process(&[]).await;
    let client = client(&broker).await;
    Admin::new(client.clone())
        .create_topic("sticky", 3, 1, &[], false)
        .await
        .unwrap();
    let producer = Producer::new(
        client.clone(),
        ProducerConfig {
            batch_size: 1_000,
            linger_ms: 60_000,
            ..ProducerConfig::default()
        },
    )
    .await
    .unwrap();
    // 100-byte values: a batch fills after ~8 records and is sent without waiting for linger.
    let value = "x".repeat(100);
    let mut futures = Vec::new();
    for _ in 0..20 {
        futures.push(producer.send(record("sticky", None, &value)).await.unwrap());
    }
    let first = tokio::time::timeout(Duration::from_secs(5), futures.remove(0))
        .await
        .expect("a full batch is sent before linger.ms")
        .unwrap();
    producer.flush().await.unwrap();
    let mut partitions = vec![first.partition];
    for f in futures {
        partitions.push(f.await.unwrap().partition);
    }
    // Consecutive unkeyed records share a partition until a batch's worth went to it.
    let switches = partitions.windows(2).filter(|w| w[0] != w[1]).count();
    assert!((1..=4).contains(&switches), "{partitions:?}");
    // Explicit partitions are kept; an invalid one is refused.
    let mut r = record("sticky", Some("k"), "v");
    r.partition = Some(2);
    let explicit = producer.send(r).await.unwrap();
    producer.flush().await.unwrap();
    assert_eq!(explicit.await.unwrap().partition, 2);
    let mut bad = record("sticky", None, "v");
    bad.partition = Some(3);
    assert!(matches!(
        producer.send(bad).await,
        Err(ClientError::State(_))
    ));
    let too_big = record("sticky", None, &"y".repeat(2 << 20));
    let err = producer.send(too_big).await.unwrap_err();
    assert_eq!(err.kafka_code(), Some(ErrorCode::MESSAGE_TOO_LARGE));
    producer.close().await.unwrap();
}

#[tokio::test]
async fn a_broker_refusal_fails_the_records_with_the_kafka_error() {
    let broker = common::in_process(&["auto.create.topics.enable=false"]).await;
    let client = client(&broker).await;
    let admin = Admin::new(client.clone());
    admin
        .create_topic(
            "small",
            1,
            1,
            &[("max.message.bytes".into(), "200".into())],
            false,
        )
        .await
        .unwrap();
    let producer = Producer::new(client.clone(), ProducerConfig::default())
        .await
        .unwrap();
    let f = producer
        .send(record("small", None, &"z".repeat(500)))
        .await
        .unwrap();
    let err = f.await.unwrap_err();
    assert_eq!(
        err.kafka_code(),
        Some(ErrorCode::MESSAGE_TOO_LARGE),
        "{err}"
    );
    assert!(err.to_string().starts_with("MESSAGE_TOO_LARGE"), "{err}");
    // A topic that does not exist (no auto-creation): send waits max.block.ms, then fails.
    let quick = Producer::new(
        client.clone(),
        ProducerConfig {
            max_block_ms: 300,
            ..ProducerConfig::default()
        },
    )
    .await
    .unwrap();
    let err = quick.send(record("absent", None, "v")).await.unwrap_err();
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    producer.close().await.unwrap();
}

#[tokio::test]
async fn seeks_and_offset_reset() {
    let broker = common::in_process(&[]).await;
    let client = client(&broker).await;
    Admin::new(client.clone())
        .create_topic("seek", 1, 1, &[], false)
        .await
        .unwrap();
    let producer = Producer::new(client.clone(), ProducerConfig::default())
        .await
        .unwrap();
    for i in 0..10 {
        producer
            .send(record("seek", None, &i.to_string()))
            .await
            .unwrap();
    }
    producer.flush().await.unwrap();

    // Latest (the default): nothing old is read, only what comes after.
    let mut latest = Consumer::new(client.clone(), ConsumerConfig::default())
        .await
        .unwrap();
    latest.assign(vec![("seek".into(), 0)]).await.unwrap();
    assert!(latest
        .poll(Duration::from_millis(300))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(latest.position("seek", 0), Some(10));
    producer
        .send(record("seek", None, "10"))
        .await
        .unwrap()
        .await
        .unwrap();
    let got = poll_n(&mut latest, 1).await;
    assert_eq!(got[0].offset, 10);

    // Seeks: into the middle of a batch (earlier records skipped), beginning, end.
    latest.seek("seek", 0, 4).await.unwrap();
    let got = poll_n(&mut latest, 7).await;
    assert_eq!(got.first().map(|r| r.offset), Some(4));
    assert_eq!(got.len(), 7);
    latest.seek_to_beginning(&[]).await.unwrap();
    assert_eq!(latest.position("seek", 0), Some(0));
    latest.seek_to_end(&[("seek".into(), 0)]).await.unwrap();
    assert_eq!(latest.position("seek", 0), Some(11));
    assert!(matches!(
        latest.seek("other", 0, 1).await,
        Err(ClientError::State(_))
    ));

    // Out of range: reset per auto.offset.reset, or an error with none.
    latest.seek("seek", 0, 1_000).await.unwrap();
    assert!(latest
        .poll(Duration::from_millis(500))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(latest.position("seek", 0), Some(11));
    let mut strict = Consumer::new(
        client.clone(),
        ConsumerConfig {
            auto_offset_reset: OffsetReset::None,
            ..ConsumerConfig::default()
        },
    )
    .await
    .unwrap();
    strict.assign(vec![("seek".into(), 0)]).await.unwrap();
    assert!(matches!(
        strict.poll(Duration::from_millis(100)).await,
        Err(ClientError::NoOffset { .. })
    ));
    strict.seek("seek", 0, 1_000).await.unwrap();
    let err = strict.poll(Duration::from_millis(500)).await.unwrap_err();
    assert_eq!(err.kafka_code(), Some(ErrorCode::OFFSET_OUT_OF_RANGE));

    // max.poll.records bounds one poll.
    let mut few = Consumer::new(
        client.clone(),
        ConsumerConfig {
            max_poll_records: 3,
            auto_offset_reset: OffsetReset::Earliest,
            ..ConsumerConfig::default()
        },
    )
    .await
    .unwrap();
    few.assign(vec![("seek".into(), 0)]).await.unwrap();
    assert_eq!(few.poll(Duration::from_secs(5)).await.unwrap().len(), 3);
    assert_eq!(few.position("seek", 0), Some(3));
    assert_eq!(few.poll(Duration::from_secs(5)).await.unwrap()[0].offset, 3);
}

#[tokio::test]
async fn producing_auto_creates_a_topic_and_an_idle_consumer_is_refused() {
    let broker = common::in_process(&["num.partitions=2"]).await;
    let client = client(&broker).await;
    let producer = Producer::new(client.clone(), ProducerConfig::default())
        .await
        .unwrap();
    let meta = producer
        .send(record("fresh", Some("k"), "v"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(meta.partition, partition_for_key(b"k", 2));
    assert_eq!(meta.offset, 0);
    producer.close().await.unwrap();
    let topics = Admin::new(client.clone()).list_topics(false).await.unwrap();
    assert_eq!(topics, vec!["fresh"]);

    let mut idle = Consumer::new(client.clone(), ConsumerConfig::default())
        .await
        .unwrap();
    assert!(matches!(
        idle.poll(Duration::from_millis(10)).await,
        Err(ClientError::State(_))
    ));
    assert!(matches!(
        idle.subscribe(vec!["fresh".into()]).await,
        Err(ClientError::Config(_))
    ));
    assert!(matches!(
        idle.commit_sync(None).await,
        Ok(()) // nothing to commit
    ));
    assert!(matches!(
        idle.committed(&[("fresh".into(), 0)]).await,
        Err(ClientError::Config(_))
    ));
}

#[tokio::test]
async fn retriable_errors_are_retried_until_the_delivery_timeout() {
    let broker = common::in_process(&["auto.create.topics.enable=false"]).await;
    let admin = Admin::new(client(&broker).await);
    admin
        .create_topic("doomed", 1, 1, &[], false)
        .await
        .unwrap();
    let producer = Producer::new(
        client(&broker).await,
        ProducerConfig {
            delivery_timeout_ms: 1_500,
            retry_backoff_ms: 50,
            linger_ms: 0,
            ..ProducerConfig::default()
        },
    )
    .await
    .unwrap();
    let first = producer.send(record("doomed", None, "a")).await.unwrap();
    assert_eq!(first.await.unwrap().offset, 0);
    // The producer's metadata still names the topic: its batch meets
    // UNKNOWN_TOPIC_OR_PARTITION (retriable) until delivery.timeout.ms.
    admin.delete_topic("doomed").await.unwrap();
    let started = std::time::Instant::now();
    let err = producer
        .send(record("doomed", None, "b"))
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(1_000), "{err}");
    assert!(matches!(err, ClientError::Timeout(_)), "{err:?}");
    assert!(err.to_string().contains("delivery.timeout.ms"), "{err}");
    producer.close().await.unwrap();
}
