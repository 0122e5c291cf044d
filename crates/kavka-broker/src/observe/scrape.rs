//! What `/metrics` reads from the broker's state when it is scraped: the replica manager's
//! partition, leader and under-replicated counts (from the metadata image, as this node sees
//! it), the active controller's counts, each hosted log's size and offsets, the group
//! coordinator's groups by state (and their lag: `lag.rs`), and the open connections. Names
//! follow the JMX exporter's rendering of Kafka's gauges.

use std::fmt::Write as _;

use kavka_coordinator::group::api::GroupListing;

use crate::broker::Broker;

use super::Metrics;

/// One gauge family: its name, help line and samples (labels, value).
pub(super) struct Gauge<'a> {
    name: &'a str,
    help: &'a str,
    pub(super) samples: Vec<(String, f64)>,
}

impl<'a> Gauge<'a> {
    pub(super) fn new(name: &'a str, help: &'a str) -> Self {
        Gauge {
            name,
            help,
            samples: Vec::new(),
        }
    }

    fn single(name: &'a str, help: &'a str, value: f64) -> Self {
        let mut g = Self::new(name, help);
        g.samples.push((String::new(), value));
        g
    }

    fn write(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} gauge", self.name);
        for (labels, value) in &self.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", self.name);
            } else {
                let _ = writeln!(out, "{}{{{labels}}} {value}", self.name);
            }
        }
        out.push('\n');
    }
}

/// The `# TYPE` line of a counter family.
pub(super) fn counter_header(out: &mut String, name: &str) {
    let _ = writeln!(out, "# TYPE {name} counter");
}

/// A label value in Prometheus' text format.
pub(super) fn escaped(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The whole `/metrics` page.
pub async fn render(broker: &Broker, metrics: &Metrics) -> String {
    let mut out = metrics.render_events();
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push('\n');
    }
    let mut gauges = replica_gauges(broker);
    gauges.extend(log_gauges(broker));
    // A coordinator shard still loading answers nothing: no group gauges this scrape.
    if let Ok(groups) = broker.groups().list().await {
        gauges.extend(group_gauges(&groups));
        gauges.extend(super::lag::gauges(broker, &groups).await);
    }
    let mut connections = Gauge::new(
        "kafka_server_socket_server_metrics_connection_count",
        "Open client connections by listener.",
    );
    for (listener, open) in metrics.open_connections() {
        let labels = format!("listener=\"{}\"", escaped(&listener));
        connections.samples.push((labels, open as f64));
    }
    gauges.push(connections);
    gauges.push(Gauge::single(
        "kavka_server_uptime_seconds",
        "Seconds since this broker started.",
        metrics.uptime_seconds(),
    ));
    for g in gauges {
        g.write(&mut out);
    }
    out
}

fn replica_gauges(broker: &Broker) -> Vec<Gauge<'static>> {
    let node = broker.config().node_id;
    let image = broker.image();
    let (mut hosted, mut leading, mut under_replicated) = (0u64, 0u64, 0u64);
    let (mut topics, mut partitions, mut offline) = (0u64, 0u64, 0u64);
    for topic in image.topics() {
        topics += 1;
        for p in topic.partitions.values() {
            partitions += 1;
            hosted += u64::from(p.replicas.contains(&node));
            if p.leader == node {
                leading += 1;
                under_replicated += u64::from(p.isr.len() < p.replicas.len());
            }
            offline += u64::from(p.leader < 0);
        }
    }
    // Kafka reports the cluster-wide counts on the active controller only (0 elsewhere).
    let active = broker.config().roles.controller && broker.quorum_view().is_some();
    let on_active = |v: u64| if active { v as f64 } else { 0.0 };
    vec![
        Gauge::single(
            "kafka_server_replicamanager_partitioncount",
            "Partitions this broker holds a replica of.",
            hosted as f64,
        ),
        Gauge::single(
            "kafka_server_replicamanager_leadercount",
            "Partitions this broker leads.",
            leading as f64,
        ),
        Gauge::single(
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Partitions this broker leads whose ISR is smaller than their replica set.",
            under_replicated as f64,
        ),
        Gauge::single(
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the active controller.",
            on_active(1),
        ),
        Gauge::single(
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a leader (on the active controller).",
            on_active(offline),
        ),
        Gauge::single(
            "kafka_controller_kafkacontroller_globaltopiccount",
            "Topics of the cluster (on the active controller).",
            on_active(topics),
        ),
        Gauge::single(
            "kafka_controller_kafkacontroller_globalpartitioncount",
            "Partitions of the cluster (on the active controller).",
            on_active(partitions),
        ),
    ]
}

fn log_gauges(broker: &Broker) -> Vec<Gauge<'static>> {
    let mut size = Gauge::new("kafka_log_log_size", "Bytes of a partition's log on disk.");
    let mut start = Gauge::new(
        "kafka_log_log_logstartoffset",
        "First offset of a partition's log.",
    );
    let mut end = Gauge::new(
        "kafka_log_log_logendoffset",
        "Offset the next record of a partition gets.",
    );
    let mut hw = Gauge::new(
        "kavka_log_log_highwatermark",
        "A partition's high watermark (what consumers can read).",
    );
    let mut partitions = broker.partitions();
    partitions.sort_by(|a, b| (&a.topic, a.index).cmp(&(&b.topic, b.index)));
    for p in partitions {
        let labels = format!("topic=\"{}\",partition=\"{}\"", escaped(&p.topic), p.index);
        if let Some((bytes, _)) = p.size_and_dir() {
            size.samples.push((labels.clone(), bytes as f64));
        }
        if let Ok(o) = p.offsets() {
            start
                .samples
                .push((labels.clone(), o.log_start_offset as f64));
            end.samples.push((labels.clone(), o.log_end_offset as f64));
            hw.samples.push((labels, o.high_watermark as f64));
        }
    }
    vec![size, start, end, hw]
}

fn group_gauges(groups: &[GroupListing]) -> Vec<Gauge<'static>> {
    let count = |state: &str| groups.iter().filter(|g| g.state == state).count() as f64;
    let prefix = "kafka_coordinator_group_groupmetadatamanager_numgroups";
    vec![
        Gauge::single(
            prefix,
            "Groups this broker coordinates.",
            groups.len() as f64,
        ),
        Gauge::single(
            "kafka_coordinator_group_groupmetadatamanager_numgroupsstable",
            "Groups in the Stable state.",
            count("Stable"),
        ),
        Gauge::single(
            "kafka_coordinator_group_groupmetadatamanager_numgroupspreparingrebalance",
            "Groups in the PreparingRebalance state.",
            count("PreparingRebalance"),
        ),
        Gauge::single(
            "kafka_coordinator_group_groupmetadatamanager_numgroupscompletingrebalance",
            "Groups in the CompletingRebalance state.",
            count("CompletingRebalance"),
        ),
        Gauge::single(
            "kafka_coordinator_group_groupmetadatamanager_numgroupsempty",
            "Groups in the Empty state.",
            count("Empty"),
        ),
        Gauge::single(
            "kafka_coordinator_group_groupmetadatamanager_numgroupsdead",
            "Groups in the Dead state.",
            count("Dead"),
        ),
    ]
}
