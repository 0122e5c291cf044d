//! `kavka reassign-partitions` (kafka-reassign-partitions.sh) against three `kavka server`
//! processes: `--generate` proposes moving a topic to brokers 2 and 3, `--execute --throttle`
//! starts it (printing the rollback JSON, setting the throttles), `--verify` reports it and,
//! once done, clears the throttles, `--list` and `--cancel` with nothing in progress, and
//! Kafka's command-line refusals.

mod cli_support;
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cli_support::{kavka, kavka_ok, stderr};
use common::cluster::{wait_for_controller, TestCluster};
use common::cluster_client::wait_for_topic;
use common::replicas::FAST_REPLICATION;

fn configs(bootstrap: &str, entity_type: &str, name: &str) -> String {
    kavka_ok(&[
        "configs",
        "--bootstrap-server",
        bootstrap,
        "--describe",
        "--entity-type",
        entity_type,
        "--entity-name",
        name,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_generates_executes_verifies_and_clears_its_throttles() {
    let cluster = TestCluster::start(3, FAST_REPLICATION);
    let addrs: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    wait_for_controller(&addrs, 3, &[]).await;
    let b = addrs[0].to_string();
    let tool = |args: &[&str]| {
        let mut all = vec!["reassign-partitions", "--bootstrap-server", &b];
        all.extend_from_slice(args);
        kavka_ok(&all)
    };
    kavka_ok(&[
        "topics",
        "--create",
        "--topic",
        "moved",
        "--replica-assignment",
        "1,1",
        "--bootstrap-server",
        &b,
    ]);
    // Every broker knows the topic (they learn it from the metadata log after the create).
    wait_for_topic(&addrs, "moved", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let topics = dir.path().join("topics.json");
    std::fs::write(&topics, r#"{"version":1,"topics":[{"topic":"moved"}]}"#).unwrap();

    let out = tool(&[
        "--generate",
        "--topics-to-move-json-file",
        topics.to_str().unwrap(),
        "--broker-list",
        "2,3",
    ]);
    let current = r#"{"version":1,"partitions":[{"topic":"moved","partition":0,"replicas":[1],"log_dirs":["any"]},{"topic":"moved","partition":1,"replicas":[1],"log_dirs":["any"]}]}"#;
    let proposed = r#"{"version":1,"partitions":[{"topic":"moved","partition":0,"replicas":[2],"log_dirs":["any"]},{"topic":"moved","partition":1,"replicas":[3],"log_dirs":["any"]}]}"#;
    assert_eq!(
        out,
        format!("Current partition replica assignment\n{current}\n\nProposed partition reassignment configuration\n{proposed}\n")
    );
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, proposed).unwrap();
    let plan = plan.to_str().unwrap();

    let out = tool(&[
        "--execute",
        "--reassignment-json-file",
        plan,
        "--throttle",
        "50000000",
    ]);
    assert_eq!(
        out,
        format!("Current partition replica assignment\n\n{current}\n\nSave this to use as the --reassignment-json-file option during rollback\nWarning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed.\nThe inter-broker throttle limit was set to 50000000 B/s\nSuccessfully started partition reassignments for moved-0,moved-1\n")
    );
    assert!(configs(&b, "brokers", "2").contains("follower.replication.throttled.rate=50000000"));
    let topic_configs = configs(&b, "topics", "moved");
    assert!(
        topic_configs.contains("leader.replication.throttled.replicas=0:1,1:1"),
        "{topic_configs}"
    );
    assert!(
        topic_configs.contains("follower.replication.throttled.replicas=0:2,1:3"),
        "{topic_configs}"
    );

    // --verify until both are done; the last run clears the throttles.
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = loop {
        let out = tool(&["--verify", "--reassignment-json-file", plan]);
        if !out.contains("still in progress") {
            break out;
        }
        assert!(Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        last,
        "Status of partition reassignment:\nReassignment of partition moved-0 is completed.\nReassignment of partition moved-1 is completed.\n\nClearing broker-level throttles on brokers 1,2,3\nClearing topic-level throttles on topic moved\n"
    );
    assert!(!configs(&b, "brokers", "2").contains("throttled.rate"));
    assert!(!configs(&b, "topics", "moved").contains("throttled.replicas"));
    assert_eq!(tool(&["--list"]), "No partition reassignments found.\n");
    assert_eq!(
        tool(&["--cancel", "--reassignment-json-file", plan]),
        "None of the specified partition reassignments are active.\nNone of the specified partition moves are active.Clearing broker-level throttles on brokers 1,2,3\nClearing topic-level throttles on topic moved\n"
    );
    let described = kavka_ok(&[
        "topics",
        "--describe",
        "--topic",
        "moved",
        "--bootstrap-server",
        &b,
    ]);
    assert!(
        described.contains("Partition: 0\tLeader: 2\tReplicas: 2\tIsr: 2"),
        "{described}"
    );
    assert!(
        described.contains("Partition: 1\tLeader: 3\tReplicas: 3\tIsr: 3"),
        "{described}"
    );

    // Kafka's refusals: one line and exit code 1.
    let unknown = dir.path().join("unknown.json");
    std::fs::write(
        &unknown,
        r#"{"version":1,"partitions":[{"topic":"moved","partition":0,"replicas":[9]}]}"#,
    )
    .unwrap();
    let refusals: [(&[&str], &str); 4] = [
        (&[], "Command must include exactly one action: --generate, --execute, --verify, --cancel, --list"),
        (&["--execute"], "Missing required argument \"[reassignment-json-file]\""),
        (&["--list", "--throttle", "5"], "Option \"[throttle]\" can't be used with action \"[list]\""),
        (&["--execute", "--reassignment-json-file", unknown.to_str().unwrap()], "Unknown broker id 9"),
    ];
    for (args, message) in refusals {
        let mut all = vec!["reassign-partitions", "--bootstrap-server", b.as_str()];
        all.extend_from_slice(args);
        let out = kavka(&all);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = stderr(&out);
        // A mistake on the command line is Kafka's line then the option table (Kafka's
        // printUsageAndExit); a refusal at run time names the tool.
        let first = err.lines().next().unwrap();
        assert!(
            first == message || first == format!("kavka reassign-partitions: {message}"),
            "{args:?}: {err}"
        );
    }
}
