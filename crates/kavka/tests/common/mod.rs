//! A `kavka server` process for integration tests: free port, temp data dir, start/stop/kill.
#![allow(dead_code)]

pub mod cluster;
pub mod cluster_client;
pub mod netns;
pub mod replicas;
pub mod txn;

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kavka_client::Connection;
use kavka_protocol::batch::Compression;
use kavka_protocol::messages::create_topics_request::CreatableTopic;
use kavka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kavka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kavka_protocol::messages::*;
use kavka_protocol::records::BatchBuilder;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

/// A broker in this process (kavka-testkit) with `key=value` settings, for the tests of
/// clients where a separate process is not the point.
pub async fn in_process(settings: &[&str]) -> kavka_testkit::Broker {
    let mut builder = kavka_testkit::Broker::builder();
    for line in settings {
        let (key, value) = line.split_once('=').expect("key=value");
        builder = builder.config(key, value);
    }
    builder.start().await.expect("in-process broker")
}

/// A broker process owned by a test.
pub struct TestBroker {
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    extra: Vec<String>,
    /// Where the process runs: a network namespace (`ip netns exec`) or here.
    netns: Option<String>,
    /// `listeners` host:port.
    listener: String,
    child: Option<Child>,
    log_path: PathBuf,
}

impl TestBroker {
    pub fn start(extra: &[&str]) -> TestBroker {
        let mut b = TestBroker::unstarted(extra);
        b.spawn();
        b
    }

    /// A broker whose directories `kavka storage format` formats with `cluster_id` (as an
    /// operator does for every node of a quorum) before it starts.
    pub fn start_formatted(cluster_id: &str, extra: &[&str]) -> TestBroker {
        TestBroker::start_formatted_in(None, "127.0.0.1:0", cluster_id, extra)
    }

    /// As [`TestBroker::start_formatted`], the process in network namespace `netns` (when
    /// given) listening on `listener`.
    pub fn start_formatted_in(
        netns: Option<&str>,
        listener: &str,
        cluster_id: &str,
        extra: &[&str],
    ) -> TestBroker {
        let mut b = TestBroker::unstarted(extra);
        b.netns = netns.map(str::to_string);
        b.listener = listener.to_string();
        let props = b.data.path().join("server.properties");
        // /metrics on a port the OS picks: no test takes the default 9644.
        let mut text = format!(
            "log.dirs={}\nkavka.http.listener=127.0.0.1:0\n",
            b.log_dir().display()
        );
        for e in extra {
            text.push_str(e);
            text.push('\n');
        }
        std::fs::write(&props, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kavka"))
            .args(["storage", "format", "-t", cluster_id, "-c"])
            .arg(&props)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "format: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        b.spawn();
        b
    }

    fn unstarted(extra: &[&str]) -> TestBroker {
        let data = tempfile::tempdir().unwrap();
        let b = TestBroker {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_path: data.path().join("broker.log"),
            data,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            netns: None,
            listener: "127.0.0.1:0".to_string(),
            child: None,
        };
        b
    }

    pub fn log_dir(&self) -> PathBuf {
        self.data.path().join("logs")
    }

    /// Starts the process on a port the OS picks (no races between parallel tests) and learns
    /// the port from the broker's "ready" log line.
    fn spawn(&mut self) {
        let log_start = self.log().len();
        let exe = env!("CARGO_BIN_EXE_kavka");
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, exe]);
                c
            }
            None => Command::new(exe),
        };
        cmd.arg("server")
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://{}", self.listener))
            .arg("--override")
            .arg(format!("log.dirs={}", self.log_dir().display()))
            .arg("--override")
            .arg("kavka.http.listener=127.0.0.1:0");
        for e in &self.extra {
            cmd.arg("--override").arg(e);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        // The ready line is logged at INFO; KAVKA_TEST_LOG may ask for more.
        cmd.env(
            "RUST_LOG",
            std::env::var("KAVKA_TEST_LOG").unwrap_or_else(|_| "info".into()),
        );
        cmd.stdout(Stdio::null()).stderr(Stdio::from(log));
        self.child = Some(cmd.spawn().expect("spawn kavka"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let log = self.log();
            if let Some(at) = log[log_start..].find("kavka is ready listener=") {
                let rest = &log[log_start + at + "kavka is ready listener=".len()..];
                let addr = rest.split_whitespace().next().unwrap_or_default();
                self.addr = addr.parse().expect("listener address in the ready line");
                TcpStream::connect(self.addr).expect("ready broker accepts");
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("kavka exited with {status} at start:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("kavka did not start listening:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "unclean exit {status}:\n{}", self.log());
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "no exit after SIGTERM:\n{}",
                    self.log()
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill first");
        self.spawn();
    }

    /// The address listener `name` is bound to, from the last ready line's `listeners=`.
    pub fn listener_addr(&self, name: &str) -> SocketAddr {
        let log = self.log();
        let at = log.rfind("kavka is ready").expect("a ready line");
        let listeners = log[at..]
            .split_whitespace()
            .find_map(|w| w.strip_prefix("listeners="))
            .expect("listeners in the ready line");
        listeners
            .split(',')
            .find_map(|l| l.strip_prefix(&format!("{name}://")))
            .unwrap_or_else(|| panic!("no listener {name} in {listeners}"))
            .parse()
            .unwrap()
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends the process signal `sig` (`-STOP`, `-CONT`, ...).
    pub fn signal(&self, sig: &str) {
        let pid = self.pid().expect("a running process");
        assert!(Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success());
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    pub async fn connect(&self) -> Connection {
        Connection::connect(self.addr, "kavka-tests").await.unwrap()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- kavka log ----\n{}", self.log());
        }
        self.kill();
    }
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(kavka_protocol::codec::StrBytes::from_string(
        name.to_string(),
    ))
}

pub async fn create_topic(conn: &mut Connection, name: &str, partitions: i32) -> i16 {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)])
        .with_timeout_ms(5000);
    match conn.send(7, Request::CreateTopics(req)).await.unwrap() {
        Response::CreateTopics(r) => r.topics[0].error_code,
        other => panic!("unexpected {other:?}"),
    }
}

/// A batch of `count` records whose values are `"{prefix}-{i}"`, timestamped now.
pub fn batch(prefix: &str, start: usize, count: usize) -> Bytes {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut b = BatchBuilder::new(Compression::None);
    for i in start..start + count {
        let v = format!("{prefix}-{i}");
        b.append(now_ms, Some(b"k"), Some(v.as_bytes()), &[]);
    }
    b.build().unwrap()
}

pub fn produce_request(topic: &str, partition: i32, acks: i16, records: Bytes) -> Request {
    Request::Produce(
        ProduceRequest::default()
            .with_acks(acks)
            .with_timeout_ms(5000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic_name(topic))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records))])]),
    )
}

/// (error code, base offset) of a single-partition produce.
pub async fn produce(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    acks: i16,
    records: Bytes,
) -> (i16, i64) {
    match conn
        .send(9, produce_request(topic, partition, acks, records))
        .await
        .unwrap()
    {
        Response::Produce(r) => {
            let p = &r.responses[0].partition_responses[0];
            (p.error_code, p.base_offset)
        }
        other => panic!("unexpected {other:?}"),
    }
}

pub fn fetch_request(
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
    max_bytes: i32,
) -> Request {
    Request::Fetch(
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(max_wait_ms)
            .with_min_bytes(min_bytes)
            .with_max_bytes(max_bytes)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(topic))
                .with_partitions(vec![FetchPartition::default()
                    .with_partition(partition)
                    .with_fetch_offset(offset)
                    .with_current_leader_epoch(-1)
                    .with_partition_max_bytes(max_bytes)])]),
    )
}

/// (error code, high watermark, records) of a single-partition fetch (v12, by name).
pub async fn fetch(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: i32,
) -> (i16, i64, Bytes) {
    match conn
        .send(12, fetch_request(topic, partition, offset, 0, 0, max_bytes))
        .await
        .unwrap()
    {
        Response::Fetch(r) => {
            let p = &r.responses[0].partitions[0];
            (
                p.error_code,
                p.high_watermark,
                p.records.clone().unwrap_or_default(),
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// Every record value from `offset` to the high watermark, with offsets.
pub async fn read_all(conn: &mut Connection, topic: &str, partition: i32) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let (err, hw, bytes) = fetch(conn, topic, partition, offset, 1 << 20).await;
        assert_eq!(err, 0, "fetch error at offset {offset}");
        if offset >= hw {
            return out;
        }
        for view in kavka_protocol::batch::BatchIter::new(&bytes) {
            let view = view.expect("whole valid batches");
            view.verify_crc().expect("stored CRC valid");
            for r in kavka_protocol::records::decode_records(&view).unwrap() {
                if r.offset >= offset {
                    out.push((
                        r.offset,
                        String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
                    ));
                }
            }
            offset = view.next_offset();
        }
    }
}

pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// OffsetForLeaderEpoch (v4) for one partition: (error code, leader epoch, end offset).
pub async fn offset_for_leader_epoch(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> (i16, i32, i64) {
    use kavka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use kavka_protocol::messages::OffsetForLeaderEpochRequest;
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(kavka_protocol::messages::BrokerId(-1))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)])]);
    match conn
        .send(4, Request::OffsetForLeaderEpoch(request))
        .await
        .unwrap()
    {
        Response::OffsetForLeaderEpoch(r) => {
            let p = &r.topics[0].partitions[0];
            (p.error_code, p.leader_epoch, p.end_offset)
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// A single-partition Fetch v12 naming `last_fetched_epoch`: (error code, diverging epoch,
/// diverging end offset, record bytes).
pub async fn fetch_after_epoch(
    conn: &mut Connection,
    topic: &str,
    partition: i32,
    offset: i64,
    last_fetched_epoch: i32,
) -> (i16, i32, i64, usize) {
    let Request::Fetch(mut request) = fetch_request(topic, partition, offset, 0, 0, 1 << 20) else {
        unreachable!("a fetch request");
    };
    request.topics[0].partitions[0].last_fetched_epoch = last_fetched_epoch;
    match conn.send(12, Request::Fetch(request)).await.unwrap() {
        Response::Fetch(r) => {
            let p = &r.responses[0].partitions[0];
            (
                p.error_code,
                p.diverging_epoch.epoch,
                p.diverging_epoch.end_offset,
                p.records.as_ref().map_or(0, |b| b.len()),
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}
