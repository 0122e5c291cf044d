//! Partition reassignment across three `kavka server` processes: a partition moved from one
//! broker to the two others (the new replicas catch up, join the ISR, the move completes, the
//! old replica's log is deleted, every record is still there, read from the new leader), a
//! reassignment listed while its new replica cannot catch up (stopped with SIGSTOP) and then
//! cancelled, and Kafka's refusals. Through the Rust Admin client (the tool's test is in
//! `cli_reassign.rs`).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::{wait_for_controller, TestCluster};
use common::cluster_client::{client, wait_for_topic};
use common::replicas::{read_values, wait_for_state, FAST_REPLICATION};
use kavka_client::admin::{AlterConfigOp, AlterOpType, ConfigResource};
use kavka_client::{Admin, ErrorCode};

/// Waits until no reassignment of `topic` is in progress.
async fn wait_until_done(admin: &Admin, topic: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ongoing = admin
            .list_partition_reassignments(Some(vec![(topic.to_string(), vec![0])]))
            .await
            .unwrap();
        if ongoing.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still reassigning: {ongoing:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Produces `n` single-record batches "prefix-i" to partition 0 of `topic` on `addr`.
async fn fill(addr: SocketAddr, topic: &str, prefix: &str, n: usize) {
    let mut conn = kavka_client::Connection::connect(addr, "test")
        .await
        .unwrap();
    for i in 0..n {
        let (code, _) = common::produce(&mut conn, topic, 0, -1, common::batch(prefix, i, 1)).await;
        assert_eq!(code, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moves_to_other_brokers_and_keeps_every_record() {
    let mut cluster = TestCluster::start(3, FAST_REPLICATION);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    admin
        .create_topic_assigned("moving", (-1, -1), &[vec![1]], &[], false)
        .await
        .unwrap();
    wait_for_topic(&addrs, "moving", 1).await;
    fill(addrs[0], "moving", "m", 200).await;
    let dir = cluster.node(1).log_dir().join("moving-0");
    assert!(dir.exists());

    // 1 -> 2,3: both are added, 1 removed; the move completes once both are in the ISR.
    let answer = admin
        .alter_partition_reassignments(&[("moving".into(), 0, Some(vec![2, 3]))])
        .await
        .unwrap();
    assert_eq!(answer[0].2, ErrorCode::NONE, "{answer:?}");
    wait_until_done(&admin, "moving").await;
    let (leader, replicas, isr) = wait_for_state(addrs[1], "moving", "moved", |s| {
        s.1 == vec![2, 3] && s.2.len() == 2
    })
    .await;
    assert_eq!(leader, 2, "the first target replica leads");
    assert_eq!(isr.into_iter().collect::<Vec<_>>(), replicas);
    let mut conn = kavka_client::Connection::connect(addrs[1], "test")
        .await
        .unwrap();
    let values = read_values(&mut conn, "moving").await;
    let want: Vec<String> = (0..200).map(|i| format!("m-{i}")).collect();
    assert_eq!(values, want, "every record moved");
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() {
        assert!(
            Instant::now() < deadline,
            "the old replica's log stays: {dir:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Refusals: an unknown broker, a broker twice, nothing to cancel, an unknown partition.
    let refused = admin
        .alter_partition_reassignments(&[
            ("moving".into(), 0, Some(vec![2, 9])),
            ("moving".into(), 0, Some(vec![2, 2])),
            ("moving".into(), 0, None),
            ("moving".into(), 5, Some(vec![1])),
            ("nothere".into(), 0, Some(vec![1])),
        ])
        .await
        .unwrap();
    let codes: Vec<ErrorCode> = refused.iter().map(|r| r.2).collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            ErrorCode::INVALID_REPLICA_ASSIGNMENT,
            ErrorCode::NO_REASSIGNMENT_IN_PROGRESS,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        ]
    );
    assert!(refused[0]
        .3
        .as_deref()
        .unwrap()
        .contains("no such broker is registered"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reassignment_that_cannot_catch_up_is_listed_then_cancelled() {
    let mut cluster = TestCluster::start(3, FAST_REPLICATION);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let controller = wait_for_controller(&addrs, 3, &[]).await;
    // The replica that cannot catch up is not the controller (it is stopped); the partition
    // starts on the two others, `a` leading, and moves from `b` to `stuck`.
    let stuck = if controller == 3 { 2 } else { 3 };
    let others: Vec<i32> = (1..=3).filter(|&n| n != stuck).collect();
    let (a, b) = (others[0], others[1]);
    let admin = Admin::new(client(cluster.bootstrap()).await);
    admin
        .create_topic_assigned("stuck", (-1, -1), &[vec![a, b]], &[], false)
        .await
        .unwrap();
    wait_for_topic(&addrs, "stuck", 1).await;
    let on_a = addrs[a as usize - 1];
    wait_for_state(on_a, "stuck", "in sync", |s| s.2.len() == 2).await;
    fill(on_a, "stuck", "s", 20).await;
    cluster.node(stuck).signal("-STOP");
    let answer = admin
        .alter_partition_reassignments(&[("stuck".into(), 0, Some(vec![a, stuck]))])
        .await
        .unwrap();
    assert_eq!(answer[0].2, ErrorCode::NONE);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ongoing = admin.list_partition_reassignments(None).await.unwrap();
    assert_eq!(ongoing.len(), 1, "{ongoing:?}");
    let r = &ongoing[0];
    assert_eq!((r.topic.as_str(), r.partition), ("stuck", 0));
    assert_eq!(
        (r.replicas.clone(), r.adding.clone(), r.removing.clone()),
        (vec![a, stuck, b], vec![stuck], vec![b])
    );
    // Cancelled: back to a and b, without the stuck one.
    let answer = admin
        .alter_partition_reassignments(&[("stuck".into(), 0, None)])
        .await
        .unwrap();
    assert_eq!(answer[0].2, ErrorCode::NONE, "{answer:?}");
    assert!(admin
        .list_partition_reassignments(None)
        .await
        .unwrap()
        .is_empty());
    let (leader, replicas, isr) =
        wait_for_state(on_a, "stuck", "reverted", |s| s.1.len() == 2).await;
    assert_eq!(leader, a);
    assert_eq!(replicas, vec![a, b], "the original replicas");
    assert!(isr.contains(&a) && !isr.contains(&stuck));
    cluster.node(stuck).signal("-CONT");
    let mut conn = kavka_client::Connection::connect(on_a, "test")
        .await
        .unwrap();
    assert_eq!(read_values(&mut conn, "stuck").await.len(), 20);
}

/// Sets `name` = `value` on `resource`.
async fn set(admin: &Admin, resource: ConfigResource, name: &str, value: &str) {
    let op = AlterConfigOp {
        name: name.into(),
        value: Some(value.into()),
        op: AlterOpType::Set,
    };
    admin
        .incremental_alter_configs(&resource, &[op])
        .await
        .unwrap();
}

/// Moves partition 0 of `topic` from broker 1 to broker 2 and returns how long it took.
async fn move_to_2(admin: &Admin, topic: &str) -> Duration {
    let started = Instant::now();
    let answer = admin
        .alter_partition_reassignments(&[(topic.into(), 0, Some(vec![2]))])
        .await
        .unwrap();
    assert_eq!(answer[0].2, ErrorCode::NONE, "{answer:?}");
    wait_until_done(admin, topic).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_reassignment_moves_no_faster_than_its_rate() {
    let cluster = TestCluster::start(3, FAST_REPLICATION);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    // 3 MB on broker 1 in each of two topics; one moves freely, the other throttled.
    let mut conn = kavka_client::Connection::connect(addrs[0], "test")
        .await
        .unwrap();
    for topic in ["free", "throttled"] {
        admin
            .create_topic_assigned(topic, (-1, -1), &[vec![1]], &[], false)
            .await
            .unwrap();
        wait_for_topic(&addrs, topic, 1).await;
        let value = vec![b'x'; 10_000];
        for i in 0..300 {
            let mut b = kavka_protocol::records::BatchBuilder::new(
                kavka_protocol::batch::Compression::None,
            );
            b.append(i, None, Some(&value), &[]);
            let (code, _) = common::produce(&mut conn, topic, 0, 1, b.build().unwrap()).await;
            assert_eq!(code, 0);
        }
    }
    let free = move_to_2(&admin, "free").await;

    // kafka-reassign-partitions.sh --throttle 1000000: both rates on both brokers, the
    // source listed on the leader side and the destination on the follower side.
    for broker in ["1", "2"] {
        for rate in [
            "leader.replication.throttled.rate",
            "follower.replication.throttled.rate",
        ] {
            set(
                &admin,
                ConfigResource::Broker(broker.into()),
                rate,
                "1000000",
            )
            .await;
        }
    }
    let topic = ConfigResource::Topic("throttled".into());
    set(
        &admin,
        topic.clone(),
        "leader.replication.throttled.replicas",
        "0:1",
    )
    .await;
    set(
        &admin,
        topic,
        "follower.replication.throttled.replicas",
        "0:2",
    )
    .await;
    let throttled = move_to_2(&admin, "throttled").await;
    // 3 MB at 1 MB/s: at least 2 s (the window's first second may carry a fetch's worth).
    assert!(
        throttled >= Duration::from_millis(1800),
        "throttled move took {throttled:?} (unthrottled {free:?})"
    );
    assert!(
        throttled > free,
        "throttled {throttled:?}, unthrottled {free:?}"
    );
    eprintln!("3 MB moved: unthrottled in {free:?}, throttled at 1 MB/s in {throttled:?}");
    let mut conn2 = kavka_client::Connection::connect(addrs[1], "test")
        .await
        .unwrap();
    assert_eq!(read_values(&mut conn2, "throttled").await.len(), 300);
}
