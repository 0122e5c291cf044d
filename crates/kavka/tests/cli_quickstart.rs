//! The seed quick start, verbatim, through the `kafka-*.sh` shims written by `kavka
//! install-shims`: create a 3-partition topic, list, describe, produce keyed lines, consume them
//! from the beginning in a group, see lag 0, reset the group to earliest and see the lag come
//! back, delete the topic.

mod cli_support;
mod common;

use cli_support::{bash_ok, group_offsets, kavka_ok};
use common::TestBroker;

#[test]
fn quickstart_through_the_kafka_shims() {
    let broker = TestBroker::start(&[
        "group.initial.rebalance.delay.ms=0",
        "offsets.topic.num.partitions=3",
    ]);
    let b = broker.addr.to_string();
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let installed = kavka_ok(&["install-shims", bin.to_str().unwrap()]);
    assert_eq!(installed.lines().count(), 19, "{installed}");
    for shim in [
        "kafka-topics.sh",
        "kafka-consumer-groups.sh",
        "kafka-dump-log.sh",
        "kafka-cluster.sh",
        "kafka-leader-election.sh",
        "kafka-reassign-partitions.sh",
    ] {
        assert!(bin.join(shim).exists(), "{shim} missing");
    }

    let out = bash_ok(
        &bin,
        &format!(
            "kafka-topics.sh --create --topic quickstart --partitions 3 --bootstrap-server {b}"
        ),
    );
    assert_eq!(out, "Created topic quickstart.\n");

    let out = bash_ok(
        &bin,
        &format!("kafka-topics.sh --list --bootstrap-server {b}"),
    );
    assert!(out.lines().any(|l| l == "quickstart"), "{out}");

    let out = bash_ok(
        &bin,
        &format!("kafka-topics.sh --describe --topic quickstart --bootstrap-server {b}"),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("Topic: quickstart\tTopicId: "),
        "{out}"
    );
    assert!(
        lines[0].contains("\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: "),
        "{out}"
    );
    for (p, line) in lines[1..].iter().enumerate() {
        assert_eq!(
            *line,
            format!("\tTopic: quickstart\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: ")
        );
    }

    let input =
        "user1:hello\\nuser2:kavka\\nuser1:again\\nuser3:streams\\nuser2:in rust\\nuser4:bye\\n";
    bash_ok(
        &bin,
        &format!(
            "printf '{input}' | kafka-console-producer.sh --topic quickstart --bootstrap-server {b} \
             --property parse.key=true --property key.separator=:"
        ),
    );

    let err = dir.path().join("consumer.err");
    let err = err.display();
    let out = bash_ok(
        &bin,
        &format!(
            "kafka-console-consumer.sh --topic quickstart --from-beginning --bootstrap-server {b} \
             --property print.key=true --group qs --max-messages 6 2>{err}; cat {err} >&2; \
             grep -q 'Processed a total of 6 messages' {err}"
        ),
    );
    let mut got: Vec<&str> = out.lines().collect();
    got.sort_unstable();
    assert_eq!(
        got,
        vec![
            "user1\tagain",
            "user1\thello",
            "user2\tin rust",
            "user2\tkavka",
            "user3\tstreams",
            "user4\tbye"
        ]
    );

    let describe = format!("kafka-consumer-groups.sh --describe --group qs --bootstrap-server {b}");
    let rows = group_offsets(&bash_ok(&bin, &describe), "qs");
    assert_eq!(rows.len(), 3, "{rows:?}");
    let total: i64 = rows.iter().map(|r| r.3.parse::<i64>().unwrap()).sum();
    assert_eq!(total, 6);
    for (topic, _, current, end, lag) in &rows {
        assert_eq!(topic, "quickstart");
        assert_eq!(current, end);
        assert_eq!(lag, "0");
    }

    let out = bash_ok(
        &bin,
        &format!(
            "kafka-consumer-groups.sh --reset-offsets --to-earliest --execute --topic quickstart \
             --group qs --bootstrap-server {b}"
        ),
    );
    assert!(out.contains("NEW-OFFSET"), "{out}");
    let reset: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|f: &Vec<&str>| f.first() == Some(&"qs"))
        .collect();
    assert_eq!(reset.len(), 3, "{out}");
    assert!(
        reset.iter().all(|f| f[1] == "quickstart" && f[3] == "0"),
        "{out}"
    );

    let rows = group_offsets(&bash_ok(&bin, &describe), "qs");
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (_, _, current, end, lag) in &rows {
        assert_eq!(current, "0");
        assert_eq!(lag, end, "the lag is back to the log end");
    }

    bash_ok(
        &bin,
        &format!("kafka-topics.sh --delete --topic quickstart --bootstrap-server {b}"),
    );
    let out = bash_ok(
        &bin,
        &format!("kafka-topics.sh --list --bootstrap-server {b}"),
    );
    assert!(!out.lines().any(|l| l == "quickstart"), "{out}");
}
