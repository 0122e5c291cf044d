//! Kafka's production layout: three controller-only nodes (`process.roles=controller`, the
//! voters) and two broker-only nodes (`process.roles=broker`, observers of the quorum; one
//! told `controller.quorum.voters`, the other `controller.quorum.bootstrap.servers`). The
//! brokers register and host every partition, the controllers none; clients see only the
//! brokers; DescribeQuorum names the voters and the observers; controller requests sent to a
//! broker reach the leader's controller listener; the leader's loss is survived; a killed
//! broker is fenced, and when it restarts it replays its own copy of the metadata log, catches
//! up, registers again and serves its records. A restarted broker serves nothing until it has
//! caught up with the quorum. A broker stopped with SIGTERM (broker-only or combined) is
//! fenced at once by its controlled shutdown, not a session timeout later.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::{
    find_group_coordinator, listed, quorum_leader, wait_for_controller, wait_for_endpoints,
    TestCluster,
};
use common::cluster_client::{client, consume_all, leaders, produce, wait_for_topic};
use kavka_client::{Admin, Connection};
use kavka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kavka_protocol::messages::DescribeQuorumRequest;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

/// Voter and observer ids as DescribeQuorum v2 answers at `addr`.
async fn quorum_members(addr: SocketAddr) -> Option<(Vec<i32>, Vec<i32>)> {
    let mut conn = Connection::connect(addr, "cluster-roles-test").await.ok()?;
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(common::topic_name("__cluster_metadata"))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    match conn.send(2, Request::DescribeQuorum(request)).await.ok()? {
        Response::DescribeQuorum(r) => {
            let p = r.topics.first()?.partitions.first()?;
            if p.error_code != 0 {
                return None;
            }
            let ids = |s: &[kavka_protocol::messages::describe_quorum_response::ReplicaState]| {
                s.iter().map(|r| r.replica_id.0).collect::<Vec<_>>()
            };
            Some((ids(&p.current_voters), ids(&p.observers)))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_and_brokers_in_separate_processes() {
    let mut cluster = TestCluster::start_split(
        3,
        2,
        &[
            "broker.session.timeout.ms=1500",
            "broker.heartbeat.interval.ms=100",
            "group.initial.rebalance.delay.ms=0",
        ],
    );
    let controllers: Vec<SocketAddr> = cluster.nodes[..3].iter().map(|n| n.addr).collect();
    let brokers: Vec<SocketAddr> = cluster.nodes[3..].iter().map(|n| n.addr).collect();
    let leader = wait_for_controller(&brokers, 2, &[]).await;
    assert!((1..=3).contains(&leader), "a controller leads: {leader}");
    for &b in &brokers {
        assert_eq!(
            listed(b).await,
            BTreeSet::from([4, 5]),
            "only brokers are listed"
        );
    }

    // Both brokers observe the quorum, as any controller tells (a follower forwards the
    // question to the leader on its controller listener).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let members = quorum_members(controllers[0]).await;
        if let Some((voters, observers)) = &members {
            if voters == &[1, 2, 3] && observers == &[4, 5] {
                break;
            }
        }
        assert!(Instant::now() < deadline, "quorum members: {members:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A topic created through a broker is placed on the brokers only.
    let via = client(vec![brokers[0].to_string()]).await;
    Admin::new(via.clone())
        .create_topic("split", 4, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&brokers, "split", 4).await;
    let placed = leaders(brokers[0], "split").await;
    let hosts: BTreeSet<i32> = placed.values().copied().collect();
    assert_eq!(hosts, BTreeSet::from([4, 5]), "placement: {placed:?}");
    let all = client(brokers.iter().map(|a| a.to_string()).collect()).await;
    produce(&all, "split", 4, 10).await;
    let seen = consume_all(&all, "g1", "split", 40).await;

    // The leading controller dies; the two others carry on and the brokers follow them.
    cluster.node(leader).kill();
    let new_leader = wait_for_controller(&brokers, 2, &[leader]).await;
    assert!((1..=3).contains(&new_leader) && new_leader != leader);
    Admin::new(all.clone())
        .create_topic("after-failover", 2, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&brokers, "after-failover", 2).await;

    // A broker killed is fenced: the other stops listing it.
    cluster.node(5).kill();
    let deadline = Instant::now() + Duration::from_secs(15);
    while listed(brokers[0]).await != BTreeSet::from([4]) {
        assert!(Instant::now() < deadline, "broker 5 was not fenced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // It restarts from its own copy of the metadata log, catches up with what was decided
    // without it, registers again and serves its partitions' records.
    cluster.node(5).restart();
    assert!(
        cluster.node(5).log().contains("metadata log replayed"),
        "the broker replays its copy"
    );
    let brokers: Vec<SocketAddr> = cluster.nodes[3..].iter().map(|n| n.addr).collect();
    wait_for_topic(&brokers[1..], "after-failover", 2).await;
    wait_for_endpoints(&brokers, &brokers).await;
    assert!(quorum_leader(brokers[1]).await.is_some());
    let all = client(brokers.iter().map(|a| a.to_string()).collect()).await;
    let again = consume_all(&all, "g2", "split", 40).await;
    assert_eq!(again, seen, "every acknowledged record is readable");
}

/// Produces one record to `partition` of `topic` at `addr`; the error code.
async fn produce_code(addr: SocketAddr, topic: &str, partition: i32) -> i16 {
    let Ok(mut conn) = Connection::connect(addr, "cluster-roles-test").await else {
        return -1;
    };
    common::produce(&mut conn, topic, partition, 1, common::batch("gate", 0, 1))
        .await
        .0
}

/// Kills broker `victim` of `cluster`, waits until `witness` no longer lists it, stops every
/// voter of `voters` with SIGSTOP and restarts the victim: its own log still says it leads its
/// partition of `topic`, but it answers no client request until the voters continue and it
/// catches up.
async fn a_restarted_broker_waits_to_catch_up(
    cluster: &mut TestCluster,
    victim: i32,
    witness: i32,
    voters: &[i32],
) {
    let witness_addr = cluster.node(witness).addr;
    let all = client(vec![witness_addr.to_string()]).await;
    Admin::new(all.clone())
        .create_topic("gate", 4, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&[witness_addr], "gate", 4).await;
    let placed = leaders(witness_addr, "gate").await;
    let (&partition, _) = placed
        .iter()
        .find(|(_, &l)| l == victim)
        .expect("a partition on the victim");
    let victim_addr = cluster.node(victim).addr;
    let deadline = Instant::now() + Duration::from_secs(10);
    while produce_code(victim_addr, "gate", partition).await != 0 {
        assert!(
            Instant::now() < deadline,
            "broker {victim} never served its partition"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.node(victim).kill();
    let deadline = Instant::now() + Duration::from_secs(15);
    while listed(witness_addr).await.contains(&victim) {
        assert!(Instant::now() < deadline, "broker {victim} was not fenced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for &id in voters {
        cluster.node(id).signal("-STOP");
    }
    cluster.node(victim).restart();
    let restarted = cluster.node(victim).addr;
    // As Kafka's broker, which opens its listeners only once caught up: the request waits.
    let held = tokio::time::timeout(
        Duration::from_millis(1500),
        produce_code(restarted, "gate", partition),
    )
    .await;
    assert!(
        held.is_err(),
        "a broker behind the quorum answers nothing: {held:?}"
    );
    for &id in voters {
        cluster.node(id).signal("-CONT");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while produce_code(restarted, "gate", partition).await != 0 {
        assert!(
            Instant::now() < deadline,
            "broker {victim} did not serve after catching up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(cluster
        .node(victim)
        .log()
        .contains("caught up with the metadata quorum"));
}

/// Fencing within a test's patience.
const SHORT_SESSION: &[&str] = &[
    "broker.session.timeout.ms=1500",
    "broker.heartbeat.interval.ms=100",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_broker_only_node_serves_once_caught_up() {
    let mut cluster = TestCluster::start_split(3, 2, SHORT_SESSION);
    let brokers: Vec<SocketAddr> = cluster.nodes[3..].iter().map(|n| n.addr).collect();
    wait_for_controller(&brokers, 2, &[]).await;
    a_restarted_broker_waits_to_catch_up(&mut cluster, 5, 4, &[1, 2, 3]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_combined_node_serves_once_caught_up() {
    let mut cluster = TestCluster::start(3, SHORT_SESSION);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let leader = wait_for_controller(&addrs, 3, &[]).await;
    let victim = (1..=3).find(|&n| n != leader).unwrap();
    let other = (1..=3).find(|&n| n != leader && n != victim).unwrap();
    // The two others stop: the restarted voter cannot learn the leader's commit index.
    a_restarted_broker_waits_to_catch_up(&mut cluster, victim, leader, &[leader, other]).await;
}

/// Stops broker `victim` of `cluster` with SIGTERM and checks that node `witness` stops
/// listing it well within the (long) session timeout, that its partitions lose their leader,
/// and that it comes back when restarted.
async fn stopped_broker_is_fenced_at_once(cluster: &mut TestCluster, victim: i32, witness: i32) {
    let witness_addr = cluster.node(witness).addr;
    let all = client(vec![witness_addr.to_string()]).await;
    Admin::new(all.clone())
        .create_topic("shutdown", 4, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&[witness_addr], "shutdown", 4).await;
    let stopped_at = Instant::now();
    cluster.node(victim).stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    while listed(witness_addr).await.contains(&victim) {
        assert!(Instant::now() < deadline, "broker {victim} is still listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "broker {victim} unlisted {} ms after SIGTERM",
        stopped_at.elapsed().as_millis()
    );
    let placed = leaders(witness_addr, "shutdown").await;
    assert!(
        !placed.values().any(|&l| l == victim),
        "no partition names the stopped broker: {placed:?}"
    );
    assert!(cluster
        .node(victim)
        .log()
        .contains("controlled shutdown: fenced by the controller"));
    cluster.node(victim).restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !listed(witness_addr).await.contains(&victim) {
        assert!(
            Instant::now() < deadline,
            "broker {victim} did not come back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The session timeout is a minute: only a controlled shutdown fences within the test.
const LONG_SESSION: &[&str] = &[
    "broker.session.timeout.ms=60000",
    "broker.heartbeat.interval.ms=100",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_only_node_stopping_is_fenced_at_once() {
    let mut cluster = TestCluster::start_split(3, 2, LONG_SESSION);
    let brokers: Vec<SocketAddr> = cluster.nodes[3..].iter().map(|n| n.addr).collect();
    wait_for_controller(&brokers, 2, &[]).await;
    stopped_broker_is_fenced_at_once(&mut cluster, 5, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_combined_node_stopping_is_fenced_at_once() {
    let mut cluster = TestCluster::start(3, LONG_SESSION);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let leader = wait_for_controller(&addrs, 3, &[]).await;
    let victim = (1..=3).find(|&n| n != leader).unwrap();
    stopped_broker_is_fenced_at_once(&mut cluster, victim, leader).await;
}

/// Broker ids and whether fenced, as DescribeCluster v2 with `include_fenced_brokers` at
/// `addr` lists them.
async fn described(addr: SocketAddr) -> Vec<(i32, bool)> {
    use kavka_protocol::messages::DescribeClusterRequest;
    let mut conn = Connection::connect(addr, "cluster-roles-test")
        .await
        .unwrap();
    let request = DescribeClusterRequest::default()
        .with_endpoint_type(1)
        .with_include_fenced_brokers(true);
    match conn
        .send(2, Request::DescribeCluster(request))
        .await
        .unwrap()
    {
        Response::DescribeCluster(r) => {
            let mut b: Vec<(i32, bool)> = r
                .brokers
                .iter()
                .map(|b| (b.broker_id.0, b.is_fenced))
                .collect();
            b.sort_unstable();
            b
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// `kavka cluster ARGS`: exit success, stdout, stderr.
fn cluster_tool(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kavka"))
        .arg("cluster")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_broker_is_unregistered_with_kafka_cluster_sh() {
    let mut cluster = TestCluster::start_split(3, 2, SHORT_SESSION);
    let brokers: Vec<SocketAddr> = cluster.nodes[3..].iter().map(|n| n.addr).collect();
    wait_for_controller(&brokers, 2, &[]).await;
    let via = brokers[0].to_string();
    let (ok, out, _) = cluster_tool(&["cluster-id", "-b", &via]);
    assert!(ok);
    assert_eq!(out.trim(), format!("Cluster ID: {}", cluster.cluster_id));

    // Killed, broker 5 is fenced but still registered; unregistered, it is gone.
    cluster.node(5).kill();
    let deadline = Instant::now() + Duration::from_secs(15);
    while described(brokers[0]).await != [(4, false), (5, true)] {
        assert!(Instant::now() < deadline, "broker 5 was not fenced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (ok, out, err) = cluster_tool(&["unregister", "--bootstrap-server", &via, "--id", "5"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Broker 5 is no longer registered.");
    assert_eq!(described(brokers[0]).await, [(4, false)]);
    let (ok, _, err) = cluster_tool(&["unregister", "-b", &via, "-i", "9"]);
    assert!(!ok);
    assert!(err.contains("not registered"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    // Started again, it registers again.
    cluster.node(5).restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    while described(brokers[0]).await != [(4, false), (5, false)] {
        assert!(Instant::now() < deadline, "broker 5 did not register again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The node FindCoordinator at `addr` names for group `group`, or the error code.
async fn coordinator_of(addr: SocketAddr, group: &str) -> Result<i32, i16> {
    let r = find_group_coordinator(addr, group).await;
    if r.error_code == 0 {
        Ok(r.node_id.0)
    } else {
        Err(r.error_code)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_gives_up_its_shard_with_its_leadership_and_takes_it_back() {
    let mut cluster = TestCluster::start_split(
        3,
        2,
        &[
            "broker.session.timeout.ms=1500",
            "broker.heartbeat.interval.ms=100",
            "group.initial.rebalance.delay.ms=0",
            "offsets.topic.num.partitions=4",
            // One replica, so that the partitions' leadership comes back to this broker with
            // its registration (replicated, it would stay with the other replica: no
            // preferred leader election yet); tests/replication.rs covers the replicated case.
            "offsets.topic.replication.factor=1",
        ],
    );
    let brokers: Vec<SocketAddr> = cluster.nodes[3..].iter().map(|n| n.addr).collect();
    wait_for_controller(&brokers, 2, &[]).await;
    let all = client(brokers.iter().map(|a| a.to_string()).collect()).await;
    Admin::new(all.clone())
        .create_topic("moves", 2, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&brokers, "moves", 2).await;
    produce(&all, "moves", 2, 5).await;
    assert_eq!(consume_all(&all, "g-move", "moves", 10).await.len(), 10);
    let c = coordinator_of(brokers[0], "g-move").await.unwrap();
    let c_addr = cluster.node(c).addr;

    // The coordinator's registration is removed while it runs: fenced first, it leads
    // nothing, so its shards are given up; it registers again, is unfenced once caught up,
    // leads its partitions again and takes its shards back, replaying them.
    let via = brokers[0].to_string();
    let (ok, _, err) = cluster_tool(&["unregister", "-b", &via, "--id", &c.to_string()]);
    assert!(ok, "{err}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = cluster.node(c).log();
        if log.contains("coordinator shard given up")
            && log.contains("group coordinator loaded the partitions it now leads")
            && coordinator_of(c_addr, "g-move").await == Ok(c)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the shard did not come back:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed(brokers[0]).await, BTreeSet::from([4, 5]));
    let led: BTreeSet<i32> = leaders(brokers[0], "moves")
        .await
        .values()
        .copied()
        .collect();
    assert!(!led.contains(&-1), "every partition led again: {led:?}");
    // The group's committed offsets were replayed: only a new record is read.
    let producer = kavka_client::Producer::new(all.clone(), Default::default())
        .await
        .unwrap();
    let record = kavka_client::ProducerRecord::new("moves", None, Some("late".into()));
    producer.send(record).await.unwrap().await.unwrap();
    producer.close().await.unwrap();
    let again = consume_all(&all, "g-move", "moves", 1).await;
    assert_eq!(again, BTreeSet::from(["late".to_string()]));
}
