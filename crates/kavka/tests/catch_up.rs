//! A restarted node of a cluster answers clients only once it has caught up with the metadata
//! quorum, as Kafka's broker opens its listeners only then: before, its image is its own copy
//! of the log, which misses what was decided while it was away. Controller requests sent to
//! it right after the start wait for it to learn the active controller instead of failing
//! with NOT_CONTROLLER.

mod common;

use std::net::SocketAddr;

use common::cluster::{metadata, wait_for_controller, TestCluster};
use kavka_protocol::ErrorCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_answers_from_the_quorum_not_from_its_stale_copy() {
    let mut cluster = TestCluster::start(3, &[]);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let controller = wait_for_controller(&addrs, 3, &[]).await;
    let away = (1..=3).find(|&n| n != controller).unwrap();

    cluster.node(away).kill();
    let mut via_controller = cluster.node(controller).connect().await;
    let code = common::create_topic(&mut via_controller, "while-away", 1).await;
    assert_eq!(
        code,
        ErrorCode::NONE.code(),
        "created without the stopped node"
    );

    cluster.node(away).restart();
    let restarted = cluster.node(away).addr;
    // The first requests go out as soon as the listener accepts.
    let answer = metadata(restarted).await;
    let listed: Vec<&str> = answer
        .topics
        .iter()
        .filter_map(|t| Some(t.name.as_ref()?.as_str()))
        .collect();
    assert!(
        listed.contains(&"while-away"),
        "the restarted node answers what the quorum decided while it was away: {listed:?}"
    );
    assert!(
        answer.brokers.len() == 3,
        "every broker listed: {:?}",
        answer.brokers
    );

    // Once more: this time a controller request comes first.
    cluster.node(away).kill();
    cluster.node(away).restart();
    let mut conn = cluster.node(away).connect().await;
    let code = common::create_topic(&mut conn, "right-after-start", 1).await;
    assert_eq!(
        ErrorCode::from_code(code),
        Some(ErrorCode::NONE),
        "a controller request is forwarded once the restarted node knows the leader"
    );
}
