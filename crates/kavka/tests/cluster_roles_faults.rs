//! Faults of the separate-roles layout, each node on its own host (network namespace): three
//! controller-only nodes and two broker-only nodes, an idempotent producer (the client's
//! defaults) writing to every partition throughout. A broker cut off from the network is
//! fenced by the controller; healed, it catches up with the quorum, is unfenced and serves
//! again. Then a checker reads every partition back: every acknowledged record is readable.
//! Needs root for `ip netns`.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::cluster::{listed, wait_for_controller, TestCluster};
use common::cluster_client::{client, group_consumer, wait_for_topic};
use common::netns::Hosts;
use kavka_client::{Admin, Producer, ProducerConfig, ProducerRecord};

const PARTITIONS: i32 = 4;

/// Waits until `addr` lists exactly `brokers`.
async fn wait_listed(addr: SocketAddr, brokers: &[i32], why: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while listed(addr).await != brokers.iter().copied().collect() {
        assert!(Instant::now() < deadline, "{why}: {:?}", listed(addr).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every value in `topic`, read by a new group from the beginning.
async fn read_back(bootstrap: Vec<String>, topic: &str) -> BTreeSet<String> {
    let mut consumer = group_consumer(&client(bootstrap).await, "checker", topic).await;
    let mut seen = BTreeSet::new();
    let mut quiet_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Read until nothing new arrives for 3 s (every partition then read to its end).
    while quiet_since.elapsed() < Duration::from_secs(3) {
        assert!(Instant::now() < deadline, "reading back took too long");
        for r in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            if seen.insert(String::from_utf8(r.value.unwrap().to_vec()).unwrap()) {
                quiet_since = Instant::now();
            }
        }
    }
    consumer.close().await.unwrap();
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_broker_is_fenced_and_nothing_acknowledged_is_lost() {
    let hosts = Hosts::new(5);
    let mut cluster = TestCluster::start_split_in(
        &hosts,
        3,
        2,
        &[
            "broker.session.timeout.ms=1500",
            "broker.heartbeat.interval.ms=100",
        ],
    );
    let brokers: Vec<SocketAddr> = cluster.nodes[3..].iter().map(|n| n.addr).collect();
    wait_for_controller(&brokers, 2, &[]).await;
    let bootstrap: Vec<String> = brokers.iter().map(|a| a.to_string()).collect();
    let c = client(bootstrap.clone()).await;
    Admin::new(c.clone())
        .create_topic("acked", PARTITIONS, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&brokers, "acked", PARTITIONS as usize).await;

    // The writer: one record per partition every 20 ms, each acknowledgement recorded.
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    // When each partition last had a record acknowledged.
    let last_ack = Arc::new(Mutex::new(vec![Instant::now(); PARTITIONS as usize]));
    let failed = Arc::new(Mutex::new(0usize));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (acked, failed, stop) = (acked.clone(), failed.clone(), stop.clone());
        let last_ack = last_ack.clone();
        let producer = Producer::new(c.clone(), ProducerConfig::default())
            .await
            .unwrap();
        tokio::spawn(async move {
            let mut deliveries = Vec::new();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for p in 0..PARTITIONS {
                    let value = format!("p{p}-{i}");
                    let mut r =
                        ProducerRecord::new("acked", None, Some(Bytes::from(value.clone())));
                    r.partition = Some(p);
                    let Ok(delivery) = producer.send(r).await else {
                        *failed.lock().unwrap() += 1;
                        continue;
                    };
                    let (acked, failed) = (acked.clone(), failed.clone());
                    let last_ack = last_ack.clone();
                    deliveries.push(tokio::spawn(async move {
                        match delivery.await {
                            Ok(_) => {
                                acked.lock().unwrap().insert(value);
                                last_ack.lock().unwrap()[p as usize] = Instant::now();
                            }
                            Err(_) => *failed.lock().unwrap() += 1,
                        }
                    }));
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            producer.close().await.unwrap();
            for d in deliveries {
                d.await.unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Broker 5 loses the network: the controller fences it.
    hosts.isolate(5);
    let cut = Instant::now();
    wait_listed(brokers[0], &[4], "broker 5 is fenced").await;
    eprintln!(
        "broker 5 fenced {} ms after the cut",
        cut.elapsed().as_millis()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Healed, it catches up, is unfenced and serves its partitions again.
    hosts.heal(5);
    let healed = Instant::now();
    wait_listed(brokers[0], &[4, 5], "broker 5 is back").await;
    eprintln!(
        "broker 5 back {} ms after healing",
        healed.elapsed().as_millis()
    );
    // Every partition, broker 5's too, takes writes again.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !last_ack.lock().unwrap().iter().all(|&at| at > healed) {
        assert!(
            Instant::now() < deadline,
            "writes did not resume on every partition"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    writer.await.unwrap();

    let acked = acked.lock().unwrap().clone();
    let read = read_back(bootstrap, "acked").await;
    let lost: Vec<&String> = acked.difference(&read).collect();
    eprintln!(
        "acknowledged {}, failed {}, read back {}",
        acked.len(),
        failed.lock().unwrap(),
        read.len()
    );
    assert!(lost.is_empty(), "acknowledged but not readable: {lost:?}");
    assert!(cluster
        .node(5)
        .log()
        .contains("caught up with the metadata quorum"));
}
