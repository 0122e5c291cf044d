//! `kavka dev-cluster`, the README's one-command local cluster: it starts every node, prints
//! the bootstrap servers, the nodes form one cluster (every broker listed, one quorum leader),
//! and SIGTERM stops them all cleanly. Both layouts: combined nodes, and controller-only plus
//! broker-only nodes (`--controllers`).

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::cluster::wait_for_controller;

/// A base port with `n` free consecutive ports after it (checked by binding them all).
fn free_run(n: u16) -> u16 {
    for _ in 0..200 {
        let base = 20_000 + (rand_u16() % 30_000);
        let bound: Vec<_> = (0..n)
            .map_while(|i| TcpListener::bind(("127.0.0.1", base + i)).ok())
            .collect();
        if bound.len() == n as usize {
            return base;
        }
    }
    panic!("no run of {n} free ports");
}

fn rand_u16() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (nanos ^ (std::process::id() << 8)) as u16
}

/// Runs dev-cluster with `args`; checks that `brokers` brokers (listening from `base`) form a
/// cluster, then stops it with SIGTERM and checks every one of `nodes` nodes stopped.
async fn run(extra: &[&str], brokers: u16, nodes: u16) {
    let dir = tempfile::tempdir().unwrap();
    let base = free_run(brokers);
    let controller_base = free_run(nodes);
    let http_base = free_run(nodes);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kavka"))
        .arg("dev-cluster")
        .arg("--dir")
        .arg(dir.path())
        .args(["--host", "127.0.0.1", "--base-port", &base.to_string()])
        .args(["--controller-base-port", &controller_base.to_string()])
        .args(["--http-base-port", &http_base.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let expected: Vec<String> = (0..brokers)
        .map(|i| format!("127.0.0.1:{}", base + i))
        .collect();
    let printed = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("dev-cluster output");
        if let Some(servers) = line.strip_prefix("bootstrap servers: ") {
            break servers.to_string();
        }
    };
    assert_eq!(printed, expected.join(","));
    let addrs: Vec<SocketAddr> = expected.iter().map(|a| a.parse().unwrap()).collect();
    // Every node must be up before a node's Metadata can be asked.
    for a in &addrs {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(a).is_err() {
            assert!(std::time::Instant::now() < deadline, "{a} never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    wait_for_controller(&addrs, brokers as usize, &[]).await;
    // Every node, controller or broker, answers /health on its HTTP port.
    for node in 0..nodes {
        let addr = format!("127.0.0.1:{}", http_base + node);
        let answer = http_get(&addr, "/health");
        assert!(answer.starts_with("HTTP/1.1 200"), "{addr}: {answer}");
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
    // The reader ends at the end of dev-cluster's output.
    let stopped: Vec<String> = lines.iter().filter(|l| l.ends_with(" stopped")).collect();
    assert_eq!(stopped.len(), nodes as usize, "{stopped:?}");
}

/// A raw `GET path` to `addr`: the whole answer.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_combined_nodes() {
    run(&["--nodes", "3"], 3, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_controllers_and_two_brokers() {
    run(&["--nodes", "2", "--controllers", "3"], 2, 5).await;
}
