//! Unclean leader election: a partition of two replicas whose ISR shrank to its leader, which
//! then dies, has no leader — the other replica lacks records — until
//! `unclean.leader.election.enable` is set on the topic; then the active controller makes the
//! live replica leader and the records only the dead leader had are lost, as Kafka documents.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::{wait_for_controller, TestCluster};
use common::cluster_client::{client, wait_for_topic};
use common::replicas::{kavka_tool, state, wait_for_state, FAST_REPLICATION};
use kavka_client::Admin;
use kavka_protocol::ErrorCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaderless_partition_is_led_again_only_once_unclean_election_is_enabled() {
    let mut cluster = TestCluster::start(3, FAST_REPLICATION);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    admin.create_topic("dirty", 1, 2, &[], false).await.unwrap();
    wait_for_topic(&addrs, "dirty", 1).await;
    let (leader, replicas, _) =
        wait_for_state(addrs[0], "dirty", "in sync", |s| s.2.len() == 2).await;
    let other = *replicas.iter().find(|&&r| r != leader).unwrap();
    let third = (1..=3).find(|n| !replicas.contains(n)).unwrap();
    let watcher = addrs[(third - 1) as usize];
    let mut conn = cluster.node(leader).connect().await;
    let (code, _) = common::produce(&mut conn, "dirty", 0, -1, common::batch("kept", 0, 2)).await;
    assert_eq!(code, 0);

    // The follower stops: out of the ISR; the leader alone takes a write, then dies.
    cluster.node(other).signal("-STOP");
    wait_for_state(watcher, "dirty", "shrunk to its leader", |s| {
        s.2.len() == 1 && s.2.contains(&leader)
    })
    .await;
    let (code, _) = common::produce(
        &mut conn,
        "dirty",
        0,
        1,
        common::batch("only-on-leader", 0, 1),
    )
    .await;
    assert_eq!(code, 0);
    cluster.node(leader).kill();
    cluster.node(other).signal("-CONT");
    wait_for_state(watcher, "dirty", "leaderless", |s| s.0 == -1).await;

    // The other replica is back but not in the ISR: without unclean election, no leader.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        state(watcher, "dirty").await.0,
        -1,
        "no unclean election by default"
    );

    let bootstrap = watcher.to_string();
    kavka_tool(&[
        "configs",
        "--bootstrap-server",
        &bootstrap,
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        "dirty",
        "--add-config",
        "unclean.leader.election.enable=true",
    ]);
    let enabled = Instant::now();
    let (new, _, isr) = wait_for_state(watcher, "dirty", "led again", |s| s.0 == other).await;
    eprintln!(
        "unclean election of {new} (ISR {isr:?}) {} ms after enabling it",
        enabled.elapsed().as_millis()
    );
    let mut conn = cluster.node(other).connect().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (code, _) =
            common::produce(&mut conn, "dirty", 0, -1, common::batch("new", 0, 1)).await;
        if code == 0 {
            break;
        }
        assert_eq!(code, ErrorCode::NOT_LEADER_OR_FOLLOWER.code());
        assert!(Instant::now() < deadline, "the new leader never serves");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let values: Vec<String> = common::replicas::read_values(&mut conn, "dirty").await;
    assert_eq!(
        values,
        ["kept-0", "kept-1", "new-0"],
        "the dead leader's last write is lost"
    );
}
