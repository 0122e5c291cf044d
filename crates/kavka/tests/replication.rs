//! Partition replication across three `kavka server` processes: topics with three replicas,
//! acks=all acknowledged only once every ISR member holds the batch, a leader killed with
//! SIGKILL while an idempotent producer (the client's defaults: acks=all) keeps sending — every
//! acknowledged record is read back from the new leader —, the killed broker coming back as a
//! follower and rejoining the ISR, a stopped follower leaving the ISR (min.insync.replicas then
//! refuses acks=all), and an old leader whose unreplicated writes are truncated when it
//! follows the new leader.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::cluster::{find_group_coordinator, wait_for_controller, TestCluster};
use common::cluster_client::{client, consume_all, produce, wait_for_topic};
use common::replicas::{create, kavka_tool, state, wait_for_state, FAST_REPLICATION};

/// Quick fencing and ISR changes, and groups that start at once.
fn settings() -> Vec<&'static str> {
    let mut s = FAST_REPLICATION.to_vec();
    s.push("group.initial.rebalance.delay.ms=0");
    s
}
use kavka_client::{Admin, Producer, ProducerConfig, ProducerRecord};
use kavka_protocol::ErrorCode;

/// Produces to partition 0 of `topic` on its leader `conn` until it answers, or 10 s.
async fn produce_retrying(
    conn: &mut kavka_client::Connection,
    topic: &str,
    acks: i16,
    records: Bytes,
) -> (i16, i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = common::produce(conn, topic, 0, acks, records.clone()).await;
        // Retriable, as clients treat them: the leader may not have applied the image the
        // test saw yet (a new leader, or an ISR that grew back).
        let retriable = [
            ErrorCode::NOT_LEADER_OR_FOLLOWER.code(),
            ErrorCode::LEADER_NOT_AVAILABLE.code(),
            ErrorCode::NOT_ENOUGH_REPLICAS.code(),
        ];
        if !retriable.contains(&answer.0) || Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_the_leader_and_the_isr_follows_the_replicas() {
    let mut cluster = TestCluster::start(3, &settings());
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let all = client(cluster.bootstrap()).await;
    let admin = Admin::new(all.clone());
    create(&admin, "kept", 2).await;
    create(&admin, "strict", 3).await;
    wait_for_topic(&addrs, "kept", 1).await;
    wait_for_topic(&addrs, "strict", 1).await;
    let (leader, replicas, _) =
        wait_for_state(addrs[0], "kept", "fully in sync", |s| s.2.len() == 3).await;
    assert_eq!(replicas.len(), 3);

    // An idempotent producer with the client's defaults (acks=all) keeps sending while the
    // leader is killed; what it was told is acknowledged must all be there.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let producer = Producer::new(all.clone(), ProducerConfig::default())
        .await
        .unwrap();
    let sending = {
        let acked = acked.clone();
        tokio::spawn(async move {
            for i in 0..400 {
                let value = format!("v{i}");
                let mut r = ProducerRecord::new("kept", None, Some(Bytes::from(value.clone())));
                r.partition = Some(0);
                // Acknowledged: the delivery answered, not only queued.
                let Ok(delivery) = producer.send(r).await else {
                    continue;
                };
                if delivery.await.is_ok() {
                    acked.lock().unwrap().push(value);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            producer.close().await.unwrap();
        })
    };
    while acked.lock().unwrap().len() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let killed_at = Instant::now();
    cluster.node(leader).kill();
    let survivor = addrs[(replicas.iter().find(|&&r| r != leader).unwrap() - 1) as usize];
    let (new_leader, _, isr) = wait_for_state(survivor, "kept", "led by a survivor", |s| {
        s.0 != leader && s.0 != -1 && !s.2.contains(&leader)
    })
    .await;
    eprintln!(
        "leader {leader} killed; {new_leader} leads after {} ms, ISR {isr:?}",
        killed_at.elapsed().as_millis()
    );
    sending.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    let mut conn = cluster.node(new_leader).connect().await;
    let read: Vec<String> = common::replicas::read_values(&mut conn, "kept").await;
    let readable: BTreeSet<&String> = read.iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|v| !readable.contains(v)).collect();
    eprintln!(
        "{} acknowledged, {} read, {} lost",
        acked.len(),
        read.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert_eq!(readable.len(), read.len(), "a record read twice");
    assert!(
        acked.len() >= 300,
        "the producer carried on: {}",
        acked.len()
    );

    // The killed broker comes back as a follower, catches up and rejoins the ISR.
    cluster.node(leader).restart();
    let rejoined_at = Instant::now();
    wait_for_state(survivor, "kept", "rejoined", |s| s.2.contains(&leader)).await;
    eprintln!(
        "broker {leader} back in the ISR {} ms after its restart",
        rejoined_at.elapsed().as_millis()
    );
    // kafka-leader-election.sh gives the partition back to its preferred (first) replica.
    assert_eq!(replicas[0], leader, "the first replica led first");
    let bootstrap = survivor.to_string();
    let elect = || {
        kavka_tool(&[
            "leader-election",
            "--bootstrap-server",
            &bootstrap,
            "--election-type",
            "preferred",
            "--topic",
            "kept",
            "--partition",
            "0",
        ])
    };
    assert_eq!(
        elect(),
        "Successfully completed leader election (PREFERRED) for partitions kept-0"
    );
    wait_for_state(survivor, "kept", "led by its preferred replica", |s| {
        s.0 == leader
    })
    .await;
    assert_eq!(
        elect(),
        "Valid replica already elected for partitions kept-0"
    );

    // A follower stopped: after replica.lag.time.max.ms it leaves the ISR; "strict" wants three
    // in-sync replicas, so acks=all is refused there, while acks=1 is still taken.
    let (strict_leader, _, _) =
        wait_for_state(survivor, "strict", "fully in sync", |s| s.2.len() == 3).await;
    let (kept_leader, _, _) = state(survivor, "kept").await;
    let stopped = (1..=3)
        .find(|n| *n != strict_leader && *n != kept_leader)
        .unwrap();
    cluster.node(stopped).signal("-STOP");
    let mut strict = cluster.node(strict_leader).connect().await;
    let stopped_at = Instant::now();
    let (code, _) = common::produce(&mut strict, "strict", 0, -1, common::batch("s", 0, 3)).await;
    assert_eq!(
        code,
        ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND.code(),
        "appended, then the ISR shrank below min.insync.replicas"
    );
    eprintln!(
        "follower {stopped} stopped: out of the ISR, the waiting acks=all answered after {} ms",
        stopped_at.elapsed().as_millis()
    );
    let (code, _) = common::produce(&mut strict, "strict", 0, -1, common::batch("s", 3, 3)).await;
    assert_eq!(code, ErrorCode::NOT_ENOUGH_REPLICAS.code());
    let (code, _) = common::produce(&mut strict, "strict", 0, 1, common::batch("s", 6, 3)).await;
    assert_eq!(code, 0, "acks=1 does not need the ISR");
    let mut kept = cluster.node(kept_leader).connect().await;
    let (code, _) = produce_retrying(&mut kept, "kept", -1, common::batch("k", 0, 3)).await;
    assert_eq!(
        code, 0,
        "two in-sync replicas satisfy min.insync.replicas=2"
    );

    cluster.node(stopped).signal("-CONT");
    wait_for_state(survivor, "strict", "back in sync", |s| s.2.len() == 3).await;
    let (code, _) = produce_retrying(&mut strict, "strict", -1, common::batch("s", 9, 3)).await;
    assert_eq!(code, 0);
    let values: Vec<String> = common::replicas::read_values(&mut strict, "strict").await;
    // s-0..2 were appended (then answered NOT_ENOUGH_REPLICAS_AFTER_APPEND, as in Kafka),
    // s-3..5 refused before the append.
    let expected: Vec<String> = [0, 1, 2, 6, 7, 8, 9, 10, 11]
        .iter()
        .map(|i| format!("s-{i}"))
        .collect();
    assert_eq!(values, expected);
}

/// The records of partition 0 of `topic` in a stopped node's log files.
fn stored_values(dir: &std::path::Path, topic: &str) -> Vec<String> {
    let mut values = Vec::new();
    for file in common::segment_files(&dir.join(format!("{topic}-0"))) {
        let bytes = std::fs::read(file).unwrap();
        for view in kavka_protocol::batch::BatchIter::new(&bytes) {
            let view = view.unwrap();
            for r in kavka_protocol::records::decode_records(&view).unwrap() {
                values.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_leader_truncates_what_was_never_replicated() {
    let mut cluster = TestCluster::start(3, &settings());
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    create(&admin, "split", 1).await;
    wait_for_topic(&addrs, "split", 1).await;
    let (old, _, _) = wait_for_state(addrs[0], "split", "in sync", |s| s.2.len() == 3).await;
    let mut conn = cluster.node(old).connect().await;
    let (code, _) = produce_retrying(&mut conn, "split", -1, common::batch("a", 0, 4)).await;
    assert_eq!(code, 0);

    // Both followers frozen: the leader takes acks=1 writes nobody copies (the quorum is
    // frozen too, so its ISR cannot shrink), then dies.
    let others: Vec<i32> = (1..=3).filter(|&n| n != old).collect();
    for &n in &others {
        cluster.node(n).signal("-STOP");
    }
    // A fetch a follower sent before it froze is held by the leader up to
    // replica.fetch.wait.max.ms (500 ms), and would carry the next writes to its socket:
    // let it be answered first.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (code, _) = common::produce(&mut conn, "split", 0, 1, common::batch("lost", 0, 3)).await;
    assert_eq!(code, 0, "acks=1 answers from the leader alone");
    cluster.node(old).kill();
    for &n in &others {
        cluster.node(n).signal("-CONT");
    }
    let survivor = addrs[(others[0] - 1) as usize];
    let (new_leader, _, _) = wait_for_state(survivor, "split", "led by a survivor", |s| {
        others.contains(&s.0)
    })
    .await;
    let mut conn = cluster.node(new_leader).connect().await;
    let (code, _) = produce_retrying(&mut conn, "split", -1, common::batch("b", 0, 2)).await;
    assert_eq!(code, 0);

    // Back, the old leader follows: its diverged suffix goes, the new leader's records come.
    cluster.node(old).restart();
    wait_for_state(survivor, "split", "rejoined", |s| s.2.contains(&old)).await;
    cluster.node(old).stop();
    let values = stored_values(&cluster.node(old).log_dir(), "split");
    assert_eq!(values, ["a-0", "a-1", "a-2", "a-3", "b-0", "b-1"]);
    assert!(
        cluster.node(old).log().contains("truncated a diverged log"),
        "the old leader truncated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_the_coordinators_broker() {
    let mut settings = settings();
    settings.push("offsets.topic.num.partitions=1");
    let mut cluster = TestCluster::start(3, &settings);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let all = client(cluster.bootstrap()).await;
    create(&Admin::new(all.clone()), "events", 1).await;
    wait_for_topic(&addrs, "events", 1).await;
    produce(&all, "events", 1, 10).await;
    assert_eq!(consume_all(&all, "g", "events", 10).await.len(), 10);
    let (coordinator, replicas, _) = wait_for_state(
        addrs[0],
        "__consumer_offsets",
        "replicated and in sync",
        |s| s.2.len() == 3,
    )
    .await;
    assert_eq!(replicas.len(), 3, "offsets.topic.replication.factor=3");
    assert_eq!(
        find_group_coordinator(addrs[0], "g").await.node_id.0,
        coordinator
    );

    // The coordinator's broker dies: another replica leads __consumer_offsets, loads the
    // group from its copy, and the group resumes after what it had committed.
    cluster.node(coordinator).kill();
    let survivor = addrs[((1..=3).find(|&n| n != coordinator).unwrap() - 1) as usize];
    wait_for_state(survivor, "__consumer_offsets", "led by a survivor", |s| {
        s.0 != coordinator && s.0 != -1
    })
    .await;
    let survivors: Vec<String> = (1..=3)
        .filter(|&n| n != coordinator)
        .map(|n| addrs[(n - 1) as usize].to_string())
        .collect();
    let after = client(survivors).await;
    let producer = Producer::new(after.clone(), ProducerConfig::default())
        .await
        .unwrap();
    let record = ProducerRecord::new("events", None, Some(Bytes::from("late")));
    producer.send(record).await.unwrap().await.unwrap();
    producer.close().await.unwrap();
    let again = consume_all(&after, "g", "events", 1).await;
    assert_eq!(again, BTreeSet::from(["late".to_string()]));
}

/// A consumer that started before the leader changed validates its position (leader epoch 0)
/// with the new leader (KIP-320). The new leader must place epoch 0 even when it appended
/// nothing yet: (-1, -1) tells librdkafka the log was truncated, and with
/// `auto.offset.reset=error` the consumer stops reading the partition for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_places_the_earlier_epochs_before_it_appends() {
    let mut cluster = TestCluster::start(3, &settings());
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let admin = Admin::new(client(cluster.bootstrap()).await);
    create(&admin, "quiet", 2).await;
    wait_for_topic(&addrs, "quiet", 1).await;
    let (first, _, _) = wait_for_state(addrs[0], "quiet", "in sync", |s| s.2.len() == 3).await;
    cluster.node(first).kill();
    let witness = addrs[(first % 3) as usize];
    let (second, _, _) =
        wait_for_state(witness, "quiet", "led again", |s| s.0 >= 0 && s.0 != first).await;
    let mut conn = cluster.node(second).connect().await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = common::offset_for_leader_epoch(&mut conn, "quiet", 0, -1, 0).await;
        if answer.0 != ErrorCode::NOT_LEADER_OR_FOLLOWER.code() || Instant::now() >= deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        answer,
        (ErrorCode::NONE.code(), 0, 0),
        "epoch 0 ends where the new leader's epoch starts"
    );
}
