//! The metadata quorum under faults, with a checker: every metadata change a client was told
//! succeeded must be on every node afterwards, with the same topic ids everywhere.
//!
//! - A controller cut off from the others by the network (one network namespace per node; its
//!   link taken down) cannot commit a change a client sends it, while the majority elects a
//!   new controller that does; healed, the old controller follows and everyone agrees.
//! - A controller stopped with SIGSTOP is replaced, and after SIGCONT steps down and catches up.
//! - Controllers killed with SIGKILL one after another while topics are created through every
//!   node: what was acknowledged survives, what was not is allowed either way.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cluster::{metadata, wait_for_controller, TestCluster};
use common::netns::Hosts;
use kavka_client::{Admin, Client, ClientConfig};

/// Topic name -> (topic id, partitions), as node `addr` knows them.
async fn topics(addr: SocketAddr) -> BTreeMap<String, (uuid::Uuid, usize)> {
    metadata(addr)
        .await
        .topics
        .iter()
        .filter_map(|t| {
            Some((
                t.name.as_ref()?.to_string(),
                (t.topic_id, t.partitions.len()),
            ))
        })
        .collect()
}

/// Waits until every node at `addrs` has the same topics (ids and partition counts), holding
/// every one of `acked` whole (all its partitions: no topic half-created).
async fn check_converged(
    addrs: &[SocketAddr],
    acked: &[(String, usize)],
) -> BTreeMap<String, (uuid::Uuid, usize)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut views = Vec::new();
        for &a in addrs {
            views.push(topics(a).await);
        }
        let same = views.iter().all(|v| *v == views[0]);
        let complete = acked.iter().all(|(t, n)| {
            views[0]
                .get(t)
                .is_some_and(|&(_, partitions)| partitions == *n)
        });
        if same && complete {
            return views.swap_remove(0);
        }
        assert!(
            Instant::now() < deadline,
            "nodes disagree or lost (part of) an acknowledged topic: acked {acked:?}, views {views:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn admin(addrs: &[SocketAddr]) -> Admin {
    let client = Client::connect(ClientConfig {
        bootstrap_servers: addrs.iter().map(|a| a.to_string()).collect(),
        client_id: "fault-test".into(),
        request_timeout_ms: 10_000,
        ..ClientConfig::default()
    })
    .await
    .unwrap();
    Admin::new(client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_controller_cannot_commit_and_rejoins() {
    let hosts = Hosts::new(3);
    let mut cluster = TestCluster::start_in(&hosts, 3, &[]);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let old = wait_for_controller(&addrs, 3, &[]).await;
    let mut acked = vec![("before".to_string(), 1)];
    admin(&addrs)
        .await
        .create_topic("before", 1, 1, &[], false)
        .await
        .unwrap();

    hosts.isolate(old as usize);
    let cut = Instant::now();
    // A client on the isolated host asks its controller for a change: the controller cannot
    // reach a majority, so the change must not be acknowledged.
    let isolated = cluster.node(old).addr.to_string();
    let out = Command::new("ip")
        .args(["netns", "exec", &hosts.namespace(old as usize)])
        .arg(env!("CARGO_BIN_EXE_kavka"))
        .args([
            "topics",
            "--bootstrap-server",
            &isolated,
            "--create",
            "--topic",
            "isolated-write",
        ])
        .args(["--partitions", "1"])
        .output()
        .unwrap();
    let isolated_acked = out.status.success();
    eprintln!(
        "isolated write refused after {} ms: {}",
        cut.elapsed().as_millis(),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    assert!(
        !isolated_acked,
        "a minority acknowledged a change: {}",
        String::from_utf8_lossy(&out.stdout)
    );

    let majority: Vec<SocketAddr> = (1..=3)
        .filter(|&n| n != old)
        .map(|n| addrs[(n - 1) as usize])
        .collect();
    let new = wait_for_controller(&majority, 3, &[old]).await;
    admin(&majority)
        .await
        .create_topic("during", 1, 1, &[], false)
        .await
        .unwrap();
    acked.push(("during".into(), 1));

    eprintln!("majority wrote at {} ms", cut.elapsed().as_millis());
    hosts.heal(old as usize);
    let healed = Instant::now();
    let agreed = wait_for_controller(&addrs, 3, &[]).await;
    eprintln!(
        "healed node follows after {} ms",
        healed.elapsed().as_millis()
    );
    assert_eq!(
        agreed, new,
        "the healed node follows the leader elected without it"
    );
    let view = check_converged(&addrs, &acked).await;
    assert!(
        !view.contains_key("isolated-write"),
        "the minority's write survived: {view:?}"
    );
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_controller_is_replaced_and_follows_after_sigcont() {
    let mut cluster = TestCluster::start(3, &[]);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let old = wait_for_controller(&addrs, 3, &[]).await;
    cluster.node(old).signal("-STOP");
    let others: Vec<SocketAddr> = (1..=3)
        .filter(|&n| n != old)
        .map(|n| addrs[(n - 1) as usize])
        .collect();
    let new = wait_for_controller(&others, 3, &[old]).await;
    admin(&others)
        .await
        .create_topic("while-stopped", 3, 1, &[], false)
        .await
        .unwrap();
    cluster.node(old).signal("-CONT");
    assert_eq!(wait_for_controller(&addrs, 3, &[]).await, new);
    check_converged(&addrs, &[("while-stopped".to_string(), 3)]).await;
}

/// Rounds of SIGKILL of the controller in the default run; `KAVKA_FAULT_ROUNDS` asks for more.
fn rounds() -> usize {
    std::env::var("KAVKA_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_topics_survive_controller_kills() {
    // Snapshots every few batches: a restarted node is caught up from the leader's snapshot
    // as well as from its log.
    let mut cluster =
        TestCluster::start(3, &["metadata.log.max.record.bytes.between.snapshots=400"]);
    let mut acked = Vec::new();
    let mut attempted = 0usize;
    for round in 0..rounds() {
        // Ports change at each restart.
        let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
        let controller = wait_for_controller(&addrs, 3, &[]).await;
        // Topics created through every node in turn, the controller killed in the middle.
        for i in 0..6 {
            if i == 3 {
                cluster.node(controller).kill();
            }
            let alive: Vec<SocketAddr> = (1..=3)
                .filter(|&n| i < 3 || n != controller)
                .map(|n| addrs[(n - 1) as usize])
                .collect();
            let via = alive[i % alive.len()];
            let name = format!("r{round}-t{i}");
            attempted += 1;
            let deadline = Instant::now() + Duration::from_secs(20);
            // A client retries a retriable refusal (no controller for a moment) as Kafka's do.
            loop {
                match admin(&[via])
                    .await
                    .create_topic(&name, 1, 1, &[], false)
                    .await
                {
                    Ok(()) => {
                        acked.push((name, 1));
                        break;
                    }
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("{name} via {via}: {e}; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("{name} never created: {e}"),
                }
            }
        }
        cluster.node(controller).restart();
    }
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let view = check_converged(&addrs, &acked).await;
    let logs: Vec<String> = cluster.nodes.iter().map(|n| n.log()).collect();
    let count = |what: &str| logs.iter().map(|l| l.matches(what).count()).sum::<usize>();
    let (written, installed) = (
        count("metadata snapshot written"),
        count("replaced by the quorum leader's snapshot"),
    );
    eprintln!(
        "{attempted} topic creations attempted, {} acknowledged, {} topics on every node; {written} snapshots written, {installed} installed from a leader",
        acked.len(),
        view.len()
    );
    assert!(
        written > 0,
        "the log was never snapshotted: the test misses that path"
    );
}
