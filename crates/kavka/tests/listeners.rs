//! Several named listeners, Kafka's (and Docker guides') way: `INTERNAL` and `EXTERNAL`
//! listeners mapped to PLAINTEXT, each with its own advertised endpoint. A client is told the
//! endpoints of the listener it came through (Metadata, DescribeCluster, FindCoordinator), on
//! one node and across a cluster, and produces and consumes through either listener.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use common::cluster::{find_group_coordinator, wait_for_controller, TestCluster};
use common::cluster_client::{client, consume_all, produce, wait_for_topic};
use common::TestBroker;
use kavka_client::{Admin, Connection};
use kavka_protocol::messages::MetadataRequest;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

/// INTERNAL on 127.0.0.1, EXTERNAL advertised as `localhost`, both on ports the OS picks.
const TWO_LISTENERS: &[&str] = &[
    "listeners=INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
    "listener.security.protocol.map=INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
    "inter.broker.listener.name=INTERNAL",
    "advertised.listeners=EXTERNAL://localhost:0",
    "group.initial.rebalance.delay.ms=0",
];

/// The brokers Metadata at `addr` lists: (id, host:port).
async fn brokers(addr: SocketAddr) -> BTreeSet<(i32, String)> {
    let mut conn = Connection::connect(addr, "listeners-test").await.unwrap();
    let request = MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false);
    match conn.send(12, Request::Metadata(request)).await.unwrap() {
        Response::Metadata(m) => m
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect(),
        other => panic!("unexpected {other:?}"),
    }
}

/// The group coordinator's endpoint FindCoordinator at `addr` names.
async fn coordinator(addr: SocketAddr, group: &str) -> String {
    let r = find_group_coordinator(addr, group).await;
    assert_eq!(r.error_code, 0, "{r:?}");
    format!("{}:{}", r.host.as_str(), r.port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_answers_each_listener_with_its_own_endpoint() {
    let b = TestBroker::start(TWO_LISTENERS);
    let internal = b.listener_addr("INTERNAL");
    let external = b.listener_addr("EXTERNAL");
    assert_eq!(
        b.addr, internal,
        "the ready line names the inter-broker listener"
    );
    assert_eq!(
        brokers(internal).await,
        BTreeSet::from([(1, internal.to_string())])
    );
    assert_eq!(
        brokers(external).await,
        BTreeSet::from([(1, format!("localhost:{}", external.port()))])
    );
    // A client given the EXTERNAL address works through it end to end.
    let via = client(vec![format!("localhost:{}", external.port())]).await;
    Admin::new(via.clone())
        .create_topic("ext", 2, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&[internal], "ext", 2).await;
    produce(&via, "ext", 2, 10).await;
    assert_eq!(consume_all(&via, "g-ext", "ext", 20).await.len(), 20);
    assert_eq!(
        coordinator(external, "g-ext").await,
        format!("localhost:{}", external.port())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_tells_each_listener_its_own_endpoints() {
    let cluster = TestCluster::start(3, TWO_LISTENERS);
    let internal: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let external: Vec<SocketAddr> = cluster
        .nodes
        .iter()
        .map(|n| n.listener_addr("EXTERNAL"))
        .collect();
    wait_for_controller(&internal, 3, &[]).await;
    let expect = |addrs: &[SocketAddr], host: &str| -> BTreeSet<(i32, String)> {
        addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (i as i32 + 1, format!("{host}:{}", a.port())))
            .collect()
    };
    for i in 0..3 {
        assert_eq!(brokers(internal[i]).await, expect(&internal, "127.0.0.1"));
        assert_eq!(brokers(external[i]).await, expect(&external, "localhost"));
    }
    // Clients of the EXTERNAL listener only: admin (forwarded to the controller), an
    // idempotent producer, and a consumer group whose coordinator may be any node.
    let via = client(
        external
            .iter()
            .map(|a| format!("localhost:{}", a.port()))
            .collect(),
    )
    .await;
    Admin::new(via.clone())
        .create_topic("spread-ext", 6, 1, &[], false)
        .await
        .unwrap();
    wait_for_topic(&internal, "spread-ext", 6).await;
    produce(&via, "spread-ext", 6, 10).await;
    assert_eq!(
        consume_all(&via, "g-spread", "spread-ext", 60).await.len(),
        60
    );
    let named = coordinator(external[0], "g-spread").await;
    assert!(
        expect(&external, "localhost")
            .iter()
            .any(|(_, e)| *e == named),
        "{named}"
    );
}
