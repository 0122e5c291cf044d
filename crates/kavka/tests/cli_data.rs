//! The data tools as subprocesses against a real broker: get-offsets, delete-records,
//! dump-log, broker-api-versions, console consumer modes and Ctrl-C, the perf tests.

mod cli_support;
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{broker, check_ok, kavka, kavka_ok, stderr, topic_with, wait_output};

#[test]
fn get_offsets_delete_records_and_dump_log() {
    let broker = broker();
    let b = broker.addr.to_string();
    topic_with(&b, "off", "1", "r0\nr1\nr2\nr3\nr4\n");
    assert_eq!(
        kavka_ok(&["get-offsets", "--bootstrap-server", &b, "--topic", "off"]),
        "off:0:5\n"
    );
    assert_eq!(
        kavka_ok(&[
            "get-offsets",
            "--bootstrap-server",
            &b,
            "--topic",
            "of.",
            "--time",
            "-2"
        ]),
        "off:0:0\n"
    );
    let out = kavka(&[
        "get-offsets",
        "--bootstrap-server",
        &b,
        "--topic",
        "nothing",
    ]);
    assert_eq!(
        stderr(&out),
        "kavka get-offsets: Could not match any topic-partitions with the specified filters\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("offsets.json");
    std::fs::write(
        &json,
        r#"{"partitions":[{"topic":"off","partition":0,"offset":3}],"version":1}"#,
    )
    .unwrap();
    let out = kavka_ok(&[
        "delete-records",
        "--bootstrap-server",
        &b,
        "--offset-json-file",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out, "Executing records delete operation\nRecords delete operation completed:\npartition: off-0\tlow_watermark: 3\n");
    assert_eq!(
        kavka_ok(&[
            "get-offsets",
            "--bootstrap-server",
            &b,
            "--topic",
            "off",
            "--time",
            "earliest"
        ]),
        "off:0:3\n"
    );

    let segment = broker
        .log_dir()
        .join("off-0")
        .join("00000000000000000000.log");
    let out = kavka_ok(&[
        "dump-log",
        "--files",
        segment.to_str().unwrap(),
        "--print-data-log",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("Dumping {}", segment.display()));
    assert_eq!(lines[1], "Log starting offset: 0");
    assert!(lines[2].starts_with("baseOffset: 0 lastOffset: "), "{out}");
    assert!(
        lines[2].contains(" magic: 2 compresscodec: none crc: ")
            && lines[2].ends_with(" isvalid: true"),
        "{out}"
    );
    let records: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("| offset: "))
        .collect();
    assert_eq!(records.len(), 5, "{out}");
    assert!(records[4].starts_with("| offset: 4 CreateTime: "), "{out}");
    assert!(
        records[4].ends_with(" keySize: -1 valueSize: 2 sequence: -1 headerKeys: [] payload: r4"),
        "{out}"
    );

    // The same segment by topic and partition, from the log directories of the broker's
    // configuration, and by a path relative to the caller's directory.
    let props = broker.data.path().join("dump.properties");
    std::fs::write(&props, format!("log.dirs={}\n", broker.log_dir().display())).unwrap();
    let by_topic = kavka_ok(&[
        "dump-log",
        "--topic",
        "off",
        "--partition",
        "0",
        "--config",
        props.to_str().unwrap(),
        "--print-data-log",
    ]);
    assert_eq!(by_topic, out);
    let relative = Command::new(cli_support::kavka_bin())
        .current_dir(broker.log_dir())
        .args(["dump-log", "--files", "off-0/00000000000000000000.log"])
        .output()
        .unwrap();
    let relative = check_ok(&relative, "dump-log --files off-0/...");
    assert!(
        relative.starts_with("Dumping off-0/00000000000000000000.log\nLog starting offset: 0\n"),
        "{relative}"
    );
    let missing = kavka(&[
        "dump-log",
        "--topic",
        "nope",
        "--partition",
        "0",
        "--config",
        props.to_str().unwrap(),
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).starts_with("kavka dump-log: no directory nope-0 in "),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn broker_api_versions_in_kafkas_layout() {
    let broker = broker();
    let b = broker.addr.to_string();
    let out = kavka_ok(&["broker-api-versions", "--bootstrap-server", &b]);
    let first = out.lines().next().unwrap();
    assert_eq!(
        first,
        format!("{b} (id: 1 rack: null isFenced: false) -> (")
    );
    assert!(
        out.contains("\n\tProduce(0): 3 to 13 [usable: 13],\n"),
        "{out}"
    );
    assert!(
        out.contains("\n\tApiVersions(18): 0 to 4 [usable: 4],\n"),
        "{out}"
    );
    assert!(out.contains("UNSUPPORTED"), "{out}");
    assert!(out.ends_with("\n)\n"), "{out}");
}

#[test]
fn console_consumer_partition_offset_properties_and_timeout() {
    let broker = broker();
    let b = broker.addr.to_string();
    topic_with(&b, "cc", "1", "zero\none\ntwo\nthree\n");
    let out = kavka(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "cc",
        "--partition",
        "0",
        "--offset",
        "2",
        "--max-messages",
        "2",
        "--property",
        "print.offset=true",
        "--property",
        "print.partition=true",
        "--property",
        "print.key=true",
        "--property",
        "key.separator=|",
    ]);
    let text = check_ok(&out, "console-consumer --partition");
    assert_eq!(
        text,
        "Partition:0|Offset:2|null|two\nPartition:0|Offset:3|null|three\n"
    );
    assert!(stderr(&out).contains("Processed a total of 2 messages"));
    // No record for --timeout-ms: ends cleanly with a count of 0.
    let started = Instant::now();
    let out = kavka(&[
        "console-consumer",
        "--bootstrap-server",
        &b,
        "--topic",
        "cc",
        "--timeout-ms",
        "1500",
    ]);
    let text = check_ok(&out, "console-consumer --timeout-ms");
    assert_eq!(text, "");
    assert!(
        stderr(&out).contains("Processed a total of 0 messages"),
        "{}",
        stderr(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn console_consumer_leaves_its_group_on_ctrl_c_and_on_sigterm() {
    let broker = broker();
    let b = broker.addr.to_string();
    topic_with(&b, "sig", "1", "a\nb\nc\n");
    for (signal, group) in [("-INT", "sig-int"), ("-TERM", "sig-term")] {
        let mut child = Command::new(cli_support::kavka_bin())
            .args([
                "console-consumer",
                "--bootstrap-server",
                &b,
                "--topic",
                "sig",
                "--from-beginning",
                "--group",
                group,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut got = Vec::new();
        for _ in 0..3 {
            let mut line = String::new();
            stdout.read_line(&mut line).unwrap();
            got.push(line);
        }
        assert_eq!(got, vec!["a\n", "b\n", "c\n"], "{signal}");
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let out = wait_output(
            child,
            Duration::from_secs(20),
            &format!("console-consumer after kill {signal}"),
        );
        assert!(
            out.status.success(),
            "{signal}: {:?} {}",
            out.status,
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("Processed a total of 3 messages"),
            "{signal}: {}",
            stderr(&out)
        );
        // It left the group (LeaveGroup), not merely went away: no member waits out its
        // session timeout.
        let described = kavka(&[
            "consumer-groups",
            "--bootstrap-server",
            &b,
            "--describe",
            "--group",
            group,
            "--members",
        ]);
        assert!(
            stderr(&described)
                .contains(&format!("Consumer group '{group}' has no active members.")),
            "{signal}: {}",
            stderr(&described)
        );
    }
}

#[test]
fn producer_and_consumer_perf_tests_print_kafkas_summaries() {
    let broker = broker();
    let b = broker.addr.to_string();
    kavka_ok(&[
        "topics",
        "--bootstrap-server",
        &b,
        "--create",
        "--topic",
        "perf",
        "--partitions",
        "2",
    ]);
    let bootstrap = format!("bootstrap.servers={b}");
    let out = kavka_ok(&[
        "producer-perf-test",
        "--topic",
        "perf",
        "--num-records",
        "10000",
        "--record-size",
        "100",
        "--throughput",
        "-1",
        "--producer-props",
        &bootstrap,
        "acks=1",
    ]);
    let last = out.lines().last().unwrap();
    assert!(last.starts_with("10000 records sent, "), "{out}");
    for part in [
        "records/sec (",
        "MB/sec), ",
        "ms avg latency, ",
        "ms max latency, ",
        "ms 50th, ",
        "ms 95th, ",
        "ms 99th, ",
        "ms 99.9th.",
    ] {
        assert!(last.contains(part), "{part} in {last}");
    }
    let out = kavka_ok(&["get-offsets", "--bootstrap-server", &b, "--topic", "perf"]);
    let total: i64 = out
        .lines()
        .map(|l| l.rsplit(':').next().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 10_000);

    let out = kavka_ok(&[
        "consumer-perf-test",
        "--bootstrap-server",
        &b,
        "--topic",
        "perf",
        "--messages",
        "10000",
        "--timeout",
        "20000",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec");
    let fields: Vec<&str> = lines[1].split(", ").collect();
    assert_eq!(fields.len(), 10, "{out}");
    assert_eq!(fields[4], "10000", "{out}");
    assert_eq!(fields[2], "0.9537", "10000 x 100 bytes in MB: {out}");
}
