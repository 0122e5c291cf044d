//! Running `kavka <tool>` as a subprocess in the CLI tests: arguments, standard input, a time
//! limit (a hung tool fails the test instead of hanging it), and the output.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::TestBroker;

/// How long one tool run may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary under test.
pub fn kavka_bin() -> &'static str {
    env!("CARGO_BIN_EXE_kavka")
}

/// Waits for a child at most `limit`, killing it after.
pub fn wait_output(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `kavka ARGS` with `input` on standard input.
pub fn kavka_with_input(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(kavka_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kavka");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    wait_output(child, RUN_TIMEOUT, &format!("kavka {}", args.join(" ")))
}

/// Runs `kavka ARGS` with empty standard input.
pub fn kavka(args: &[&str]) -> Output {
    kavka_with_input(args, "")
}

/// Runs `kavka ARGS`, asserts success, returns standard output.
pub fn kavka_ok(args: &[&str]) -> String {
    let out = kavka(args);
    check_ok(&out, &args.join(" "))
}

/// Asserts a run succeeded and returns its standard output.
pub fn check_ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "`{what}` failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Runs a bash script with `bin` first on PATH, asserts success, returns standard output.
pub fn bash_ok(bin: &Path, script: &str) -> String {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let child = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn bash");
    let out = wait_output(child, RUN_TIMEOUT, script);
    check_ok(&out, script)
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The rows of a consumer-groups offsets table as (topic, partition, current, log end, lag).
pub fn group_offsets(table: &str, group: &str) -> Vec<(String, i32, String, String, String)> {
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() >= 6 && f[0] == group)
        .map(|f| {
            (
                f[1].to_string(),
                f[2].parse().unwrap(),
                f[3].to_string(),
                f[4].to_string(),
                f[5].to_string(),
            )
        })
        .collect()
}

/// A broker with groups ready at once (no initial rebalance delay, 3 offsets partitions).
pub fn broker() -> TestBroker {
    TestBroker::start(&[
        "group.initial.rebalance.delay.ms=0",
        "offsets.topic.num.partitions=3",
    ])
}

/// Creates a topic and produces `lines` (no keys) with the console producer.
pub fn topic_with(b: &str, topic: &str, partitions: &str, lines: &str) {
    kavka_ok(&[
        "topics",
        "--bootstrap-server",
        b,
        "--create",
        "--topic",
        topic,
        "--partitions",
        partitions,
    ]);
    let out = kavka_with_input(
        &[
            "console-producer",
            "--bootstrap-server",
            b,
            "--topic",
            topic,
        ],
        lines,
    );
    check_ok(&out, "console-producer");
}
