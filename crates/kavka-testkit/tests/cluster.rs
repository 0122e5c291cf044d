//! Three nodes in the test's process: a replicated topic keeps every acknowledged record when
//! its leader is killed, the producer goes on with the new leader, and the killed node comes
//! back on its data.

use std::time::{Duration, Instant};

use kavka_testkit::Cluster;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, TopicPartitionList};

async fn send(p: &FutureProducer, value: &str) {
    p.send(
        FutureRecord::<(), _>::to("replicated").payload(value),
        Duration::from_secs(60),
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap();
}

fn leader(bootstrap: &str) -> i32 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let meta = c
        .fetch_metadata(Some("replicated"), Duration::from_secs(10))
        .unwrap();
    meta.topics()[0].partitions()[0].leader()
}

fn read_all(bootstrap: &str, n: usize) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "cluster-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("replicated", 0, rdkafka::Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < n && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8(m.unwrap().payload().unwrap().to_vec()).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_loses_no_acknowledged_record_and_comes_back() {
    let mut cluster = Cluster::builder()
        .config("min.insync.replicas", "2")
        // A killed node is fenced (and its partitions led by another) after this.
        .config("broker.session.timeout.ms", "2000")
        .config("broker.heartbeat.interval.ms", "500")
        .topic("replicated", 1, 3)
        .start()
        .await
        .unwrap();
    let bootstrap = cluster.bootstrap();
    let p: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    for i in 0..50 {
        send(&p, &format!("v{i}")).await;
    }
    let b = bootstrap.clone();
    let first = tokio::task::spawn_blocking(move || leader(&b))
        .await
        .unwrap();
    cluster.node_mut(first).kill().await.unwrap();
    for i in 50..100 {
        send(&p, &format!("v{i}")).await;
    }
    let b = bootstrap.clone();
    let second = tokio::task::spawn_blocking(move || leader(&b))
        .await
        .unwrap();
    assert_ne!(second, first);
    cluster.node_mut(first).restart().await.unwrap();
    cluster.wait_registered().await.unwrap();
    let b = bootstrap.clone();
    let got = tokio::task::spawn_blocking(move || read_all(&b, 100))
        .await
        .unwrap();
    let want: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
    assert_eq!(got, want);
    drop(p);
    cluster.stop().await.unwrap();
}
