//! Replicated partitions as a test sees them: a partition's leader, replicas and ISR from
//! Metadata, and topics of three replicas.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kavka_client::Admin;

use super::cluster::metadata;

/// (leader, replicas, ISR) of partition 0 of `topic`, as node `addr` tells it.
pub async fn state(addr: SocketAddr, topic: &str) -> (i32, Vec<i32>, BTreeSet<i32>) {
    let m = metadata(addr).await;
    let t = m
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic))
        .expect("topic listed");
    let p = t
        .partitions
        .iter()
        .find(|p| p.partition_index == 0)
        .unwrap();
    (
        p.leader_id.0,
        p.replica_nodes.iter().map(|b| b.0).collect(),
        p.isr_nodes.iter().map(|b| b.0).collect(),
    )
}

/// Waits until `addr` reports partition 0 of `topic` in a state `ok` accepts.
pub async fn wait_for_state(
    addr: SocketAddr,
    topic: &str,
    what: &str,
    ok: impl Fn(&(i32, Vec<i32>, BTreeSet<i32>)) -> bool,
) -> (i32, Vec<i32>, BTreeSet<i32>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = state(addr, topic).await;
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{topic}: never {what}: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates `topic`: one partition, three replicas, `min.insync.replicas=min_insync`.
pub async fn create(admin: &Admin, topic: &str, min_insync: i32) {
    let configs = [("min.insync.replicas".to_string(), min_insync.to_string())];
    admin
        .create_topic(topic, 1, 3, &configs, false)
        .await
        .unwrap();
}

/// Quick fencing and ISR changes, within a test's patience.
pub const FAST_REPLICATION: &[&str] = &[
    "broker.session.timeout.ms=1500",
    "replica.lag.time.max.ms=1000",
    "replica.fetch.backoff.ms=100",
];

/// Runs `kavka <args>` (a Kafka tool) and returns its stdout; panics with its stderr when it
/// fails.
pub fn kavka_tool(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kavka"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kavka {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The values of partition 0 of `topic`, read from its leader `conn` up to the high watermark.
pub async fn read_values(conn: &mut kavka_client::Connection, topic: &str) -> Vec<String> {
    super::read_all(conn, topic, 0)
        .await
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}
