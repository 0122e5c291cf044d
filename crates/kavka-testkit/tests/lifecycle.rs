//! The testkit's own tests: settings and topics, the fault hooks with a real client, the
//! README's example. `leaks.rs` starts and stops brokers in a loop.

use std::time::{Duration, Instant};

use kavka_testkit::Broker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, TopicPartitionList};

fn producer(bootstrap: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.timeout.ms", "30000")
        .create()
        .unwrap()
}

async fn send(p: &FutureProducer, topic: &str, value: &str) -> (i32, i64) {
    p.send(
        FutureRecord::<(), _>::to(topic).payload(value),
        Duration::from_secs(30),
    )
    .await
    .map(|d| (d.partition, d.offset))
    .map_err(|(e, _)| e)
    .unwrap()
}

/// Every value of partition 0 of `topic`, read from the start until `n` arrived.
fn read(bootstrap: &str, topic: &str, n: usize) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "testkit-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < n && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(200)) {
            let m = m.unwrap();
            out.push(String::from_utf8(m.payload().unwrap().to_vec()).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn the_broker_serves_its_metrics_on_a_port_of_its_own() {
    use std::io::{Read, Write};
    let broker = Broker::start().await.unwrap();
    let p = producer(&broker.bootstrap());
    send(&p, "metered", "one").await;
    let addr = broker.http_addr().expect("an HTTP listener");
    let page = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut page = String::new();
        s.read_to_string(&mut page).unwrap();
        page
    })
    .await
    .unwrap();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("kafka_server_brokertopicmetrics_messagesin_total{topic=\"metered\"} 1\n"),
        "{page}"
    );
    broker.stop().await.unwrap();
}

#[tokio::test]
async fn a_killed_broker_restarts_on_its_data_and_address_with_every_acknowledged_record() {
    let mut broker = Broker::builder().topic("kept", 1).start().await.unwrap();
    let bootstrap = broker.bootstrap();
    let p = producer(&bootstrap);
    for i in 0..100 {
        send(&p, "kept", &format!("v{i}")).await;
    }
    broker.kill().await.unwrap();
    assert!(!broker.is_running());
    broker.restart().await.unwrap();
    assert_eq!(broker.bootstrap(), bootstrap);
    // The same producer goes on once the broker is back.
    assert_eq!(send(&p, "kept", "after").await, (0, 100));
    let mut want: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
    want.push("after".into());
    let got = tokio::task::spawn_blocking(move || read(&bootstrap, "kept", 101));
    assert_eq!(got.await.unwrap(), want);
    broker.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_are_reopened_and_a_response_delay_slows_every_answer() {
    let broker = Broker::builder()
        .partitions(4)
        .topic("faults", 1)
        .start()
        .await
        .unwrap();
    let p = producer(&broker.bootstrap());
    assert_eq!(send(&p, "faults", "one").await, (0, 0));
    assert!(broker.connections() > 0);
    let cut = broker.drop_connections();
    assert!(cut > 0, "nothing was cut");
    assert_eq!(send(&p, "faults", "two").await, (0, 1));

    broker.set_response_delay(Duration::from_millis(300));
    let started = Instant::now();
    send(&p, "faults", "three").await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    broker.set_response_delay(Duration::ZERO);

    // num.partitions reaches topics created without a count (here, by the producer's
    // auto-creation).
    send(&p, "auto-created", "x").await;
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .unwrap();
    let meta = tokio::task::block_in_place(|| {
        c.fetch_metadata(Some("auto-created"), Duration::from_secs(10))
            .unwrap()
    });
    let partitions = meta.topics()[0].partitions().len();
    assert_eq!(partitions, 4);
    broker.stop().await.unwrap();
}

async fn send_to(p: &FutureProducer, topic: &str, partition: i32) -> Duration {
    let started = Instant::now();
    p.send(
        FutureRecord::<(), _>::to(topic)
            .partition(partition)
            .payload("x"),
        Duration::from_secs(30),
    )
    .await
    .map_err(|(e, _)| e)
    .unwrap();
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_partition_is_slow_and_the_others_are_not() {
    let broker = Broker::builder().topic("slow", 2).start().await.unwrap();
    let p = producer(&broker.bootstrap());
    send_to(&p, "slow", 0).await; // connections and metadata in place
    broker
        .delay_partition("slow", 1, Duration::from_millis(600))
        .await
        .unwrap();
    let fast = send_to(&p, "slow", 0).await;
    let slow = send_to(&p, "slow", 1).await;
    assert!(slow >= Duration::from_millis(600), "{slow:?}");
    assert!(fast < Duration::from_millis(300), "{fast:?}");
    broker
        .delay_partition("slow", 1, Duration::ZERO)
        .await
        .unwrap();
    let again = send_to(&p, "slow", 1).await;
    assert!(again < Duration::from_millis(300), "{again:?}");
    broker.stop().await.unwrap();
}

#[test]
fn the_readme_example_is_the_example_test() {
    let readme = include_str!("../README.md");
    let example = include_str!("rdkafka_example.rs");
    let block = readme
        .split("```rust,ignore\n")
        .nth(2)
        .and_then(|rest| rest.split("```").next())
        .expect("the README's second rust block");
    assert_eq!(block, example);
}
