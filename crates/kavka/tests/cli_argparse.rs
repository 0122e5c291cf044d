//! The four tools Kafka parses with argparse4j (`metadata-quorum`, `cluster`, `transactions`,
//! `producer-perf-test`), run as subprocesses: their `--help` and usage errors against what
//! Kafka 4's tools print, recorded in `kavka-cli/tests/kafka4_help/argparse/` (see its
//! README). Where kavka's tool differs from Kafka's on purpose, the difference is named here
//! and everything else must still be Kafka's text.

mod cli_support;
mod common;

use cli_support::kavka;

fn recording(name: &str) -> String {
    let path = format!(
        "{}/../kavka-cli/tests/kafka4_help/argparse/{name}.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// stdout and stderr together, as the recordings hold them, and the exit code.
fn run(args: &[&str]) -> (String, i32) {
    let out = kavka(args);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (text, out.status.code().unwrap_or(-1))
}

/// The help entries of a text: a line indented by two spaces starts one, deeper lines
/// continue it.
fn entries(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let starts = line.starts_with("  ") && !line.starts_with("   ");
        let continues = line.starts_with("   ") && !out.is_empty();
        if starts {
            out.push(format!("{line}\n"));
        } else if continues {
            out.last_mut().unwrap().push_str(&format!("{line}\n"));
        }
    }
    out
}

#[test]
fn help_is_kafkas_text() {
    let same = [
        ("cluster", vec!["cluster", "--help"]),
        (
            "cluster-cluster-id",
            vec!["cluster", "cluster-id", "--help"],
        ),
        ("cluster-unregister", vec!["cluster", "unregister", "-h"]),
        ("transactions", vec!["transactions", "--help"]),
        (
            "metadata-quorum-describe",
            vec![
                "metadata-quorum",
                "--bootstrap-server",
                "x",
                "describe",
                "--help",
            ],
        ),
    ];
    for (name, args) in same {
        let (text, code) = run(&args);
        assert_eq!(code, 0, "{name}");
        assert_eq!(text, recording(name), "{name}");
    }
    for command in [
        "list",
        "describe",
        "describe-producers",
        "abort",
        "find-hanging",
    ] {
        let (text, code) = run(&["transactions", "--bootstrap-server", "x", command, "--help"]);
        assert_eq!(code, 0, "{command}");
        assert_eq!(
            text,
            recording(&format!("transactions-{command}")),
            "{command}"
        );
    }
}

#[test]
fn where_kavka_differs_the_rest_is_still_kafkas_text() {
    // producer-perf-test: kavka adds `--bootstrap-server` (an entry and a usage item).
    let (text, code) = run(&["producer-perf-test", "--help"]);
    assert_eq!(code, 0);
    let added = "  --bootstrap-server BOOTSTRAP-SERVERS\n";
    let kavka_entries = entries(&text);
    let extra: Vec<&String> = kavka_entries
        .iter()
        .filter(|e| e.starts_with(added))
        .collect();
    assert_eq!(extra.len(), 1, "{text}");
    let mut without = text.replace(extra[0].as_str(), "");
    without = without.replace(
        "                            [--bootstrap-server BOOTSTRAP-SERVERS]\n",
        "",
    );
    assert_eq!(without, recording("producer-perf-test"));
    // With no arguments at all Kafka's ProducerPerformance prints the same help and succeeds.
    assert_eq!(run(&["producer-perf-test"]), (text, 0));

    // metadata-quorum: kavka has no add-controller / remove-controller (its quorum's
    // membership is static); every other entry is Kafka's.
    let (text, code) = run(&["metadata-quorum", "--help"]);
    assert_eq!(code, 0);
    let kavka_entries = entries(&text);
    for entry in entries(&recording("metadata-quorum")) {
        let skipped = entry.contains("add-controller") || entry.contains("remove-controller");
        if !skipped && !entry.starts_with("  {") {
            assert!(
                kavka_entries.contains(&entry),
                "missing:\n{entry}\nin:\n{text}"
            );
        }
    }
    assert!(text.contains("  {describe}\n"), "{text}");
}

#[test]
fn usage_errors_are_kafkas_text_and_exit_code() {
    let cases: &[(&str, &[&str])] = &[
        ("err-cluster-no-command", &["cluster"]),
        ("err-cluster-missing-connection", &["cluster", "cluster-id"]),
        (
            "err-cluster-bad-integer",
            &["cluster", "unregister", "-b", "x", "--id", "three"],
        ),
        ("err-cluster-bad-command", &["cluster", "bogus"]),
        (
            "err-cluster-unknown-flag",
            &["cluster", "cluster-id", "-b", "x", "--bogus", "1"],
        ),
        (
            "err-cluster-missing-value",
            &["cluster", "unregister", "-b", "x", "--id"],
        ),
        (
            "err-transactions-missing-bootstrap",
            &["transactions", "list"],
        ),
        (
            "err-transactions-describe-missing",
            &["transactions", "--bootstrap-server", "x", "describe"],
        ),
        (
            "err-metadata-quorum-unknown-flag",
            &[
                "metadata-quorum",
                "--bootstrap-server",
                "x",
                "describe",
                "--bogus",
            ],
        ),
    ];
    for (name, args) in cases {
        let (text, code) = run(args);
        assert_eq!(code, 1, "{name}");
        assert_eq!(text, recording(name), "{name}");
    }
    // producer-perf-test: the same message and exit code; the usage above it has kavka's
    // `--bootstrap-server` (see above).
    let cases: &[(&str, &[&str])] = &[
        (
            "err-producer-perf-test-conflict",
            &[
                "producer-perf-test",
                "--topic",
                "t",
                "--num-records",
                "1",
                "--throughput",
                "1",
                "--record-size",
                "1",
                "--payload-monotonic",
            ],
        ),
        (
            "err-producer-perf-test-missing-payload",
            &[
                "producer-perf-test",
                "--topic",
                "t",
                "--num-records",
                "1",
                "--throughput",
                "1",
            ],
        ),
    ];
    for (name, args) in cases {
        let (text, code) = run(args);
        assert_eq!(code, 1, "{name}");
        let kafka = recording(name);
        let message = &kafka[kafka.find("producer-performance:").unwrap()..];
        assert!(text.ends_with(message), "{name}:\n{text}");
    }
}

#[test]
fn checks_after_parsing_print_kafkas_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "metadata-quorum",
                "--bootstrap-server",
                "127.0.0.1:9",
                "describe",
            ],
            "One of --status or --replication must be specified with describe sub-command",
        ),
        (
            &[
                "metadata-quorum",
                "--bootstrap-server",
                "127.0.0.1:9",
                "describe",
                "--status",
                "--human-readable",
            ],
            "The option --human-readable is only supported along with --replication",
        ),
        (
            &[
                "transactions",
                "--bootstrap-server",
                "127.0.0.1:9",
                "abort",
                "--topic",
                "t",
                "--partition",
                "0",
                "--producer-id",
                "5",
            ],
            "Missing required argument --producer-epoch",
        ),
        (
            &[
                "transactions",
                "--bootstrap-server",
                "127.0.0.1:9",
                "find-hanging",
                "--partition",
                "0",
                "--broker-id",
                "1",
            ],
            "The --partition argument requires --topic to be provided",
        ),
        (
            &[
                "cluster",
                "cluster-id",
                "--bootstrap-controller",
                "127.0.0.1:9",
            ],
            "--bootstrap-controller is not supported by kavka: use --bootstrap-server",
        ),
    ];
    for (args, line) in cases {
        let (text, code) = run(args);
        assert_eq!(code, 1, "{args:?}");
        assert_eq!(text, format!("{line}\n"), "{args:?}");
    }
}
