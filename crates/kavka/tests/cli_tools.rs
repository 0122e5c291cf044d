//! `kavka <tool>` as a subprocess: flag errors, `--help`, an unreachable broker, Kafka error
//! names, topics and configs against a real broker. `cli_data.rs` covers the data tools.

mod cli_support;
mod common;

use std::time::{Duration, Instant};

use cli_support::{broker, check_ok, kavka, kavka_ok, stderr};

#[test]
fn a_wrong_flag_is_kafkas_line_then_the_option_table_and_exit_code_1() {
    for tool in [
        "topics",
        "console-producer",
        "console-consumer",
        "consumer-groups",
        "configs",
        "get-offsets",
    ] {
        let out = kavka(&[tool, "--bootstrap-server", "127.0.0.1:9", "--no-such-flag"]);
        assert_eq!(out.status.code(), Some(1), "{tool}");
        let err = stderr(&out);
        let mut lines = err.lines();
        // joptsimple's message, then the table Kafka's printUsageAndExit prints.
        assert_eq!(
            lines.next(),
            Some("no-such-flag is not a recognized option"),
            "{err}"
        );
        assert!(
            lines.next().unwrap_or_default().starts_with("Option "),
            "{err}"
        );
        assert!(err.contains("\n--bootstrap-server <String: "), "{err}");
        assert!(out.stdout.is_empty(), "{tool}");
    }
    let out = kavka(&["dump-log", "--files", "x.log", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("no-such-flag is not a recognized option\nOption "));
    let out = kavka(&["topics", "--partitions", "three"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("Cannot parse argument 'three' of option partitions\n"));
    let out = kavka(&["topics", "--partitions"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("Option partitions requires an argument\n"));
    // A check of Kafka's own: exactly one action.
    let out = kavka(&[
        "topics",
        "--bootstrap-server",
        "127.0.0.1:9",
        "--list",
        "--delete",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("Command must include exactly one action: --list, --describe, --create, --alter or --delete\nOption "),
        "{err}"
    );
    // A tool of Kafka's that parses with argparse4j prints argparse4j's usage and message
    // (`cli_argparse.rs` compares them with Kafka's).
    let out = kavka(&["metadata-quorum", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("usage: kafka-metadata-quorum [-h]"),
        "{err}"
    );
    assert!(
        err.ends_with("kafka-metadata-quorum: error: unrecognized arguments: '--no-such-flag'\n"),
        "{err}"
    );
}

#[test]
fn every_tool_has_help() {
    for tool in kavka_cli_tools() {
        let out = kavka(&[tool, "--help"]);
        let text = check_ok(&out, &format!("{tool} --help"));
        if tool == "producer-perf-test" {
            // argparse4j's layout (`cli_argparse.rs`).
            assert!(
                text.starts_with("usage: producer-performance [-h]"),
                "{tool}: {text}"
            );
            continue;
        }
        // joptsimple's layout: the tool's line, the two headers, one row per option.
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("Option ") && lines[1].trim_end().ends_with("Description"),
            "{tool}: {text}"
        );
        assert!(
            lines[2].starts_with("------ ") && lines[2].trim_end().ends_with("-----------"),
            "{tool}: {text}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("--help ")),
            "{tool}: {text}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("--version ")),
            "{tool}: {text}"
        );
        assert!(
            lines[1..].iter().all(|l| l.chars().count() <= 80),
            "{tool}: {text}"
        );
    }
    let top = kavka_ok(&["--help"]);
    assert!(
        top.contains("console-consumer") && top.contains("install-shims"),
        "{top}"
    );
}

#[test]
fn a_kafka_tool_with_no_arguments_prints_its_help_and_fails_and_version_prints_the_version() {
    let out = kavka(&["topics"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("This tool helps to create, delete, describe, or change a topic.\nOption "),
        "{err}"
    );
    let version = kavka_ok(&["consumer-groups", "--version"]);
    assert_eq!(version.trim(), env!("CARGO_PKG_VERSION"));
}

fn kavka_cli_tools() -> [&'static str; 12] {
    [
        "topics",
        "console-producer",
        "console-consumer",
        "consumer-groups",
        "configs",
        "broker-api-versions",
        "get-offsets",
        "delete-records",
        "producer-perf-test",
        "consumer-perf-test",
        "dump-log",
        "install-shims",
    ]
}

#[test]
fn an_unreachable_broker_fails_quickly_with_one_line() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let b = format!("127.0.0.1:{port}");
    for args in [
        vec!["topics", "--bootstrap-server", &b, "--list"],
        vec!["consumer-groups", "--bootstrap-server", &b, "--list"],
        vec!["get-offsets", "--bootstrap-server", &b],
    ] {
        let started = Instant::now();
        let out = kavka(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{args:?} took {:?}",
            started.elapsed()
        );
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("kavka {}: ", args[0])), "{err}");
        assert!(err.contains(&b), "names the server: {err}");
    }
}

#[test]
fn topics_errors_name_the_kafka_error() {
    let broker = broker();
    let b = broker.addr.to_string();
    kavka_ok(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "dup",
    ]);
    let out = kavka(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "dup",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "kavka topics: TOPIC_ALREADY_EXISTS: Topic 'dup' already exists.\n"
    );
    kavka_ok(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "dup",
        "--if-not-exists",
    ]);
    let out = kavka(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--delete",
        "--topic",
        "missing",
    ]);
    assert_eq!(
        stderr(&out),
        "kavka topics: Topic 'missing' does not exist as expected\n"
    );
    kavka_ok(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--delete",
        "--topic",
        "missing",
        "--if-exists",
    ]);
    kavka_ok(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--alter",
        "--topic",
        "dup",
        "--partitions",
        "2",
    ]);
    let out = kavka_ok(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--describe",
        "--topic",
        "d.p",
    ]);
    assert!(
        out.starts_with("Topic: dup\t") && out.contains("PartitionCount: 2"),
        "{out}"
    );
}

#[test]
fn configs_alter_then_describe() {
    let broker = broker();
    let b = broker.addr.to_string();
    kavka_ok(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "cfg",
    ]);
    let out = kavka_ok(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        "cfg",
        "--add-config",
        "retention.ms=86400000,cleanup.policy=[compact,delete]",
    ]);
    assert_eq!(out, "Completed updating config for topic cfg.\n");
    let out = kavka_ok(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--describe",
        "--topic",
        "cfg",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Dynamic configs for topic cfg are:");
    assert!(lines[1].starts_with("  cleanup.policy=compact,delete sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:cleanup.policy=compact,delete"), "{out}");
    assert!(lines[2].starts_with("  retention.ms=86400000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=86400000"), "{out}");
    kavka_ok(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--alter",
        "--topic",
        "cfg",
        "--delete-config",
        "retention.ms",
    ]);
    let out = kavka_ok(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--describe",
        "--topic",
        "cfg",
    ]);
    assert!(!out.contains("retention.ms"), "{out}");
    let described = kavka_ok(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--describe",
        "--topic",
        "cfg",
    ]);
    assert!(
        described.contains("Configs: cleanup.policy=compact,delete"),
        "{described}"
    );
    let out = kavka(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--alter",
        "--topic",
        "cfg",
        "--delete-config",
        "nope",
    ]);
    assert_eq!(stderr(&out), "kavka configs: Invalid config(s): nope\n");
    let out = kavka_ok(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--alter",
        "--entity-type",
        "brokers",
        "--entity-default",
        "--add-config",
        "log.retention.ms=100000000",
    ]);
    assert_eq!(
        out,
        "Completed updating default config for brokers in the cluster.\n"
    );
    let out = kavka_ok(&[
        "configs",
        "--bootstrap-server",
        &b,
        "--describe",
        "--entity-type",
        "brokers",
        "--entity-default",
    ]);
    assert!(out.starts_with("Default configs for brokers in the cluster are:\n  log.retention.ms=100000000 sensitive=false"), "{out}");
}

#[test]
fn topics_create_with_a_replica_assignment() {
    let broker = broker();
    let b = broker.addr.to_string();
    let create = |assignment: &str, extra: &[&str]| {
        let mut args = vec!["topics", "--bootstrap-server", &b, "--create", "--topic"];
        args.push("placed");
        args.extend(["--replica-assignment", assignment]);
        args.extend(extra);
        kavka(&args)
    };
    let out = create("1:1", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Partition replica lists may not contain duplicate entries: 1:1"),
        "{}",
        stderr(&out)
    );
    let out = create("1,2:3", &[]);
    assert!(
        stderr(&out).contains("Partition 1 has different replication factor: 2:3"),
        "{}",
        stderr(&out)
    );
    let out = create("1,1", &["--partitions", "2"]);
    assert!(
        stderr(&out)
            .contains("Option \"[replica-assignment]\" can't be used with option \"[partitions]\""),
        "{}",
        stderr(&out)
    );
    let out = create("7", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("broker 7"), "{}", stderr(&out));
    assert!(create("1,1", &[]).status.success());
    let out = kavka_ok(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--describe",
        "--topic",
        "placed",
    ]);
    assert!(
        out.contains("PartitionCount: 2\tReplicationFactor: 1"),
        "{out}"
    );
    assert_eq!(out.matches("Replicas: 1\tIsr: 1").count(), 2, "{out}");
}
