//! What the cluster tests do as a client: connect to several nodes, see where partitions
//! lead, produce to every partition and consume a topic in a group.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kavka_client::{
    Client, ClientConfig, Consumer, ConsumerConfig, OffsetReset, Producer, ProducerConfig,
    ProducerRecord,
};

use super::cluster::metadata;

pub async fn client(bootstrap: Vec<String>) -> Client {
    Client::connect(ClientConfig {
        bootstrap_servers: bootstrap,
        client_id: "cluster-test".into(),
        request_timeout_ms: 15_000,
        ..ClientConfig::default()
    })
    .await
    .unwrap()
}

/// Partition -> leader, as node `addr` tells it.
pub async fn leaders(addr: SocketAddr, topic: &str) -> BTreeMap<i32, i32> {
    let m = metadata(addr).await;
    m.topics
        .iter()
        .find(|t| t.name.as_ref().map(|n| n.as_str()) == Some(topic))
        .map(|t| {
            t.partitions
                .iter()
                .map(|p| (p.partition_index, p.leader_id.0))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until every node at `addrs` knows `topic` with `partitions` partitions.
pub async fn wait_for_topic(addrs: &[SocketAddr], topic: &str, partitions: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for &a in addrs {
        while leaders(a, topic).await.len() != partitions {
            assert!(Instant::now() < deadline, "{a} does not know {topic}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Sends `count` records to every partition (the producer finds each partition's leader).
pub async fn produce(client: &Client, topic: &str, partitions: i32, count: usize) {
    // The client's defaults: idempotence on, so InitProducerId also crosses nodes.
    let producer = Producer::new(client.clone(), ProducerConfig::default())
        .await
        .unwrap();
    for p in 0..partitions {
        for i in 0..count {
            let mut r = ProducerRecord::new(topic, None, Some(Bytes::from(format!("p{p}-{i}"))));
            r.partition = Some(p);
            producer.send(r).await.unwrap();
        }
    }
    producer.close().await.unwrap();
}

/// A consumer of `topic` in group `group`, from the earliest offsets.
pub async fn group_consumer(client: &Client, group: &str, topic: &str) -> Consumer {
    let mut consumer = Consumer::new(
        client.clone(),
        ConsumerConfig {
            group_id: Some(group.into()),
            auto_offset_reset: OffsetReset::Earliest,
            ..ConsumerConfig::default()
        },
    )
    .await
    .unwrap();
    consumer.subscribe(vec![topic.to_string()]).await.unwrap();
    consumer
}

/// Consumes `topic` in group `group` until `expected` values are seen; commits.
pub async fn consume_all(
    client: &Client,
    group: &str,
    topic: &str,
    expected: usize,
) -> BTreeSet<String> {
    let mut consumer = group_consumer(client, group, topic).await;
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    while seen.len() < expected {
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            seen.insert(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
        assert!(
            Instant::now() < deadline,
            "consumed {} of {expected}",
            seen.len()
        );
    }
    consumer.commit_sync(None).await.unwrap();
    consumer.close().await.unwrap();
    seen
}
