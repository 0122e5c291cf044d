//! A partition the leader refuses holds back only itself. While a new topic's metadata
//! spreads, a follower can ask a leader for a partition the leader does not know yet
//! (UNKNOWN_TOPIC_ID); Kafka's fetcher delays just the partitions in error. Were the whole
//! fetcher to back off, every other partition it copies from that leader — and every acks=all
//! produce to them — would wait `replica.fetch.backoff.ms`: here 20 s, four times the produce
//! requests' 5 s timeout.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::{wait_for_controller, TestCluster};
use common::cluster_client::{client, wait_for_topic};
use common::replicas::{create, wait_for_state};
use kavka_client::Admin;
use kavka_protocol::ErrorCode;

/// Topics created while the first one takes acks=all produces; each is a new chance for a
/// follower to hear of a partition before its leader does.
const NEW_TOPICS: usize = 8;
/// Partitions of each new topic (three replicas each, spread over the three nodes).
const NEW_PARTITIONS: i32 = 24;
/// Longest wait for the first acknowledged produce (the back-off is 20 s).
const WARM_UP_MAX: Duration = Duration::from_secs(60);
/// How long acks=all produces go on after each creation.
const PRODUCING: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_topics_does_not_stall_the_replication_of_others() {
    // A long back-off, and an ISR that does not shrink within the test: a stalled follower
    // shows as a produce that times out, not as a smaller ISR.
    let settings = [
        "broker.session.timeout.ms=1500",
        "replica.lag.time.max.ms=60000",
        "replica.fetch.backoff.ms=20000",
    ];
    let mut cluster = TestCluster::start(3, &settings);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    create(&admin, "steady", 3).await;
    wait_for_topic(&addrs, "steady", 1).await;
    let (leader, _, _) = wait_for_state(addrs[0], "steady", "in sync", |s| {
        s.0 >= 0 && s.2.len() == 3
    })
    .await;
    let mut conn = cluster.node(leader).connect().await;
    let records = |i: i64| common::batch("steady", i as usize, 1);
    // The followers may have been refused "steady" itself while it was being created (and
    // then back off 20 s): the first acknowledged produce marks replication as running.
    let deadline = Instant::now() + WARM_UP_MAX;
    let mut offset = loop {
        let (code, base) = common::produce(&mut conn, "steady", 0, -1, records(0)).await;
        if code == ErrorCode::NONE.code() {
            break base + 1;
        }
        assert_eq!(code, ErrorCode::REQUEST_TIMED_OUT.code());
        assert!(Instant::now() < deadline, "steady never replicated");
    };

    for n in 0..NEW_TOPICS {
        let name = format!("new-{n}");
        admin
            .create_topic(&name, NEW_PARTITIONS, 3, &[], false)
            .await
            .unwrap();
        // At once, and on while the new partitions reach the nodes and their followers start.
        let until = Instant::now() + PRODUCING;
        while Instant::now() < until {
            let answer = common::produce(&mut conn, "steady", 0, -1, records(offset)).await;
            assert_eq!(
                answer,
                (ErrorCode::NONE.code(), offset),
                "acks=all to an existing topic while {name} is created"
            );
            offset += 1;
        }
    }
}
