//! Consumer lag without extra tools, under kafka-lag-exporter's names: for each group this
//! broker coordinates and each partition it has committed an offset of, the committed offset,
//! the lag in records (the partition's high watermark less the committed offset) and an
//! estimate of the lag in seconds (now less the timestamp of the first batch not yet
//! consumed, read from the log: a consumer that is caught up lags 0 s), then the group's max
//! and sum and the per-topic sum; and each hosted partition's earliest and latest offsets.
//!
//! The end offsets are this broker's: a partition it holds no replica of is left out (in a
//! cluster, a group's lag on partitions hosted only elsewhere is shown by no broker yet).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use kavka_coordinator::group::api::GroupListing;

use super::scrape::{escaped, Gauge};
use crate::broker::{now_ms, Broker};
use crate::replica_manager::{Isolation, Partition};

/// Bytes read at a committed offset to find its batch's timestamp (the first batch is read
/// whole whatever this says).
const TIMESTAMP_READ_BYTES: usize = 1;

/// One group's position on one partition.
struct Position {
    group: String,
    topic: String,
    partition: i32,
    committed: i64,
    lag: i64,
    lag_seconds: f64,
}

pub(super) async fn gauges(broker: &Broker, groups: &[GroupListing]) -> Vec<Gauge<'static>> {
    let cluster = escaped(broker.cluster_id());
    let hosted: HashMap<(Arc<str>, i32), Arc<Partition>> = broker
        .partitions()
        .into_iter()
        .map(|p| ((p.topic.clone(), p.index), p))
        .collect();
    let now = now_ms();
    let mut positions = Vec::new();
    for g in groups {
        let Ok(committed) = broker.groups().fetch_offsets(&g.group_id, None).await else {
            continue;
        };
        for c in committed.into_iter().filter(|c| c.offset >= 0) {
            let key = (Arc::from(c.topic.as_str()), c.partition);
            let Some(p) = hosted.get(&key) else { continue };
            let Ok(offsets) = p.offsets() else { continue };
            let lag = (offsets.high_watermark - c.offset).max(0);
            let lag_seconds = if lag > 0 {
                batch_timestamp(p, c.offset).map_or(0.0, |ts| (now - ts).max(0) as f64 / 1000.0)
            } else {
                0.0
            };
            positions.push(Position {
                group: g.group_id.clone(),
                topic: c.topic,
                partition: c.partition,
                committed: c.offset,
                lag,
                lag_seconds,
            });
        }
    }
    let mut offset = Gauge::new(
        "kafka_consumergroup_group_offset",
        "A group's committed offset of a partition.",
    );
    let mut lag = Gauge::new(
        "kafka_consumergroup_group_lag",
        "Records between a group's committed offset and the partition's high watermark.",
    );
    let mut lag_seconds = Gauge::new(
        "kafka_consumergroup_group_lag_seconds",
        "Age of the oldest record a group has not consumed of a partition (0 when caught up).",
    );
    let mut max_lag = Gauge::new(
        "kafka_consumergroup_group_max_lag",
        "A group's largest lag.",
    );
    let mut max_lag_seconds = Gauge::new(
        "kafka_consumergroup_group_max_lag_seconds",
        "A group's largest lag in seconds.",
    );
    let mut sum_lag = Gauge::new(
        "kafka_consumergroup_group_sum_lag",
        "A group's lag over all its partitions.",
    );
    let mut topic_sum_lag = Gauge::new(
        "kafka_consumergroup_group_topic_sum_lag",
        "A group's lag over one topic's partitions.",
    );
    let mut per_group: BTreeMap<&str, (i64, f64, i64)> = BTreeMap::new();
    let mut per_topic: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for p in &positions {
        let labels = format!(
            "cluster_name=\"{cluster}\",group=\"{}\",topic=\"{}\",partition=\"{}\"",
            escaped(&p.group),
            escaped(&p.topic),
            p.partition
        );
        offset.samples.push((labels.clone(), p.committed as f64));
        lag.samples.push((labels.clone(), p.lag as f64));
        lag_seconds.samples.push((labels, p.lag_seconds));
        let g = per_group.entry(&p.group).or_default();
        g.0 = g.0.max(p.lag);
        g.1 = g.1.max(p.lag_seconds);
        g.2 += p.lag;
        *per_topic.entry((&p.group, &p.topic)).or_default() += p.lag;
    }
    for (group, (max, max_seconds, sum)) in per_group {
        let labels = format!("cluster_name=\"{cluster}\",group=\"{}\"", escaped(group));
        max_lag.samples.push((labels.clone(), max as f64));
        max_lag_seconds.samples.push((labels.clone(), max_seconds));
        sum_lag.samples.push((labels, sum as f64));
    }
    for ((group, topic), sum) in per_topic {
        let labels = format!(
            "cluster_name=\"{cluster}\",group=\"{}\",topic=\"{}\"",
            escaped(group),
            escaped(topic)
        );
        topic_sum_lag.samples.push((labels, sum as f64));
    }
    let (earliest, latest) = partition_offsets(&cluster, &hosted);
    vec![
        offset,
        lag,
        lag_seconds,
        max_lag,
        max_lag_seconds,
        sum_lag,
        topic_sum_lag,
        earliest,
        latest,
    ]
}

/// Each hosted partition's log start and high watermark.
fn partition_offsets(
    cluster: &str,
    hosted: &HashMap<(Arc<str>, i32), Arc<Partition>>,
) -> (Gauge<'static>, Gauge<'static>) {
    let mut earliest = Gauge::new(
        "kafka_partition_earliest_offset",
        "A partition's first offset.",
    );
    let mut latest = Gauge::new(
        "kafka_partition_latest_offset",
        "A partition's high watermark (what consumers can read up to).",
    );
    let mut keys: Vec<&(Arc<str>, i32)> = hosted.keys().collect();
    keys.sort();
    for key in keys {
        let Ok(o) = hosted[key].offsets() else {
            continue;
        };
        let labels = format!(
            "cluster_name=\"{cluster}\",topic=\"{}\",partition=\"{}\"",
            escaped(&key.0),
            key.1
        );
        earliest
            .samples
            .push((labels.clone(), o.log_start_offset as f64));
        latest.samples.push((labels, o.high_watermark as f64));
    }
    (earliest, latest)
}

/// The first timestamp of the batch holding `offset` (its base timestamp), read from the log.
fn batch_timestamp(partition: &Partition, offset: i64) -> Option<i64> {
    let plan = partition
        .plan_read(offset, TIMESTAMP_READ_BYTES, true, Isolation::Uncommitted)
        .ok()?;
    let bytes = plan.read(partition).ok()?;
    let batch = kavka_protocol::batch::BatchView::parse(&bytes).ok()?;
    Some(batch.base_timestamp())
}
