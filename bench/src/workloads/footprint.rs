//! P5: the broker's footprint. Idle RSS after start, exec to the first ApiVersions answer
//! (polled with a raw v0 request, so no client library start-up is counted), and recovery
//! after kill -9 with a log of `--recovery-gb` GB.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::Consumer;
use rdkafka::producer::Producer;

use super::topic_name;
use crate::broker::{temp_data_dir, LocalBroker};
use crate::kafka::{self, ProducerSettings};
use crate::procfs;
use crate::progress::with_progress;
use crate::report::{Figures, Row};
use crate::Options;

/// How long the broker idles before its RSS is read.
const IDLE_SETTLE: Duration = Duration::from_secs(1);
/// Longest wait for the first ApiVersions answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Time between two connection attempts while the broker starts.
const POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Recovery runs on a release build at about a GB/s; a debug build is far slower.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(1800);
/// Time for the log end offsets after recovery.
const WATERMARKS_TIMEOUT: Duration = Duration::from_secs(30);
/// The correlation id of the raw ApiVersions request.
const CORRELATION_ID: i32 = 0x6b61_766b;
/// Size of the recovery log's records.
const VALUE_SIZE: usize = 1024;
/// The broker's line after an unclean shutdown: recovery will scan the logs.
const UNCLEAN_START_MESSAGE: &str = "no clean-shutdown marker";

pub(crate) fn run(o: &Options) -> Result<Vec<Row>> {
    let (start, idle) = start_and_idle(o)?;
    let recovery = recovery(o)?;
    Ok(vec![
        Row {
            workload: "P5 idle RSS after start".into(),
            figures: Figures::IdleRss { rss_bytes: idle },
        },
        Row {
            workload: "P5 start-up (empty data dir)".into(),
            figures: Figures::StartToApiVersions { elapsed: start },
        },
        recovery,
    ])
}

/// Execs a broker on a fresh data directory and a port picked here (the ready line would come
/// too late to learn it), polls it with ApiVersions until it answers, then lets it idle.
fn start_and_idle(o: &Options) -> Result<(Duration, u64)> {
    let data = temp_data_dir(o.data_dir.as_ref(), "kavka-bench-start-")?;
    let addr = free_port()?;
    let mut broker = LocalBroker::spawn(&o.kavka, data.path(), &addr.to_string(), &[])?;
    let deadline = Instant::now() + START_TIMEOUT;
    let answered_after = loop {
        if api_versions(addr).is_ok() {
            break broker.spawned_at.elapsed();
        }
        if Instant::now() > deadline {
            broker.wait_ready(Duration::ZERO)?;
            bail!("no ApiVersions answer from {addr} within {START_TIMEOUT:?}");
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    broker.wait_ready(START_TIMEOUT)?;
    std::thread::sleep(IDLE_SETTLE);
    let idle = procfs::sample(broker.pid())?.rss_bytes;
    broker.stop()?;
    eprintln!(
        "P5 start-up: first ApiVersions answer after {answered_after:?}, idle RSS {} KiB",
        idle / 1024
    );
    Ok((answered_after, idle))
}

/// A port free now on 127.0.0.1 (another process could take it before the broker binds it).
fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("picking a free port")?;
    Ok(listener.local_addr()?)
}

/// One ApiVersions v0 request on a new connection. Succeeds when the answer arrives.
fn api_versions(addr: SocketAddr) -> Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(START_TIMEOUT))?;
    api_versions_exchange(&mut stream, CORRELATION_ID)
}

/// Sends ApiVersions v0 (size 10, api key 18, version 0, correlation id, client id of length
/// 0) and reads the whole answer; fails unless it carries `correlation_id`. Also P8's.
pub(super) fn api_versions_exchange(stream: &mut TcpStream, correlation_id: i32) -> Result<()> {
    let mut request = Vec::with_capacity(14);
    request.extend_from_slice(&10i32.to_be_bytes());
    request.extend_from_slice(&18i16.to_be_bytes());
    request.extend_from_slice(&0i16.to_be_bytes());
    request.extend_from_slice(&correlation_id.to_be_bytes());
    request.extend_from_slice(&0i16.to_be_bytes());
    stream.write_all(&request)?;
    let mut head = [0u8; 8];
    stream.read_exact(&mut head)?;
    let size = i32::from_be_bytes(head[..4].try_into().expect("4 bytes"));
    let got = i32::from_be_bytes(head[4..].try_into().expect("4 bytes"));
    if !(4..=1 << 20).contains(&size) || got != correlation_id {
        bail!("bad ApiVersions answer: size {size}, correlation id {got}");
    }
    let mut body = vec![0u8; usize::try_from(size - 4).expect("checked")];
    stream.read_exact(&mut body)?;
    Ok(())
}

/// Fills a log with `--recovery-gb` GB, kills the broker with SIGKILL, restarts it and times
/// the recovery.
fn recovery(o: &Options) -> Result<Row> {
    let data = temp_data_dir(o.data_dir.as_ref(), "kavka-bench-recovery-")?;
    let mut broker = LocalBroker::start(&o.kavka, data.path(), &[])?;
    let bootstrap = broker.addr().to_string();
    let topic = topic_name("p5");
    kafka::create_topic(&bootstrap, &topic, o.partitions, &[])?;
    let records = ((o.recovery_gb * 1e9 / VALUE_SIZE as f64) as u64).max(1);
    let label = "P5 fill the log for recovery";
    eprintln!("{label}: {records} records of 1 KiB to {topic}");
    let producer = kafka::producer(
        &bootstrap,
        ProducerSettings {
            acks: "1",
            linger_ms: 5,
            idempotent: false,
            max_in_flight: None,
            transactional_id: None,
        },
    )?;
    let delivered = producer.context().delivered.clone();
    with_progress(label, o.progress_every(), &delivered, || {
        kafka::produce_n(&producer, &topic, o.partitions, records, VALUE_SIZE, None)
    })?;
    drop(producer);
    broker.kill()?;
    let log_bytes = segment_bytes(data.path())?;

    let mut broker = LocalBroker::spawn(&o.kavka, data.path(), "127.0.0.1:0", &[])?;
    broker.wait_ready(RECOVERY_TIMEOUT)?;
    if !broker.log().contains(UNCLEAN_START_MESSAGE) {
        bail!(
            "the restart after kill -9 did not recover:\n{}",
            broker.log()
        );
    }
    let exec_to_ready = broker.exec_to_ready();
    let logs_loaded = broker.logs_loaded_ms().map(Duration::from_millis);
    let peak_rss_bytes = procfs::sample(broker.pid())?.peak_rss_bytes;
    // The recovered log must still hold every acknowledged record.
    let consumer = kafka::consumer(&broker.addr().to_string())?;
    let mut kept = 0;
    for p in 0..o.partitions {
        let (low, high) = consumer.fetch_watermarks(&topic, p, WATERMARKS_TIMEOUT)?;
        kept += (high - low) as u64;
    }
    drop(consumer);
    if kept != records {
        bail!("{records} records acknowledged, {kept} recovered");
    }
    broker.stop()?;
    eprintln!("P5 recovery: {log_bytes} bytes, ready after {exec_to_ready:?}");
    Ok(Row {
        workload: format!("P5 recovery after kill -9 ({} GB)", o.recovery_gb),
        figures: Figures::Recovery {
            log_bytes,
            exec_to_ready,
            logs_loaded,
            peak_rss_bytes,
        },
    })
}

/// Bytes of the `.log` segment files of the partitions under `dir` (the metadata log excluded).
fn segment_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if !name.starts_with("__cluster_metadata") {
                total += segment_bytes(&path)?;
            }
        } else if name.ends_with(".log") {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}
