//! Replication under faults, Jepsen style (`common/jepsen.rs`): librdkafka's idempotent
//! producer and two consumers run against a topic of three partitions, three replicas each,
//! `min.insync.replicas=2`, while a seeded nemesis kills leaders with SIGKILL, pauses followers
//! with SIGSTOP, restarts every broker in turn, kills the active controller while it also
//! leads partitions, and takes two brokers of three down. After healing, the checker verifies
//! no acknowledged record is lost, none is stored twice, and every consumer read each
//! partition in rising offsets and only records still there. (A leader cut off by a network
//! partition is `replication_faults.rs`; unclean elections `replication_unclean.rs`.)
//!
//! Each scenario runs `KAVKA_NEMESIS_SEEDS` seeds (default 2; `KAVKA_NEMESIS_SEED=n` runs one)
//! for a bounded time.

mod common;
#[path = "common/jepsen.rs"]
mod jepsen;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::cluster::{metadata, quorum_leader, wait_for_controller, TestCluster};
use common::cluster_client::{client, wait_for_topic};
use common::replicas::FAST_REPLICATION;
use jepsen::{Rng, Workload};
use kavka_client::Admin;

const TOPIC: &str = "jepsen";
const PARTITIONS: i32 = 3;
/// Records per second the producer sends.
const RATE_PER_S: u32 = 300;

/// Partition -> (leader, ISR), as the live node `node` of `cluster` tells it.
async fn states(cluster: &mut TestCluster, node: i32) -> BTreeMap<i32, (i32, Vec<i32>)> {
    let m = metadata(cluster.node(node).addr).await;
    m.topics
        .iter()
        .filter(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC))
        .flat_map(|t| &t.partitions)
        .map(|p| {
            let isr = p.isr_nodes.iter().map(|b| b.0).collect();
            (p.partition_index, (p.leader_id.0, isr))
        })
        .collect()
}

/// Waits until every partition is led and its ISR holds `replicas` brokers.
async fn wait_in_sync(cluster: &mut TestCluster, node: i32, replicas: usize) {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let s = states(cluster, node).await;
        if s.len() == PARTITIONS as usize
            && s.values().all(|(l, isr)| *l >= 0 && isr.len() == replicas)
        {
            return;
        }
        assert!(Instant::now() < deadline, "never back in sync: {s:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A cluster (`split`: 3 controller-only and 3 broker-only nodes, else 3 combined nodes) with
/// the topic created and in sync, and the workload running.
async fn start(split: bool) -> (TestCluster, Workload, Vec<i32>) {
    let mut cluster = if split {
        TestCluster::start_split(3, 3, FAST_REPLICATION)
    } else {
        TestCluster::start(3, FAST_REPLICATION)
    };
    let brokers: Vec<i32> = if split { vec![4, 5, 6] } else { vec![1, 2, 3] };
    let addrs: Vec<_> = brokers.iter().map(|&b| cluster.node(b).addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(addrs.iter().map(|a| a.to_string()).collect()).await);
    let configs = [("min.insync.replicas".to_string(), "2".to_string())];
    admin
        .create_topic(TOPIC, PARTITIONS, 3, &configs, false)
        .await
        .unwrap();
    wait_for_topic(&addrs, TOPIC, PARTITIONS as usize).await;
    wait_in_sync(&mut cluster, brokers[0], 3).await;
    let bootstrap: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let workload = Workload::start(&bootstrap.join(","), TOPIC, PARTITIONS, 2, RATE_PER_S);
    tokio::time::sleep(Duration::from_secs(1)).await;
    (cluster, workload, brokers)
}

/// Heals, stops the workload, reads the topic and checks the history.
async fn finish(
    mut cluster: TestCluster,
    workload: Workload,
    brokers: &[i32],
    name: &str,
    seed: u64,
) {
    wait_in_sync(&mut cluster, brokers[0], 3).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let history = tokio::task::spawn_blocking(move || workload.finish())
        .await
        .unwrap();
    let bootstrap: Vec<String> = brokers
        .iter()
        .map(|&b| cluster.node(b).addr.to_string())
        .collect();
    let log = tokio::task::spawn_blocking(move || {
        jepsen::read_all(&bootstrap.join(","), TOPIC, PARTITIONS)
    })
    .await
    .unwrap();
    match jepsen::check(&history, &log) {
        Ok(stats) => {
            eprintln!("{name} seed {seed}: {stats:?}");
            assert!(stats.acked > 100, "too little was acknowledged: {stats:?}");
        }
        Err(anomalies) => panic!(
            "{name} seed {seed}: {} anomalies:\n{}",
            anomalies.len(),
            anomalies.join("\n")
        ),
    }
}

/// The client addresses of `brokers` now (a restart picks a new port).
fn addrs(cluster: &mut TestCluster, brokers: &[i32]) -> Vec<std::net::SocketAddr> {
    brokers.iter().map(|&b| cluster.node(b).addr).collect()
}

/// A node of `brokers` other than `not`, from the seed.
fn other(rng: &mut Rng, brokers: &[i32], not: &[i32]) -> i32 {
    let candidates: Vec<i32> = brokers
        .iter()
        .copied()
        .filter(|b| !not.contains(b))
        .collect();
    candidates[rng.range(0, candidates.len() as u64) as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_killed_under_load() {
    for seed in jepsen::seeds(2) {
        let mut rng = Rng::new(seed);
        let (mut cluster, workload, brokers) = start(false).await;
        for _ in 0..2 {
            let partition = rng.range(0, PARTITIONS as u64) as i32;
            let witness = brokers[0];
            let leader = states(&mut cluster, witness).await[&partition].0;
            cluster.node(leader).kill();
            tokio::time::sleep(Duration::from_millis(rng.range(500, 1500))).await;
            cluster.node(leader).restart();
            let alive = other(&mut rng, &brokers, &[leader]);
            wait_in_sync(&mut cluster, alive, 3).await;
        }
        finish(cluster, workload, &brokers, "leaders killed", seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_paused_leave_and_rejoin_the_isr() {
    for seed in jepsen::seeds(2) {
        let mut rng = Rng::new(seed);
        let (mut cluster, workload, brokers) = start(false).await;
        for _ in 0..2 {
            let partition = rng.range(0, PARTITIONS as u64) as i32;
            let leader = states(&mut cluster, brokers[0]).await[&partition].0;
            let follower = other(&mut rng, &brokers, &[leader]);
            cluster.node(follower).signal("-STOP");
            let paused = Instant::now();
            // Past replica.lag.time.max.ms (1 s): the leader drops it from the ISR.
            let deadline = paused + Duration::from_secs(10);
            loop {
                let isr = &states(&mut cluster, leader).await[&partition].1;
                if !isr.contains(&follower) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{follower} never left the ISR of {partition}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.range(0, 1000))).await;
            cluster.node(follower).signal("-CONT");
            wait_in_sync(&mut cluster, leader, 3).await;
        }
        finish(cluster, workload, &brokers, "followers paused", seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broker_restarted_in_turn() {
    for seed in jepsen::seeds(2) {
        let mut rng = Rng::new(seed);
        let (mut cluster, workload, brokers) = start(false).await;
        let mut order = brokers.clone();
        for i in (1..order.len()).rev() {
            let j = rng.range(0, i as u64 + 1) as usize;
            order.swap(i, j);
        }
        for b in order {
            cluster.node(b).stop();
            cluster.node(b).restart();
            wait_in_sync(&mut cluster, b, 3).await;
        }
        finish(cluster, workload, &brokers, "rolling restart", seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_active_controller_killed_while_it_leads_partitions() {
    for seed in jepsen::seeds(2) {
        let mut rng = Rng::new(seed);
        let (mut cluster, workload, brokers) = start(false).await;
        for _ in 0..2 {
            let controller = wait_for_controller(&addrs(&mut cluster, &brokers), 3, &[]).await;
            cluster.node(controller).kill();
            // The new controller elects the partitions' new leaders and fences the old one.
            let alive = other(&mut rng, &brokers, &[controller]);
            let deadline = Instant::now() + Duration::from_secs(20);
            while quorum_leader(cluster.node(alive).addr)
                .await
                .is_none_or(|l| l == controller)
            {
                assert!(Instant::now() < deadline, "no new controller");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.range(500, 1500))).await;
            cluster.node(controller).restart();
            wait_in_sync(&mut cluster, alive, 3).await;
        }
        finish(cluster, workload, &brokers, "controller killed", seed).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_brokers_of_three_down_refuse_acks_all_and_lose_nothing() {
    for seed in jepsen::seeds(1) {
        let mut rng = Rng::new(seed);
        // Controllers apart, so that the quorum lives while two brokers are down.
        let (mut cluster, workload, brokers) = start(true).await;
        let survivor = brokers[rng.range(0, 3) as usize];
        let down: Vec<i32> = brokers.iter().copied().filter(|&b| b != survivor).collect();
        for &b in &down {
            cluster.node(b).kill();
        }
        // The survivor leads everything with an ISR of one: min.insync.replicas=2 refuses.
        wait_in_sync(&mut cluster, survivor, 1).await;
        let mut conn = cluster.node(survivor).connect().await;
        let (code, _) = common::produce(&mut conn, TOPIC, 0, -1, common::batch("x", 0, 1)).await;
        assert_eq!(code, kavka_client::ErrorCode::NOT_ENOUGH_REPLICAS.code());
        tokio::time::sleep(Duration::from_millis(rng.range(1000, 2000))).await;
        for &b in &down {
            cluster.node(b).restart();
        }
        finish(cluster, workload, &brokers, "two brokers down", seed).await;
    }
}
