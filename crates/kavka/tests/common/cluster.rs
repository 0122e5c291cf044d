//! A cluster of `kavka server` processes for tests: every node a voter of one metadata quorum
//! (`controller.quorum.voters` on free local ports), formatted with one cluster id; or
//! separate roles, controller-only voters and broker-only observers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kavka_client::Connection;
use kavka_protocol::messages::{MetadataRequest, MetadataResponse};
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

use super::TestBroker;

/// Nodes 1..=n; `nodes[i]` is node `i + 1`.
pub struct TestCluster {
    pub nodes: Vec<TestBroker>,
    pub cluster_id: String,
    pub voters: String,
}

/// Free local ports for the controller channels (bound together, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Node i in host i's namespace, its client listener on port 9092 there.
fn on_host(hosts: &super::netns::Hosts) -> impl Fn(usize) -> (Option<String>, String) + '_ {
    |i| {
        (
            Some(hosts.namespace(i)),
            format!("{}:9092", hosts.address(i)),
        )
    }
}

impl TestCluster {
    /// Starts `n` nodes with `extra` settings each.
    pub fn start(n: usize, extra: &[&str]) -> TestCluster {
        let voters = free_ports(n)
            .iter()
            .enumerate()
            .map(|(i, port)| format!("{}@127.0.0.1:{port}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        TestCluster::launch(voters, n, extra, |_| (None, "127.0.0.1:0".to_string()))
    }

    /// Starts `controllers` controller-only nodes (ids 1..) and `brokers` broker-only nodes
    /// (the ids after), with `extra` settings each; with several brokers the last one finds
    /// the controllers through `controller.quorum.bootstrap.servers` alone. A controller's
    /// address (`addr`) is its controller listener.
    pub fn start_split(controllers: usize, brokers: usize, extra: &[&str]) -> TestCluster {
        let ports = free_ports(controllers);
        let controller = |i: usize| format!("127.0.0.1:{}", ports[i - 1]);
        TestCluster::launch_split(controllers, brokers, extra, &controller, |_| {
            (None, "127.0.0.1:0".to_string())
        })
    }

    /// As [`TestCluster::start_split`], one node per host of `hosts` (controllers first),
    /// each in its namespace, on fixed ports there.
    pub fn start_split_in(
        hosts: &super::netns::Hosts,
        controllers: usize,
        brokers: usize,
        extra: &[&str],
    ) -> TestCluster {
        let controller = |i: usize| format!("{}:9093", hosts.address(i));
        TestCluster::launch_split(controllers, brokers, extra, &controller, on_host(hosts))
    }

    /// Formats and starts the controllers (listening at `controller(i)`) and the brokers;
    /// `place(i)` says where broker i runs (network namespace) and listens.
    fn launch_split(
        controllers: usize,
        brokers: usize,
        extra: &[&str],
        controller: &dyn Fn(usize) -> String,
        place: impl Fn(usize) -> (Option<String>, String),
    ) -> TestCluster {
        let voters = (1..=controllers)
            .map(|i| format!("{i}@{}", controller(i)))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = TestCluster {
            nodes: Vec::new(),
            cluster_id: kavka_broker::storage_tool::random_uuid(),
            voters,
        };
        for i in 1..=controllers + brokers {
            let mut settings = cluster.settings(i as i32, extra);
            let (netns, listener) = place(i);
            if i <= controllers {
                settings.extend([
                    "process.roles=controller".to_string(),
                    "controller.listener.names=CONTROLLER".to_string(),
                    format!("listeners=CONTROLLER://{}", controller(i)),
                ]);
            } else {
                settings.push("process.roles=broker".to_string());
            }
            if i == controllers + brokers && brokers > 1 {
                // The last broker knows the controllers' addresses only (KIP-853's way).
                let servers: Vec<String> = (1..=controllers).map(controller).collect();
                settings.extend([
                    "controller.quorum.voters=".to_string(),
                    format!("controller.quorum.bootstrap.servers={}", servers.join(",")),
                ]);
            }
            let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
            cluster.nodes.push(TestBroker::start_formatted_in(
                netns.as_deref(),
                &listener,
                &cluster.cluster_id,
                &settings,
            ));
        }
        cluster
    }

    /// Starts one node per host of `hosts`, each in its namespace, on fixed ports there.
    pub fn start_in(hosts: &super::netns::Hosts, n: usize, extra: &[&str]) -> TestCluster {
        let voters = (1..=n)
            .map(|i| format!("{i}@{}:9093", hosts.address(i)))
            .collect::<Vec<_>>()
            .join(",");
        TestCluster::launch(voters, n, extra, on_host(hosts))
    }

    /// Formats and starts nodes 1..=n of the quorum `voters`; `place(i)` says where node i
    /// runs (network namespace) and listens.
    fn launch(
        voters: String,
        n: usize,
        extra: &[&str],
        place: impl Fn(usize) -> (Option<String>, String),
    ) -> TestCluster {
        let mut cluster = TestCluster {
            nodes: Vec::new(),
            cluster_id: kavka_broker::storage_tool::random_uuid(),
            voters,
        };
        for i in 1..=n {
            let settings = cluster.settings(i as i32, extra);
            let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
            let (netns, listener) = place(i);
            cluster.nodes.push(TestBroker::start_formatted_in(
                netns.as_deref(),
                &listener,
                &cluster.cluster_id,
                &settings,
            ));
        }
        cluster
    }

    /// The settings of node `id` (`{id}` in an extra setting is the node's id, e.g.
    /// `broker.rack=r{id}`).
    pub fn settings(&self, id: i32, extra: &[&str]) -> Vec<String> {
        let mut s = vec![
            format!("node.id={id}"),
            format!("controller.quorum.voters={}", self.voters),
            // Elections in tests should not wait Kafka's full second.
            "controller.quorum.election.timeout.ms=500".to_string(),
        ];
        s.extend(extra.iter().map(|e| e.replace("{id}", &id.to_string())));
        s
    }

    pub fn node(&mut self, id: i32) -> &mut TestBroker {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Every node's client address.
    pub fn bootstrap(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.to_string()).collect()
    }
}

/// Metadata (v12, all topics) from the node at `addr`.
pub async fn metadata(addr: SocketAddr) -> MetadataResponse {
    let mut conn = Connection::connect(addr, "kavka-cluster-tests")
        .await
        .unwrap();
    let request = MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false);
    match conn.send(12, Request::Metadata(request)).await.unwrap() {
        Response::Metadata(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

/// FindCoordinator (v3) for group `group` at the node at `addr`.
pub async fn find_group_coordinator(
    addr: SocketAddr,
    group: &str,
) -> kavka_protocol::messages::FindCoordinatorResponse {
    use kavka_protocol::messages::FindCoordinatorRequest;
    let mut conn = Connection::connect(addr, "kavka-cluster-tests")
        .await
        .unwrap();
    let request = FindCoordinatorRequest::default()
        .with_key(kavka_protocol::codec::StrBytes::from_string(group.into()));
    match conn
        .send(3, Request::FindCoordinator(request))
        .await
        .unwrap()
    {
        Response::FindCoordinator(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

/// Broker ids node `addr` lists in Metadata.
pub async fn listed(addr: SocketAddr) -> std::collections::BTreeSet<i32> {
    metadata(addr)
        .await
        .brokers
        .iter()
        .map(|b| b.node_id.0)
        .collect()
}

/// The metadata partition as node `addr` answers DescribeQuorum v1 (forwarded to the leader
/// it knows): `None` on an error or when no answer comes within 2 s.
pub async fn quorum_partition(
    addr: SocketAddr,
) -> Option<kavka_protocol::messages::describe_quorum_response::PartitionData> {
    use kavka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    use kavka_protocol::messages::DescribeQuorumRequest;
    let mut conn = Connection::connect(addr, "kavka-cluster-tests")
        .await
        .ok()?;
    let request = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(super::topic_name("__cluster_metadata"))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    // A node may still forward to a leader that just stopped: do not wait out its timeout.
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        conn.send(1, Request::DescribeQuorum(request)),
    );
    match answer.await.ok()?.ok()? {
        Response::DescribeQuorum(r) if r.error_code == 0 => {
            let p = r.topics.into_iter().next()?.partitions.into_iter().next()?;
            (p.error_code == 0).then_some(p)
        }
        _ => None,
    }
}

/// The quorum leader as node `addr` answers DescribeQuorum: `None` while it knows none or
/// cannot reach it within 2 s.
pub async fn quorum_leader(addr: SocketAddr) -> Option<i32> {
    let p = quorum_partition(addr).await?;
    (p.leader_id.0 >= 0).then_some(p.leader_id.0)
}

/// Waits until every node at `addrs` lists `brokers` brokers and reaches one quorum leader
/// that is not in `not`; returns it.
pub async fn wait_for_controller(addrs: &[SocketAddr], brokers: usize, not: &[i32]) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut seen = Vec::new();
        for &a in addrs {
            let m = metadata(a).await;
            seen.push((quorum_leader(a).await, m.brokers.len()));
        }
        if let (Some(first), _) = seen[0] {
            if !not.contains(&first) && seen.iter().all(|&(l, b)| l == Some(first) && b == brokers)
            {
                return first;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no agreed quorum leader: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every node at `addrs` lists each of `endpoints` among its brokers (a restarted
/// node on a new port has registered again).
pub async fn wait_for_endpoints(addrs: &[SocketAddr], endpoints: &[SocketAddr]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    for &a in addrs {
        loop {
            let m = metadata(a).await;
            let listed: Vec<String> = m
                .brokers
                .iter()
                .map(|b| format!("{}:{}", b.host.as_str(), b.port))
                .collect();
            if endpoints.iter().all(|e| listed.contains(&e.to_string())) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{a} lists {listed:?}, not all of {endpoints:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
