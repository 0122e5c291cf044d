//! Kafka's KRaft broker lifecycle over the wire: BrokerRegistration (62) and BrokerHeartbeat
//! (63), sent as raw requests by a test standing in for a broker, to a node that is not the
//! active controller (which forwards them). A registration gets a broker epoch (the same one
//! when retried, INCONSISTENT_CLUSTER_ID for another cluster); the broker starts fenced, stays
//! fenced while its heartbeats ask for it, is unfenced once it heartbeats caught up, fenced
//! again when its heartbeats stop for the session timeout, unfenced when they resume, and
//! fenced for good by a heartbeat that asks to shut down. A stale epoch is refused.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::{listed, quorum_partition, wait_for_controller, TestCluster};
use kavka_client::Connection;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::broker_registration_request::Listener;
use kavka_protocol::messages::{
    BrokerHeartbeatRequest, BrokerHeartbeatResponse, BrokerId, BrokerRegistrationRequest,
    BrokerRegistrationResponse,
};
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

/// The broker the test plays.
const TEST_BROKER: i32 = 9;

/// Fencing within a test's patience.
const SHORT_SESSION: &[&str] = &[
    "broker.session.timeout.ms=1500",
    "broker.heartbeat.interval.ms=100",
];

async fn register(
    addr: SocketAddr,
    cluster_id: &str,
    incarnation: uuid::Uuid,
) -> BrokerRegistrationResponse {
    let request = BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(TEST_BROKER))
        .with_cluster_id(StrBytes::from_string(cluster_id.into()))
        .with_incarnation_id(incarnation)
        .with_listeners(vec![Listener::default()
            .with_name(StrBytes::from_static_str("PLAINTEXT"))
            .with_host(StrBytes::from_static_str("127.0.0.1"))
            .with_port(1)
            .with_security_protocol(0)])
        .with_rack(Some(StrBytes::from_static_str("r9")))
        .with_previous_broker_epoch(-1);
    let mut conn = Connection::connect(addr, "broker-lifecycle-test")
        .await
        .unwrap();
    match conn
        .send(4, Request::BrokerRegistration(request))
        .await
        .unwrap()
    {
        Response::BrokerRegistration(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

async fn heartbeat(
    addr: SocketAddr,
    epoch: i64,
    offset: i64,
    want_fence: bool,
    want_shut_down: bool,
) -> BrokerHeartbeatResponse {
    let request = BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(TEST_BROKER))
        .with_broker_epoch(epoch)
        .with_current_metadata_offset(offset)
        .with_want_fence(want_fence)
        .with_want_shut_down(want_shut_down);
    let mut conn = Connection::connect(addr, "broker-lifecycle-test")
        .await
        .unwrap();
    match conn
        .send(1, Request::BrokerHeartbeat(request))
        .await
        .unwrap()
    {
        Response::BrokerHeartbeat(r) => r,
        other => panic!("unexpected {other:?}"),
    }
}

/// Heartbeats every 100 ms for `period` (holding the quorum's whole log), asking to stay
/// fenced or not; true once the test broker is listed by `addr`, checked after each one.
async fn heartbeat_for(addr: SocketAddr, epoch: i64, want_fence: bool, period: Duration) -> bool {
    let deadline = Instant::now() + period;
    while Instant::now() < deadline {
        let held = quorum_partition(addr).await.map_or(0, |p| p.high_watermark);
        let r = heartbeat(addr, epoch, held, want_fence, false).await;
        assert_eq!(r.error_code, 0, "{r:?}");
        if listed(addr).await.contains(&TEST_BROKER) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_registers_heartbeats_is_fenced_and_shuts_down() {
    let cluster = TestCluster::start(3, SHORT_SESSION);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let leader = wait_for_controller(&addrs, 3, &[]).await;
    let addr = cluster
        .nodes
        .iter()
        .enumerate()
        .find(|&(i, _)| i as i32 + 1 != leader)
        .map(|(_, n)| n.addr)
        .unwrap();

    let other = register(addr, "another-cluster-id-00", uuid::Uuid::new_v4()).await;
    assert_eq!(other.error_code, ErrorCode::INCONSISTENT_CLUSTER_ID.code());
    let incarnation = uuid::Uuid::new_v4();
    let first = register(addr, &cluster.cluster_id, incarnation).await;
    assert_eq!(first.error_code, 0, "{first:?}");
    assert!(first.broker_epoch > 0, "{first:?}");
    let again = register(addr, &cluster.cluster_id, incarnation).await;
    assert_eq!(
        again.broker_epoch, first.broker_epoch,
        "a retried registration"
    );
    let epoch = first.broker_epoch;
    assert!(
        !listed(addr).await.contains(&TEST_BROKER),
        "it starts fenced"
    );

    let stale = heartbeat(addr, epoch - 1, 0, false, false).await;
    assert_eq!(stale.error_code, ErrorCode::STALE_BROKER_EPOCH.code());
    assert!(
        !heartbeat_for(addr, epoch, true, Duration::from_millis(1500)).await,
        "unfenced while its heartbeats ask to stay fenced"
    );
    let started = Instant::now();
    assert!(
        heartbeat_for(addr, epoch, false, Duration::from_secs(10)).await,
        "never unfenced"
    );
    eprintln!(
        "unfenced {} ms after its first caught-up heartbeat",
        started.elapsed().as_millis()
    );

    // Silent for longer than the session: fenced.
    let silent = Instant::now();
    let deadline = silent + Duration::from_secs(10);
    while listed(addr).await.contains(&TEST_BROKER) {
        assert!(Instant::now() < deadline, "a silent broker stays unfenced");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let fenced_after = silent.elapsed();
    assert!(
        fenced_after >= Duration::from_millis(1000),
        "fenced before its session ended: {fenced_after:?}"
    );
    eprintln!(
        "fenced {} ms after its last heartbeat",
        fenced_after.as_millis()
    );
    assert!(
        heartbeat_for(addr, epoch, false, Duration::from_secs(10)).await,
        "heard again, never unfenced"
    );

    // Controlled shutdown: fenced at once, and for good.
    let asked = Instant::now();
    let bye = heartbeat(addr, epoch, 0, false, true).await;
    assert_eq!(bye.error_code, 0, "{bye:?}");
    assert!(bye.is_fenced && bye.should_shut_down, "{bye:?}");
    assert!(asked.elapsed() < Duration::from_secs(5));
    // The follower asked learns of the fencing from the metadata log, a moment later.
    let deadline = Instant::now() + Duration::from_secs(5);
    while listed(addr).await.contains(&TEST_BROKER) {
        assert!(
            Instant::now() < deadline,
            "still listed after its controlled shutdown"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !heartbeat_for(addr, epoch, false, Duration::from_millis(1000)).await,
        "unfenced after its controlled shutdown"
    );
}
