//! Topic administration and configuration over the wire, and the server's command line.

mod common;

use std::process::Command;

use common::*;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kavka_protocol::messages::delete_topics_request::DeleteTopicState;
use kavka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kavka_protocol::messages::*;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn metadata(
    c: &mut kavka_client::Connection,
    topics: Option<Vec<&str>>,
    auto: bool,
) -> MetadataResponse {
    let req = MetadataRequest::default()
        .with_topics(topics.map(|t| {
            t.into_iter()
                .map(|n| {
                    metadata_request::MetadataRequestTopic::default().with_name(Some(topic_name(n)))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(auto);
    match c.send(12, Request::Metadata(req)).await.unwrap() {
        Response::Metadata(r) => r,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_validate_describe_and_delete_by_id() {
    let b = TestBroker::start(&["num.partitions=4"]);
    let mut c = b.connect().await;

    // validate_only changes nothing.
    let req = CreateTopicsRequest::default()
        .with_validate_only(true)
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name("dry"))
            .with_num_partitions(2)
            .with_replication_factor(1)]);
    let Response::CreateTopics(r) = c.send(7, Request::CreateTopics(req)).await.unwrap() else {
        panic!()
    };
    assert_eq!((r.topics[0].error_code, r.topics[0].num_partitions), (0, 2));
    let m = metadata(&mut c, Some(vec!["dry"]), false).await;
    assert_eq!(m.topics[0].error_code, 3, "validate_only created nothing");

    // Defaults (-1), configs, bad configs, bad names, replication factor.
    let req = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(topic_name("stamped"))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_configs(vec![
                CreatableTopicConfig::default()
                    .with_name(s("message.timestamp.type"))
                    .with_value(Some(s("LogAppendTime"))),
                CreatableTopicConfig::default()
                    .with_name(s("segment.bytes"))
                    .with_value(Some(s("1048576"))),
            ]),
        CreatableTopic::default()
            .with_name(topic_name("badcfg"))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(s("retention.ms"))
                .with_value(Some(s("forever")))]),
        CreatableTopic::default()
            .with_name(topic_name("bad name!"))
            .with_num_partitions(1)
            .with_replication_factor(1),
        CreatableTopic::default()
            .with_name(topic_name("rf3"))
            .with_num_partitions(1)
            .with_replication_factor(3),
    ]);
    let Response::CreateTopics(r) = c.send(7, Request::CreateTopics(req)).await.unwrap() else {
        panic!()
    };
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![0, 40, 17, 38]);
    assert_eq!(r.topics[0].num_partitions, 4, "num.partitions default");
    assert!(r.topics[3]
        .error_message
        .as_ref()
        .unwrap()
        .as_str()
        .contains("replication factor"));
    let stamped_id = r.topics[0].topic_id;
    assert!(!stamped_id.is_nil());

    // LogAppendTime: the broker stamps the batch.
    let Response::Produce(p) = c
        .send(9, produce_request("stamped", 0, 1, batch("x", 0, 2)))
        .await
        .unwrap()
    else {
        panic!()
    };
    let part = &p.responses[0].partition_responses[0];
    assert_eq!(part.error_code, 0);
    assert!(part.log_append_time_ms > 0);
    let (_, _, bytes) = fetch(&mut c, "stamped", 0, 0, 1 << 20).await;
    let view = kavka_protocol::batch::BatchView::parse(&bytes).unwrap();
    assert!(view.is_log_append_time());
    assert_eq!(view.max_timestamp(), part.log_append_time_ms);
    view.verify_crc().unwrap();

    // DescribeConfigs: the override, its source, and a default.
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("stamped")),
            DescribeConfigsResource::default()
                .with_resource_type(4)
                .with_resource_name(s("1")),
            DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(s("missing")),
        ]);
    let Response::DescribeConfigs(r) = c.send(4, Request::DescribeConfigs(req)).await.unwrap()
    else {
        panic!()
    };
    let topic = &r.results[0];
    assert_eq!(topic.error_code, 0);
    let find = |n: &str| topic.configs.iter().find(|e| e.name.as_str() == n).unwrap();
    assert_eq!(
        find("segment.bytes").value.as_ref().unwrap().as_str(),
        "1048576"
    );
    assert_eq!(
        find("segment.bytes").config_source,
        1,
        "DYNAMIC_TOPIC_CONFIG"
    );
    assert_eq!(
        find("retention.ms").value.as_ref().unwrap().as_str(),
        "604800000"
    );
    assert_eq!(find("retention.ms").config_source, 5, "DEFAULT_CONFIG");
    assert_eq!(
        find("cleanup.policy").value.as_ref().unwrap().as_str(),
        "delete"
    );
    assert!(!find("segment.bytes").synonyms.is_empty());
    let broker = &r.results[1];
    assert_eq!(broker.error_code, 0);
    let np = broker
        .configs
        .iter()
        .find(|e| e.name.as_str() == "num.partitions")
        .unwrap();
    assert_eq!(
        (np.value.as_ref().unwrap().as_str(), np.config_source),
        ("4", 4)
    );
    assert_eq!(r.results[2].error_code, 3);

    // Delete by id (v6): metadata and files go.
    let dir = b.log_dir().join("stamped-0");
    assert!(dir.exists());
    let req = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_topic_id(stamped_id)]);
    let Response::DeleteTopics(r) = c.send(6, Request::DeleteTopics(req)).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.responses[0].error_code, 0);
    assert_eq!(r.responses[0].name.as_ref().unwrap().0.as_str(), "stamped");
    assert!(!dir.exists(), "partition data removed from disk");
    let req = DeleteTopicsRequest::default()
        .with_topics(vec![DeleteTopicState::default().with_topic_id(stamped_id)]);
    let Response::DeleteTopics(r) = c.send(6, Request::DeleteTopics(req)).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.responses[0].error_code, 100, "UNKNOWN_TOPIC_ID");
    // The name is free again, and the new topic starts empty.
    assert_eq!(create_topic(&mut c, "stamped", 1).await, 0);
    assert_eq!(fetch(&mut c, "stamped", 0, 0, 1000).await.1, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_auto_creates_and_names_a_listed_controller() {
    let b = TestBroker::start(&["num.partitions=3"]);
    let mut c = b.connect().await;
    let m = metadata(&mut c, Some(vec!["auto"]), true).await;
    assert_eq!(m.topics[0].error_code, 0);
    assert_eq!(m.topics[0].partitions.len(), 3);
    assert!(!m.topics[0].topic_id.is_nil());
    assert_eq!(
        m.controller_id, m.brokers[0].node_id,
        "the controller is a listed broker"
    );
    assert_eq!(m.brokers[0].port, b.addr.port() as i32);
    let p = &m.topics[0].partitions[0];
    assert_eq!((p.leader_id.0, p.leader_epoch), (1, 0));
    assert_eq!(p.isr_nodes.len(), 1);
    let m = metadata(&mut c, Some(vec!["noauto"]), false).await;
    assert_eq!(m.topics[0].error_code, 3);
    let m = metadata(&mut c, Some(vec![".."]), true).await;
    assert_eq!(m.topics[0].error_code, 17);
    let m = metadata(&mut c, None, false).await;
    assert_eq!(m.topics.len(), 1, "null lists every topic");
    let b2 = TestBroker::start(&["auto.create.topics.enable=false"]);
    let mut c2 = b2.connect().await;
    assert_eq!(
        metadata(&mut c2, Some(vec!["x"]), true).await.topics[0].error_code,
        3
    );
}

fn kavka() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kavka"))
}

#[test]
fn bad_config_values_exit_non_zero_naming_the_key() {
    let out = kavka()
        .args(["server", "--override", "num.partitions=many"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("num.partitions"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    let out = kavka()
        .args(["server", "--override", "oops"])
        .output()
        .unwrap();
    assert!(!out.status.success());

    let out = kavka()
        .args(["server", "--config", "/nonexistent/server.properties"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/server.properties"));

    let out = kavka().args(["serve"]).output().unwrap();
    assert!(!out.status.success(), "unknown subcommand");
}

#[test]
fn properties_file_and_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("server.properties");
    std::fs::write(
        &file,
        "# a Kafka-style file\nprocess.roles=broker,controller\nnum.partitions = 5\nsome.future.key=1\n",
    )
    .unwrap();
    // The file is read, its unknown key only warned about.
    let log = dir.path().join("stderr.log");
    let mut child = kavka()
        .args(["server", "--config"])
        .arg(&file)
        .args(["--override", "listeners=PLAINTEXT://127.0.0.1:0"])
        .args(["--override", "kavka.http.listener=127.0.0.1:0"])
        .arg("--override")
        .arg(format!("log.dirs={}", dir.path().join("data").display()))
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap()
        .contains("kavka is ready")
    {
        assert!(std::time::Instant::now() < deadline, "not ready");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    let err = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{err}");
    assert!(
        err.contains("unknown config key ignored") && err.contains("some.future.key"),
        "{err}"
    );
    assert!(
        !err.contains("process.roles"),
        "known Kafka keys are not warned about: {err}"
    );
    assert!(err.contains("formatted new data directory"), "{err}");
    assert!(dir.path().join("data/meta.properties").exists());
    assert!(
        dir.path().join("data/.kavka_cleanshutdown").exists(),
        "clean shutdown marker"
    );
}

/// A CreateTopics request is one metadata batch, bounded as a whole: above the controller's
/// 10 000 records nothing is created and every topic gets POLICY_VIOLATION (as from Kafka's
/// controller); below it every creatable topic is created, the others refused on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_topics_is_bounded_per_request() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    let topics = |names: &[&str], partitions: i32| -> CreateTopicsRequest {
        CreateTopicsRequest::default()
            .with_topics(
                names
                    .iter()
                    .map(|n| {
                        CreatableTopic::default()
                            .with_name(topic_name(n))
                            .with_num_partitions(partitions)
                            .with_replication_factor(1)
                    })
                    .collect(),
            )
            .with_timeout_ms(30_000)
    };
    // Three topics of 4 000 partitions each: 12 003 records.
    let Response::CreateTopics(r) = c
        .send(
            7,
            Request::CreateTopics(topics(&["big-a", "big-b", "big-c"], 4000)),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    for t in &r.topics {
        assert_eq!(
            t.error_code,
            44,
            "POLICY_VIOLATION for {}",
            t.name.0.as_str()
        );
        assert_eq!(
            t.error_message.as_ref().unwrap().as_str(),
            "Unable to perform excessively large batch operation."
        );
    }
    let m = metadata(&mut c, Some(vec!["big-a", "big-b", "big-c"]), false).await;
    assert!(
        m.topics.iter().all(|t| t.error_code == 3),
        "nothing was created"
    );

    // Two of them fit; a topic that is refused on its own does not count.
    let Response::CreateTopics(r) = c
        .send(
            7,
            Request::CreateTopics(topics(&["big-a", "bad name!", "big-b"], 4000)),
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [0, 17, 0]);
    let m = metadata(&mut c, Some(vec!["big-a", "big-b"]), false).await;
    assert!(m
        .topics
        .iter()
        .all(|t| t.error_code == 0 && t.partitions.len() == 4000));

    // Names in one request collide with each other as with existing topics.
    let Response::CreateTopics(r) = c
        .send(7, Request::CreateTopics(topics(&["x.y", "x_y"], 1)))
        .await
        .unwrap()
    else {
        panic!()
    };
    let codes: Vec<i16> = r.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, [0, 17]);
}

/// DescribeQuorum of `__cluster_metadata` partitions 0 and 1.
async fn describe_quorum(c: &mut kavka_client::Connection, version: i16) -> DescribeQuorumResponse {
    use kavka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic_name("__cluster_metadata"))
        .with_partitions(vec![
            PartitionData::default().with_partition_index(0),
            PartitionData::default().with_partition_index(1),
        ])]);
    let Response::DescribeQuorum(r) = c.send(version, Request::DescribeQuorum(req)).await.unwrap()
    else {
        panic!()
    };
    r
}

/// DescribeQuorum names this node as the metadata quorum's leader and only voter, with the
/// metadata log's end as high watermark (moving with each change); another partition is
/// UNKNOWN_TOPIC_OR_PARTITION.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_quorum_reports_the_single_voter_quorum() {
    let b = TestBroker::start(&[]);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, "q1", 1).await, 0);
    let r = describe_quorum(&mut c, 2).await;
    let [p0, p1] = r.topics[0].partitions.as_slice() else {
        panic!("{r:?}")
    };
    assert_eq!((p0.error_code, p0.leader_id.0, p0.leader_epoch), (0, 1, 1));
    assert!(p0.high_watermark > 1, "{p0:?}");
    assert_eq!(p0.current_voters.len(), 1);
    assert_eq!(p0.current_voters[0].replica_id.0, 1);
    assert_eq!(p0.current_voters[0].log_end_offset, p0.high_watermark);
    assert!(p0.observers.is_empty());
    assert_eq!(p1.error_code, 3, "only partition 0 has a quorum");
    assert_eq!(r.nodes.len(), 1);
    let hw = p0.high_watermark;

    assert_eq!(create_topic(&mut c, "q2", 1).await, 0);
    let r = describe_quorum(&mut c, 0).await;
    assert_eq!(
        r.topics[0].partitions[0].high_watermark,
        hw + 1,
        "one batch per change"
    );
}
