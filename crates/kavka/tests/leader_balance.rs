//! Automatic preferred-leader balancing across three `kavka server` processes: the leader of a
//! partition of three replicas is killed, another replica leads, and once the killed broker
//! is back in the ISR the active controller gives the partition back to it on its own
//! (`auto.leader.rebalance.enable`, checked every `leader.imbalance.check.interval.seconds`),
//! with no ElectLeaders request.

mod common;

use std::net::SocketAddr;
use std::time::Instant;

use common::cluster::{wait_for_controller, TestCluster};
use common::cluster_client::{client, wait_for_topic};
use common::replicas::{create, wait_for_state, FAST_REPLICATION};
use kavka_client::Admin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_returning_preferred_leader_gets_its_partition_back_on_its_own() {
    let mut settings = FAST_REPLICATION.to_vec();
    settings.push("leader.imbalance.check.interval.seconds=1");
    let mut cluster = TestCluster::start(3, &settings);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    create(&admin, "balanced", 1).await;
    wait_for_topic(&addrs, "balanced", 1).await;
    let (_, replicas, _) =
        wait_for_state(addrs[0], "balanced", "in sync", |s| s.2.len() == 3).await;
    // (When the preferred replica is also the controller, a new controller decides.)
    let preferred = replicas[0];
    let other = addrs[replicas[1] as usize - 1];
    cluster.node(preferred).kill();
    wait_for_state(other, "balanced", "led elsewhere", |s| {
        s.0 != preferred && s.0 > 0
    })
    .await;
    cluster.node(preferred).restart();
    let back = Instant::now();
    wait_for_state(other, "balanced", "back in the ISR", |s| {
        s.2.contains(&preferred)
    })
    .await;
    let (leader, _, _) = wait_for_state(other, "balanced", "led by its preferred replica", |s| {
        s.0 == preferred
    })
    .await;
    assert_eq!(leader, preferred);
    eprintln!(
        "preferred leader {preferred} leads again {} ms after its restart, with no ElectLeaders",
        back.elapsed().as_millis()
    );
}
