//! Fetch from the closest replica (KIP-392) across three `kavka server` processes, each in its
//! own rack, with `replica.selector.class` Kafka's rack-aware selector: the leader sends a
//! consumer of another rack (Fetch v11+ `rack_id`) to the follower in that rack (preferred read
//! replica, no records), the follower serves it up to its high watermark, and an offset the
//! follower does not have yet is OFFSET_NOT_AVAILABLE (retriable), not out of range.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::cluster::{wait_for_controller, TestCluster};
use common::cluster_client::{client, wait_for_topic};
use common::replicas::{create, wait_for_state, FAST_REPLICATION};
use kavka_client::{Admin, Connection};
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::fetch_response::PartitionData;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

/// Partition 0 of "near" as `conn` answers a consumer's Fetch v12 from `offset` in `rack`.
async fn fetch(conn: &mut Connection, offset: i64, rack: &str) -> PartitionData {
    let Request::Fetch(req) = common::fetch_request("near", 0, offset, 0, 0, 1 << 20) else {
        unreachable!()
    };
    let req = req.with_rack_id(StrBytes::from_string(rack.to_string()));
    match conn.send(12, Request::Fetch(req)).await.unwrap() {
        Response::Fetch(r) => r.responses[0].partitions[0].clone(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_reads_from_the_replica_in_its_rack() {
    let mut settings = FAST_REPLICATION.to_vec();
    settings.extend([
        "broker.rack=r{id}",
        "replica.selector.class=org.apache.kafka.common.replica.RackAwareReplicaSelector",
    ]);
    let mut cluster = TestCluster::start(3, &settings);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    create(&admin, "near", 1).await;
    wait_for_topic(&addrs, "near", 1).await;
    let (leader, replicas, _) =
        wait_for_state(addrs[0], "near", "in sync", |s| s.2.len() == 3).await;
    let follower = *replicas.iter().find(|&&r| r != leader).unwrap();
    let mut on_leader = cluster.node(leader).connect().await;
    for i in 0..10 {
        let (code, _) =
            common::produce(&mut on_leader, "near", 0, -1, common::batch("n", i, 1)).await;
        assert_eq!(code, 0);
    }

    // The leader sends a consumer of the follower's rack there once it holds the offset.
    let rack = format!("r{follower}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let sent = loop {
        let p = fetch(&mut on_leader, 0, &rack).await;
        if p.preferred_read_replica.0 >= 0 || Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sent.error_code, 0);
    assert_eq!(sent.preferred_read_replica.0, follower);
    assert_eq!(
        sent.records.as_ref().map_or(0, Bytes::len),
        0,
        "no records with a redirect"
    );
    // A consumer of the leader's own rack, or of none, reads from the leader.
    let here = fetch(&mut on_leader, 0, &format!("r{leader}")).await;
    assert_eq!(here.preferred_read_replica.0, -1);
    assert!(here.records.as_ref().is_some_and(|r| !r.is_empty()));
    assert_eq!(
        fetch(&mut on_leader, 0, "").await.preferred_read_replica.0,
        -1
    );

    // The follower serves the consumer what it holds below its high watermark.
    let mut on_follower = cluster.node(follower).connect().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = fetch(&mut on_follower, 0, &rack).await;
        assert_eq!(p.error_code, 0);
        if p.high_watermark == 10 {
            assert!(p.records.as_ref().is_some_and(|r| !r.is_empty()));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the follower's high watermark: {}",
            p.high_watermark
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ahead = fetch(&mut on_follower, 50, &rack).await;
    assert_eq!(ahead.error_code, ErrorCode::OFFSET_NOT_AVAILABLE.code());
    // Before v11 a consumer reads from the leader only.
    let Request::Fetch(old) = common::fetch_request("near", 0, 0, 0, 0, 1 << 20) else {
        unreachable!()
    };
    match on_follower.send(10, Request::Fetch(old)).await.unwrap() {
        Response::Fetch(r) => assert_eq!(
            r.responses[0].partitions[0].error_code,
            ErrorCode::NOT_LEADER_OR_FOLLOWER.code()
        ),
        other => panic!("unexpected {other:?}"),
    }
}
