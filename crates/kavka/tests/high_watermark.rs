//! The high watermark checkpoint (`replication-offset-checkpoint`): a leader restarted while a
//! member of its ISR is still down serves its consumers what was committed before, at once.
//! Without the checkpoint its high watermark would start at the log start and stay there
//! until the missing member came back or was fenced (here 20 s away).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::{wait_for_controller, TestCluster};
use common::cluster_client::{client, wait_for_topic};
use common::replicas::{create, wait_for_state};
use kavka_client::Admin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_leader_serves_what_was_committed_before_its_followers_return() {
    let settings = [
        "broker.session.timeout.ms=20000",
        "replica.lag.time.max.ms=30000",
        "replica.high.watermark.checkpoint.interval.ms=100",
    ];
    let mut cluster = TestCluster::start(3, &settings);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    create(&admin, "hw", 1).await;
    wait_for_topic(&addrs, "hw", 1).await;
    let (leader, replicas, _) = wait_for_state(addrs[0], "hw", "in sync", |s| s.2.len() == 3).await;
    let on_leader = addrs[leader as usize - 1];
    let mut conn = kavka_client::Connection::connect(on_leader, "test")
        .await
        .unwrap();
    for i in 0..50 {
        let (code, _) = common::produce(&mut conn, "hw", 0, -1, common::batch("h", i, 1)).await;
        assert_eq!(code, 0);
    }
    // A few checkpoint intervals, then every node dies at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for id in 1..=3 {
        cluster.node(id).kill();
    }
    // The leader and one follower come back; the other follower stays down, in the ISR.
    let away = *replicas.iter().find(|&&r| r != leader).unwrap();
    for id in (1..=3).filter(|&id| id != away) {
        cluster.node(id).restart();
    }
    // A restart listens on a new port.
    let on_leader = cluster.node(leader).addr;
    let deadline = Instant::now() + Duration::from_secs(10);
    let hw = loop {
        let mut conn = kavka_client::Connection::connect(on_leader, "test")
            .await
            .unwrap();
        let (code, hw, _) = common::fetch(&mut conn, "hw", 0, 0, 1 << 20).await;
        if code == 0 {
            break hw;
        }
        assert!(Instant::now() < deadline, "the leader never served: {code}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        hw, 50,
        "the checkpointed high watermark, with a member still away"
    );
    let mut conn = kavka_client::Connection::connect(on_leader, "test")
        .await
        .unwrap();
    assert_eq!(common::read_all(&mut conn, "hw", 0).await.len(), 50);
}
