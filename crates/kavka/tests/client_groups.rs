//! kavka-client's consumer groups against a real broker: two members splitting a topic with
//! each assignor, commits and resuming, and the admin's group calls.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kavka_client::{
    Admin, AssignorKind, Client, ClientConfig, Consumer, ConsumerConfig, ErrorCode, OffsetReset,
    Producer, ProducerConfig, ProducerRecord,
};
use kavka_testkit::Broker;

const GROUP_BROKER: &[&str] = &[
    "group.initial.rebalance.delay.ms=0",
    "offsets.topic.num.partitions=3",
];

async fn client(broker: &Broker, client_id: &str) -> Client {
    Client::connect(ClientConfig {
        bootstrap_servers: vec![broker.bootstrap()],
        client_id: client_id.into(),
        request_timeout_ms: 15_000,
        ..ClientConfig::default()
    })
    .await
    .unwrap()
}

fn group_config(group: &str, assignor: AssignorKind) -> ConsumerConfig {
    ConsumerConfig {
        group_id: Some(group.into()),
        auto_offset_reset: OffsetReset::Earliest,
        session_timeout_ms: 10_000,
        heartbeat_interval_ms: 100,
        rebalance_timeout_ms: 15_000,
        assignment_strategy: vec![assignor],
        ..ConsumerConfig::default()
    }
}

/// `count` records on each partition of `topic`, values "<prefix>p<partition>-<i>".
async fn produce(client: &Client, topic: &str, partitions: i32, count: usize, prefix: &str) {
    let producer = Producer::new(client.clone(), ProducerConfig::default())
        .await
        .unwrap();
    for p in 0..partitions {
        for i in 0..count {
            let mut r =
                ProducerRecord::new(topic, None, Some(Bytes::from(format!("{prefix}p{p}-{i}"))));
            r.partition = Some(p);
            producer.send(r).await.unwrap();
        }
    }
    producer.close().await.unwrap();
}

/// Polls `consumer` until `done` says so about its assignment, or panics after 30 s.
async fn poll_until(
    consumer: &mut Consumer,
    seen: &mut Vec<String>,
    done: impl Fn(&[(String, i32)]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            seen.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
        }
        if done(&consumer.assignment()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "assignment {:?}",
            consumer.assignment()
        );
    }
}

async fn two_members_split(assignor: AssignorKind) {
    let broker = common::in_process(GROUP_BROKER).await;
    let admin = Admin::new(client(&broker, "admin").await);
    let topic = format!("split-{}", assignor.name());
    let group = format!("group-{}", assignor.name());
    admin.create_topic(&topic, 4, 1, &[], false).await.unwrap();
    produce(admin.client(), &topic, 4, 5, "old-").await;

    let config = group_config(&group, assignor);
    let mut a = Consumer::new(client(&broker, "member-a").await, config.clone())
        .await
        .unwrap();
    a.subscribe(vec![topic.clone()]).await.unwrap();
    let mut seen_a = Vec::new();
    poll_until(&mut a, &mut seen_a, |asg| asg.len() == 4).await;

    let mut b = Consumer::new(client(&broker, "member-b").await, config)
        .await
        .unwrap();
    b.subscribe(vec![topic.clone()]).await.unwrap();
    let mut seen_b = Vec::new();
    let task_b = tokio::spawn(async move {
        poll_until(&mut b, &mut seen_b, |asg| asg.len() == 2).await;
        (b, seen_b)
    });
    poll_until(&mut a, &mut seen_a, |asg| asg.len() == 2).await;
    let (mut b, mut seen_b) = task_b.await.unwrap();

    let (asg_a, asg_b) = (a.assignment(), b.assignment());
    let all: BTreeSet<i32> = asg_a.iter().chain(&asg_b).map(|(_, p)| *p).collect();
    assert_eq!(all, (0..4).collect(), "{asg_a:?} {asg_b:?}");
    let parts = |asg: &[(String, i32)]| asg.iter().map(|(_, p)| *p).collect::<Vec<_>>();
    for asg in [&asg_a, &asg_b] {
        let ps = parts(asg);
        match assignor {
            // Range: consecutive partitions; roundrobin: every other one.
            AssignorKind::Range => assert_eq!(ps[1], ps[0] + 1, "{ps:?}"),
            AssignorKind::RoundRobin => assert_eq!(ps[1], ps[0] + 2, "{ps:?}"),
        }
    }

    // New records go to both members; everything produced is read at least once.
    produce(admin.client(), &topic, 4, 5, "new-").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut all_seen: BTreeSet<String> = BTreeSet::new();
    while all_seen.len() < 40 && Instant::now() < deadline {
        for (c, seen) in [(&mut a, &mut seen_a), (&mut b, &mut seen_b)] {
            for r in c.poll(Duration::from_millis(100)).await.unwrap() {
                seen.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
            }
        }
        all_seen = seen_a.iter().chain(&seen_b).cloned().collect();
    }
    assert_eq!(all_seen.len(), 40, "distinct values read");
    // Both members read new records from their own partitions.
    for (asg, seen) in [(&asg_a, &seen_a), (&asg_b, &seen_b)] {
        for (_, p) in asg.iter() {
            assert!(
                seen.iter().any(|v| v.starts_with(&format!("new-p{p}-"))),
                "{seen:?}"
            );
        }
    }

    let described = admin
        .describe_groups(std::slice::from_ref(&group))
        .await
        .unwrap();
    assert_eq!(described[0].state, "Stable");
    assert_eq!(described[0].protocol, assignor.name());
    assert_eq!(described[0].members.len(), 2);
    for m in &described[0].members {
        assert_eq!(m.assignment.len(), 1);
        assert_eq!(m.assignment[0].1.len(), 2);
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
    let described = admin.describe_groups(&[group]).await.unwrap();
    assert_eq!(described[0].state, "Empty");
}

#[tokio::test]
async fn two_members_split_a_topic_with_range() {
    two_members_split(AssignorKind::Range).await;
}

#[tokio::test]
async fn two_members_split_a_topic_with_roundrobin() {
    two_members_split(AssignorKind::RoundRobin).await;
}

#[tokio::test]
async fn commit_committed_and_resume() {
    let broker = common::in_process(GROUP_BROKER).await;
    let client = client(&broker, "committer").await;
    Admin::new(client.clone())
        .create_topic("log", 2, 1, &[], false)
        .await
        .unwrap();
    produce(&client, "log", 2, 10, "").await;
    let parts = vec![("log".to_string(), 0), ("log".to_string(), 1)];

    let config = ConsumerConfig {
        enable_auto_commit: false,
        ..group_config("resume", AssignorKind::Range)
    };
    let mut c = Consumer::new(client.clone(), config.clone()).await.unwrap();
    c.assign(vec![parts[0].clone()]).await.unwrap();
    assert_eq!(c.committed(&parts).await.unwrap(), vec![None, None]);
    let mut got = 0;
    while got < 10 {
        got += c.poll(Duration::from_secs(1)).await.unwrap().len();
    }
    c.commit_sync(None).await.unwrap();
    c.commit_sync(Some(&[("log".into(), 1, 4)])).await.unwrap();
    assert_eq!(c.committed(&parts).await.unwrap(), vec![Some(10), Some(4)]);
    c.close().await.unwrap();

    // A new member of the group resumes from the commits.
    let mut resumed = Consumer::new(client.clone(), config.clone()).await.unwrap();
    resumed.subscribe(vec!["log".into()]).await.unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while records.len() < 6 && Instant::now() < deadline {
        records.extend(resumed.poll(Duration::from_millis(200)).await.unwrap());
    }
    assert_eq!(records.len(), 6, "only partition 1 from offset 4 is left");
    assert!(records.iter().all(|r| r.partition == 1 && r.offset >= 4));
    assert_eq!(resumed.position("log", 0), Some(10));
    resumed.close().await.unwrap();

    // Auto commit commits the positions on close.
    let auto = ConsumerConfig {
        group_id: Some("auto".into()),
        enable_auto_commit: true,
        auto_commit_interval_ms: 60_000,
        ..config
    };
    let mut c = Consumer::new(client.clone(), auto.clone()).await.unwrap();
    c.assign(parts.clone()).await.unwrap();
    let mut got = 0;
    while got < 20 {
        got += c.poll(Duration::from_secs(1)).await.unwrap().len();
    }
    c.close().await.unwrap();
    let mut check = Consumer::new(client.clone(), auto).await.unwrap();
    assert_eq!(
        check.committed(&parts).await.unwrap(),
        vec![Some(10), Some(10)]
    );
}

#[tokio::test]
async fn admin_group_calls() {
    let broker = common::in_process(GROUP_BROKER).await;
    let admin = Admin::new(client(&broker, "admin").await);
    admin.create_topic("g", 3, 1, &[], false).await.unwrap();
    produce(admin.client(), "g", 3, 4, "").await;

    let config = ConsumerConfig {
        enable_auto_commit: false,
        ..group_config("watched", AssignorKind::Range)
    };
    let mut member = Consumer::new(client(&broker, "member").await, config)
        .await
        .unwrap();
    member.subscribe(vec!["g".into()]).await.unwrap();
    let mut seen = Vec::new();
    poll_until(&mut member, &mut seen, |asg| asg.len() == 3).await;
    member
        .commit_sync(Some(&[("g".into(), 0, 2), ("g".into(), 1, 3)]))
        .await
        .unwrap();

    let listed = admin.list_groups(&[]).await.unwrap();
    let watched = listed.iter().find(|g| g.group_id == "watched").unwrap();
    assert_eq!(watched.protocol_type, "consumer");
    assert_eq!(watched.state.as_deref(), Some("Stable"));
    let stable = admin.list_groups(&["Stable".into()]).await.unwrap();
    assert_eq!(stable.len(), 1);
    assert!(admin
        .list_groups(&["Dead".into()])
        .await
        .unwrap()
        .is_empty());

    let d = &admin.describe_groups(&["watched".into()]).await.unwrap()[0];
    assert_eq!(
        (d.state.as_str(), d.protocol_type.as_str()),
        ("Stable", "consumer")
    );
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].client_id, "member");
    assert_eq!(
        d.members[0].assignment,
        vec![("g".to_string(), vec![0, 1, 2])]
    );
    assert_eq!(d.coordinator.node_id, admin.client().brokers()[0].node_id);

    let offsets = admin.list_group_offsets("watched").await.unwrap();
    assert_eq!(
        offsets
            .iter()
            .map(|o| (o.partition, o.offset))
            .collect::<Vec<_>>(),
        vec![(0, 2), (1, 3)]
    );
    // An active group refuses offsets from outside.
    let refused = admin
        .alter_group_offsets("watched", &[("g".into(), 2, 1)])
        .await
        .unwrap_err();
    assert!(refused.kafka_code().is_some(), "{refused:?}");
    let refused = admin.delete_groups(&["watched".into()]).await.unwrap();
    assert_eq!(
        refused[0].1.as_ref().unwrap_err().code,
        ErrorCode::NON_EMPTY_GROUP
    );

    member.close().await.unwrap();
    admin
        .alter_group_offsets("watched", &[("g".into(), 2, 1), ("g".into(), 0, 0)])
        .await
        .unwrap();
    let offsets = admin.list_group_offsets("watched").await.unwrap();
    assert_eq!(
        offsets
            .iter()
            .map(|o| (o.partition, o.offset))
            .collect::<Vec<_>>(),
        vec![(0, 0), (1, 3), (2, 1)]
    );
    let deleted = admin
        .delete_group_offsets("watched", &[("g".into(), 1)])
        .await
        .unwrap();
    assert_eq!(deleted, vec![(("g".to_string(), 1), Ok(()))]);
    assert_eq!(admin.list_group_offsets("watched").await.unwrap().len(), 2);

    let deleted = admin
        .delete_groups(&["watched".into(), "never".into()])
        .await
        .unwrap();
    assert_eq!(deleted[0], ("watched".to_string(), Ok(())));
    assert_eq!(
        deleted[1].1.as_ref().unwrap_err().code,
        ErrorCode::GROUP_ID_NOT_FOUND
    );
    assert!(admin
        .list_groups(&[])
        .await
        .unwrap()
        .iter()
        .all(|g| g.group_id != "watched"));
    let gone = &admin.describe_groups(&["watched".into()]).await.unwrap()[0];
    assert!(gone.error.is_some() || gone.state == "Dead", "{gone:?}");
}

#[tokio::test]
async fn a_static_member_keeps_its_place_across_a_restart() {
    let broker = common::in_process(GROUP_BROKER).await;
    let client = client(&broker, "static").await;
    let admin = Admin::new(client.clone());
    admin.create_topic("s", 2, 1, &[], false).await.unwrap();
    let config = ConsumerConfig {
        group_instance_id: Some("instance-1".into()),
        ..group_config("statics", AssignorKind::Range)
    };
    let mut first = Consumer::new(client.clone(), config.clone()).await.unwrap();
    first.subscribe(vec!["s".into()]).await.unwrap();
    let mut seen = Vec::new();
    poll_until(&mut first, &mut seen, |asg| asg.len() == 2).await;
    let d = &admin.describe_groups(&["statics".into()]).await.unwrap()[0];
    assert_eq!(
        d.members[0].group_instance_id.as_deref(),
        Some("instance-1")
    );
    let member_id = d.members[0].member_id.clone();
    // A static member does not leave on close: the group stays Stable with it.
    first.close().await.unwrap();
    let d = &admin.describe_groups(&["statics".into()]).await.unwrap()[0];
    assert_eq!(d.state, "Stable");
    let mut again = Consumer::new(client.clone(), config).await.unwrap();
    again.subscribe(vec!["s".into()]).await.unwrap();
    poll_until(&mut again, &mut seen, |asg| asg.len() == 2).await;
    let d = &admin.describe_groups(&["statics".into()]).await.unwrap()[0];
    assert_eq!(d.members.len(), 1);
    assert_ne!(
        d.members[0].member_id, member_id,
        "a new member id for the same instance"
    );
    again.close().await.unwrap();
}
