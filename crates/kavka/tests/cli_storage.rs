//! `kafka-storage.sh` and the server start/stop scripts through the shims, as a Kafka operator
//! runs them: a random cluster id, format, info, start with `-daemon`, stop.
//!
//! The shims are installed from a copy of the binary, so `kafka-server-stop.sh` (which stops
//! every server of its binary, as Kafka's stops every Kafka) cannot reach the other tests'
//! brokers.

mod cli_support;
mod common;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cli_support::{bash_ok, kavka_bin, wait_output, RUN_TIMEOUT};

fn bash(bin: &Path, script: &str) -> Output {
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
        .unwrap();
    wait_output(child, RUN_TIMEOUT, script)
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn format_info_start_and_stop_through_the_kafka_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let own = tmp.path().join("kavka");
    std::fs::copy(kavka_bin(), &own).unwrap();
    let bin = tmp.path().join("bin");
    let out = Command::new(&own)
        .args(["install-shims", bin.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let data = tmp.path().join("data");
    let props = tmp.path().join("server.properties");
    std::fs::write(
        &props,
        format!(
            "process.roles=broker,controller\nnode.id=3\nlisteners=PLAINTEXT://127.0.0.1:{port}\nkavka.http.listener=127.0.0.1:0\nlog.dirs={}\n",
            data.display()
        ),
    )
    .unwrap();
    let props = props.display();

    let id = bash_ok(&bin, "kafka-storage.sh random-uuid");
    let id = id.trim();
    assert_eq!(id.len(), 22, "{id}");

    let out = bash_ok(&bin, &format!("kafka-storage.sh format -t {id} -c {props}"));
    assert_eq!(
        out,
        format!("Formatting metadata directory {}\n", data.display())
    );
    let again = bash(&bin, &format!("kafka-storage.sh format -t {id} -c {props}"));
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("is already formatted. Use --ignore-formatted"),
        "{again:?}"
    );
    let ignored = bash_ok(
        &bin,
        &format!("kafka-storage.sh format -g -t {id} -c {props}"),
    );
    assert_eq!(
        ignored,
        "All of the log directories are already formatted.\n"
    );
    let bad = bash(
        &bin,
        &format!("kafka-storage.sh format -t not-a-uuid -c {props} --ignore-formatted"),
    );
    assert_eq!(bad.status.code(), Some(1));

    let info = bash_ok(&bin, &format!("kafka-storage.sh info -c {props}"));
    assert!(
        info.starts_with(&format!("Found log directory:\n  {}\n", data.display())),
        "{info}"
    );
    assert!(
        info.contains(&format!("Found metadata: {{cluster.id={id}, ")),
        "{info}"
    );
    assert!(info.contains("node.id=3, version=1}"), "{info}");

    let usage = bash(&bin, "kafka-server-start.sh");
    assert_eq!(usage.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&usage.stdout).starts_with("USAGE: "),
        "{usage:?}"
    );

    let logs = tmp.path().join("logs");
    bash_ok(
        &bin,
        &format!(
            "LOG_DIR={} kafka-server-start.sh -daemon {props} --override num.partitions=2",
            logs.display()
        ),
    );
    wait_until("the daemon listens", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // It kept the formatted cluster id (a fresh start would have made its own).
    let meta = std::fs::read_to_string(data.join("meta.properties")).unwrap();
    assert!(meta.contains(&format!("cluster.id={id}")), "{meta}");
    assert!(logs.join("kavkaServer.out").exists());

    bash_ok(&bin, "kafka-server-stop.sh");
    wait_until("the daemon stops", || {
        TcpStream::connect(("127.0.0.1", port)).is_err()
    });
    wait_until("the daemon exits", || {
        bash(&bin, "kafka-server-stop.sh").status.code() == Some(1)
    });
    let none = bash(&bin, "kafka-server-stop.sh");
    assert_eq!(
        String::from_utf8_lossy(&none.stdout),
        "No kafka server to stop\n"
    );
    let out = std::fs::read_to_string(logs.join("kavkaServer.out")).unwrap();
    assert!(out.contains("shut down cleanly"), "{out}");
}
