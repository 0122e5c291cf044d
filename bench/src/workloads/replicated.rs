//! P4 replicated: three local brokers in one cluster; 1 KiB records from one librdkafka
//! producer to a topic of one replica with acks=1 (the baseline) and to one of three replicas
//! (min.insync.replicas=2) with acks=all, in the same run, then produce-to-consume latency at
//! a fixed rate with three replicas and acks=all. Broker CPU is summed over the three nodes.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::producer::Producer;

use super::latency::{self, LatencyCase};
use super::{topic_name, Target};
use crate::cluster::LocalCluster;
use crate::kafka::{self, ProducerSettings};
use crate::progress::with_progress;
use crate::report::{Figures, Row};
use crate::Options;

/// Nodes of the cluster.
const NODES: usize = 3;
/// The producer's linger.ms, as P1's.
const LINGER_MS: u32 = 5;
/// How long the cluster may take to accept a topic of three replicas after start.
const FORMED_TIMEOUT: Duration = Duration::from_secs(60);
/// The replicated topic's `min.insync.replicas`.
const MIN_INSYNC: &[(&str, &str)] = &[("min.insync.replicas", "2")];

/// Creates a topic, retrying while the cluster is forming (brokers not all registered yet).
fn create(
    target: &Target,
    o: &Options,
    topic: &str,
    rf: i32,
    configs: &[(&str, &str)],
) -> Result<()> {
    let deadline = Instant::now() + FORMED_TIMEOUT;
    loop {
        match kafka::create_replicated_topic(&target.bootstrap, topic, o.partitions, rf, configs) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() < deadline => {
                eprintln!("  cluster not ready for {topic} yet: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One throughput row: `records` of 1 KiB to a new topic of `rf` replicas.
fn produce(target: &Target, o: &Options, rf: i32, acks: &'static str) -> Result<Row> {
    let topic = topic_name(&format!("p4-rf{rf}"));
    let configs = if rf > 1 { MIN_INSYNC } else { &[] };
    create(target, o, &topic, rf, configs)?;
    target.write_back()?;
    let producer = kafka::producer(
        &target.bootstrap,
        ProducerSettings {
            acks,
            linger_ms: LINGER_MS,
            idempotent: false,
            max_in_flight: None,
            transactional_id: None,
        },
    )?;
    let workload = format!("P4 produce 1 KiB RF={rf} acks={acks}");
    eprintln!("{workload}: {} records to {topic}", o.replicated_records_1k);
    kafka::warm_up(
        &producer,
        &target.bootstrap,
        &format!("{topic}-warmup"),
        false,
    )?;
    let delivered = producer.context().delivered.clone();
    let (moved, broker) = target.measure(|| {
        let moved = with_progress(&workload, o.progress_every(), &delivered, || {
            kafka::produce_n(
                &producer,
                &topic,
                o.partitions,
                o.replicated_records_1k,
                1024,
                None,
            )
        })?;
        Ok((moved, moved.bytes))
    })?;
    producer.flush(Duration::from_secs(30)).context("flush")?;
    Ok(Row {
        workload,
        figures: Figures::Throughput { moved, broker },
    })
}

/// P4's rows.
pub(crate) fn run(o: &Options) -> Result<Vec<Row>> {
    let cluster = LocalCluster::start(&o.kavka, o.data_dir.as_ref(), NODES)?;
    let target = Target::cluster(cluster);
    eprintln!("P4: {NODES} local brokers at {}", target.bootstrap);
    // Formed once a topic of three replicas can be made: every broker registered and live.
    create(&target, o, &topic_name("p4-formed"), NODES as i32, &[])?;
    let mut rows = vec![produce(&target, o, 1, "1")?, produce(&target, o, 3, "all")?];
    let case = LatencyCase {
        name: "P4 latency",
        mb_per_s: o.replicated_latency_mb_per_s,
        acks: "all",
        replication_factor: 3,
        topic_configs: MIN_INSYNC,
    };
    // The latency topic is created by the latency run, once the cluster took the others.
    target.write_back()?;
    rows.push(latency::run_case(&target, o, &case)?);
    target.close()?;
    Ok(rows)
}
