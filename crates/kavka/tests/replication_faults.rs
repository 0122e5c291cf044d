//! Replication under a network partition: three nodes, each in its own network namespace
//! (`common::netns`), a topic of three replicas with `min.insync.replicas=2`. The leader's host
//! is cut off. A producer beside it (in its namespace) sends with acks=all: the old leader
//! appends but cannot replicate, so it must not acknowledge. The majority fences it, elects a
//! new leader from the ISR and acknowledges a producer's writes on the other side. Healed, the
//! old leader follows and truncates its unreplicated write. The checker: every acknowledged
//! record is readable exactly once, in the order acknowledged, and nothing unacknowledged from
//! the minority survives.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;
use common::cluster::{wait_for_controller, TestCluster};
use common::cluster_client::{client, wait_for_topic};
use common::netns::Hosts;
use common::replicas::{create, wait_for_state, FAST_REPLICATION};
use kavka_client::{Admin, Producer, ProducerConfig, ProducerRecord};

/// Sends `count` records `{prefix}-{i}` to partition 0 of "iso", each acknowledged before the
/// next, and records them in `acked`.
async fn send_acknowledged(
    producer: &Producer,
    prefix: &str,
    count: usize,
    acked: &mut Vec<String>,
) {
    for i in 0..count {
        let value = format!("{prefix}-{i}");
        let mut r = ProducerRecord::new("iso", None, Some(Bytes::from(value.clone())));
        r.partition = Some(0);
        producer.send(r).await.unwrap().await.unwrap();
        acked.push(value);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_acknowledges_nothing_and_its_write_is_truncated() {
    let hosts = Hosts::new(3);
    let mut cluster = TestCluster::start_in(&hosts, 3, FAST_REPLICATION);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    create(&admin, "iso", 2).await;
    wait_for_topic(&addrs, "iso", 1).await;
    let (old, _, _) = wait_for_state(addrs[0], "iso", "in sync", |s| s.2.len() == 3).await;
    let survivors: Vec<SocketAddr> = (1..=3)
        .filter(|&n| n != old)
        .map(|n| addrs[(n - 1) as usize])
        .collect();
    let majority = client(survivors.iter().map(|a| a.to_string()).collect()).await;
    let mut acked: Vec<String> = Vec::new();
    let producer = Producer::new(majority.clone(), ProducerConfig::default())
        .await
        .unwrap();
    send_acknowledged(&producer, "before", 20, &mut acked).await;

    // The leader's host is cut off; a producer on it writes with acks=all to the old leader.
    hosts.isolate(old as usize);
    let cut = Instant::now();
    let mut child = Command::new("ip")
        .args(["netns", "exec", &hosts.namespace(old as usize)])
        .arg(env!("CARGO_BIN_EXE_kavka"))
        .args(["console-producer", "--bootstrap-server"])
        .arg(cluster.node(old).addr.to_string())
        .args(["--topic", "iso", "--request-required-acks", "-1"])
        .args(["--request-timeout-ms", "3000"])
        .args(["--producer-property", "delivery.timeout.ms=6000"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "isolated-write").unwrap();
    }

    // Meanwhile the majority fences the old leader and a new one takes acks=all writes.
    let (new, _, isr) = wait_for_state(survivors[0], "iso", "led by the majority", |s| {
        s.0 != old && s.0 != -1
    })
    .await;
    eprintln!(
        "leader {old} cut off; {new} leads after {} ms, ISR {isr:?}",
        cut.elapsed().as_millis()
    );
    send_acknowledged(&producer, "during", 20, &mut acked).await;
    let out = child.wait_with_output().unwrap();
    eprintln!(
        "isolated producer: exit {:?} after {} ms: {}",
        out.status.code(),
        cut.elapsed().as_millis(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    assert!(
        !out.status.success(),
        "the isolated leader acknowledged an acks=all write it could not replicate"
    );

    // Healed: the old leader follows, truncates its write and rejoins the ISR.
    hosts.heal(old as usize);
    let healed = Instant::now();
    wait_for_state(survivors[0], "iso", "rejoined", |s| s.2.contains(&old)).await;
    eprintln!(
        "healed leader {old} back in the ISR after {} ms",
        healed.elapsed().as_millis()
    );
    send_acknowledged(&producer, "after", 5, &mut acked).await;
    producer.close().await.unwrap();

    let mut conn = cluster.node(new).connect().await;
    let read: Vec<String> = common::replicas::read_values(&mut conn, "iso").await;
    let unique: BTreeSet<&String> = read.iter().collect();
    assert_eq!(unique.len(), read.len(), "a record read twice: {read:?}");
    assert_eq!(read, acked, "exactly the acknowledged records, in order");
    assert!(
        cluster.node(old).log().contains("truncated a diverged log"),
        "the old leader truncated its unreplicated write"
    );
    drop(cluster);
}
