//! Three `kavka server` processes as one cluster: a Raft metadata quorum of all three, broker
//! registration, partitions spread over the brokers, controller requests forwarded from any
//! node, a consumer group and an idempotent producer across nodes; then the controller killed
//! with SIGKILL, a new one elected and writing, and the killed node restarted and caught up.
//! A node formatted with another cluster id is refused by the others.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::{metadata, wait_for_controller, wait_for_endpoints, TestCluster};
use common::cluster_client::{client, consume_all, leaders, produce, wait_for_topic};
use common::TestBroker;
use kavka_client::Admin;
use kavka_protocol::ErrorCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_agree_fail_over_and_catch_up() {
    let mut cluster = TestCluster::start(3, &["group.initial.rebalance.delay.ms=0"]);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let controller = wait_for_controller(&addrs, 3, &[]).await;

    // Created through a node that is not the controller: forwarded.
    let follower = (1..=3).find(|&n| n != controller).unwrap();
    let via = client(vec![addrs[(follower - 1) as usize].to_string()]).await;
    Admin::new(via.clone())
        .create_topic("spread", 6, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&addrs, "spread", 6).await;
    let placed = leaders(addrs[0], "spread").await;
    for &a in &addrs[1..] {
        assert_eq!(
            leaders(a, "spread").await,
            placed,
            "every node sees the same placement"
        );
    }
    let hosts: BTreeSet<i32> = placed.values().copied().collect();
    assert_eq!(
        hosts.len(),
        3,
        "six partitions over three brokers: {placed:?}"
    );

    // A broker that does not lead a partition says so, and the client goes to the leader.
    let (&p0, &l0) = placed.iter().next().unwrap();
    let other = (1..=3).find(|&n| n != l0).unwrap();
    let mut conn = cluster.node(other).connect().await;
    let (code, _) = common::produce(&mut conn, "spread", p0, 1, common::batch("x", 0, 1)).await;
    assert_eq!(code, ErrorCode::NOT_LEADER_OR_FOLLOWER.code());

    let all = client(cluster.bootstrap()).await;
    produce(&all, "spread", 6, 20).await;
    let seen = consume_all(&all, "g1", "spread", 120).await;
    assert_eq!(seen.len(), 120);

    // The controller dies; the two others elect a new one, which writes.
    cluster.node(controller).kill();
    let survivors: Vec<SocketAddr> = (1..=3)
        .filter(|&n| n != controller)
        .map(|n| addrs[(n - 1) as usize])
        .collect();
    let started = Instant::now();
    let new_controller = wait_for_controller(&survivors, 3, &[controller]).await;
    let election_ms = started.elapsed().as_millis();
    eprintln!("new controller {new_controller} after {election_ms} ms");
    // Elected within 2 x the election timeout (500 ms here), plus up to a second for this
    // test's polling of three nodes.
    assert!(
        election_ms < 2 * 500 + 1000,
        "election took {election_ms} ms"
    );
    let survivor_client = client(survivors.iter().map(|a| a.to_string()).collect()).await;
    Admin::new(survivor_client.clone())
        .create_topic("after-failover", 2, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&survivors, "after-failover", 2).await;

    // The killed node comes back, catches up with what was decided without it, and serves
    // its partitions again with their records.
    cluster.node(controller).restart();
    let restarted = cluster.node(controller).addr;
    wait_for_topic(&[restarted], "after-failover", 2).await;
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let agreed = wait_for_controller(&addrs, 3, &[]).await;
    assert_eq!(
        agreed, new_controller,
        "a restarted voter does not depose a healthy leader"
    );
    // It listens on a new port: registered again, every node tells clients so.
    wait_for_endpoints(&addrs, &addrs).await;
    let all = client(cluster.bootstrap()).await;
    let again = consume_all(&all, "g2", "spread", 120).await;
    assert_eq!(
        again, seen,
        "every acknowledged record is readable after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_cluster_is_refused() {
    let mut cluster = TestCluster::start(3, &[]);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    // Node 3 is replaced by a node with the same id, formatted for another cluster.
    cluster.node(3).kill();
    let settings = cluster.settings(3, &[]);
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let other_id = kavka_broker::storage_tool::random_uuid();
    let _stranger = TestBroker::start_formatted(&other_id, &settings);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cluster.nodes[..2].iter().any(|n| {
        n.log()
            .contains("a node of another cluster tried to join: refused")
    }) {
        assert!(Instant::now() < deadline, "the stranger was not refused");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The two real voters still form a quorum without it.
    let c = wait_for_controller(&addrs[..2], 3, &[3]).await;
    assert!(c == 1 || c == 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_broker_is_fenced_and_comes_back() {
    let mut cluster = TestCluster::start(
        3,
        &[
            "broker.session.timeout.ms=1500",
            "broker.heartbeat.interval.ms=100",
        ],
    );
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let controller = wait_for_controller(&addrs, 3, &[]).await;
    let all = client(cluster.bootstrap()).await;
    Admin::new(all.clone())
        .create_topic("fenced", 3, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&addrs, "fenced", 3).await;
    let placed = leaders(addrs[0], "fenced").await;
    let (&partition, &victim) = placed.iter().find(|(_, &l)| l != controller).unwrap();
    let mut conn = cluster.node(victim).connect().await;
    // The victim publishes the topic's image before its partition log is open: for that
    // moment it answers NOT_LEADER_OR_FOLLOWER, which clients retry; so does this test.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let batch = common::batch("kept", 0, 3);
        let (code, offset) = common::produce(&mut conn, "fenced", partition, 1, batch).await;
        if code == ErrorCode::NOT_LEADER_OR_FOLLOWER.code() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert_eq!((code, offset), (0, 0));
        break;
    }
    let first_epoch = leader_epoch(addrs[0], "fenced", partition).await;

    cluster.node(victim).kill();
    let killed = Instant::now();
    let survivor = addrs[(controller - 1) as usize];
    loop {
        let m = metadata(survivor).await;
        let p = m.topics[0]
            .partitions
            .iter()
            .find(|p| p.partition_index == partition)
            .unwrap()
            .clone();
        if m.brokers.len() == 2 && p.leader_id.0 == -1 {
            assert_eq!(p.error_code, ErrorCode::LEADER_NOT_AVAILABLE.code());
            assert!(m.brokers.iter().all(|b| b.node_id.0 != victim));
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "{victim} never fenced"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fenced_ms = killed.elapsed().as_millis();
    eprintln!("broker {victim} fenced {fenced_ms} ms after SIGKILL (session timeout 1500 ms)");
    assert!(fenced_ms >= 1400, "fenced before its session ran out");
    // The other partitions are still served.
    let live = placed
        .iter()
        .find(|(_, &l)| l == controller)
        .map(|(&p, _)| p);
    if let Some(p) = live {
        let mut c = cluster.node(controller).connect().await;
        assert_eq!(
            common::produce(&mut c, "fenced", p, 1, common::batch("live", 0, 1))
                .await
                .0,
            0
        );
    }

    cluster.node(victim).restart();
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_endpoints(&addrs, &addrs).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while leaders(survivor, "fenced").await.get(&partition) != Some(&victim) {
        assert!(Instant::now() < deadline, "{victim} does not lead again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut conn = cluster.node(victim).connect().await;
    // The survivor's image can show the victim leading before the victim has caught up with
    // the metadata quorum and serves it: NOT_LEADER_OR_FOLLOWER until then, which clients retry.
    let deadline = Instant::now() + Duration::from_secs(10);
    while common::fetch(&mut conn, "fenced", partition, 0, 1 << 20)
        .await
        .0
        == ErrorCode::NOT_LEADER_OR_FOLLOWER.code()
    {
        assert!(
            Instant::now() < deadline,
            "{victim} never serves its partition"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let read = common::read_all(&mut conn, "fenced", partition).await;
    assert_eq!(
        read.len(),
        3,
        "the records it took before the kill: {read:?}"
    );

    // Fenced, then unfenced: its leader epoch moved twice. Records of the new epoch follow
    // those of the first, and OffsetForLeaderEpoch tells where the first ended.
    let epoch = leader_epoch(survivor, "fenced", partition).await;
    assert_eq!(epoch, first_epoch + 2);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let batch = common::batch("later", 0, 2);
        let (code, offset) = common::produce(&mut conn, "fenced", partition, 1, batch).await;
        if code != 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        assert_eq!((code, offset), (0, 3));
        break;
    }
    for (asked, answer) in [
        (first_epoch, (0, first_epoch, 3)),
        // No batch was written in the fenced epoch.
        (first_epoch + 1, (0, first_epoch, 3)),
        (epoch, (0, epoch, 5)),
    ] {
        let got =
            common::offset_for_leader_epoch(&mut conn, "fenced", partition, epoch, asked).await;
        assert_eq!(got, answer, "epoch {asked}");
    }
    let fenced =
        common::offset_for_leader_epoch(&mut conn, "fenced", partition, first_epoch, epoch).await;
    assert_eq!(fenced.0, ErrorCode::FENCED_LEADER_EPOCH.code());
    // A fetcher that read offsets 3 and 4 in the first epoch (this log has them in the new
    // one) is told where the first epoch ends; one at 3 reads on.
    assert_eq!(
        common::fetch_after_epoch(&mut conn, "fenced", partition, 5, first_epoch).await,
        (0, first_epoch, 3, 0)
    );
    let (code, _, _, bytes) =
        common::fetch_after_epoch(&mut conn, "fenced", partition, 3, first_epoch).await;
    assert_eq!((code, bytes > 0), (0, true));
}

/// The leader epoch of `topic`'s `partition` in Metadata from `addr`.
async fn leader_epoch(addr: SocketAddr, topic: &str, partition: i32) -> i32 {
    let m = metadata(addr).await;
    let t = m
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == topic));
    t.unwrap()
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .unwrap()
        .leader_epoch
}
