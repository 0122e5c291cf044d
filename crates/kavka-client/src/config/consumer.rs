//! Consumer settings, with the Java consumer's defaults.

use std::collections::BTreeMap;

use super::{parse_bool, set, unapplied};
use crate::assignor::AssignorKind;
use crate::error::ClientError;

/// Where a partition without a committed offset (or out of range) starts: `auto.offset.reset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetReset {
    /// The log start offset.
    Earliest,
    /// The log end offset.
    Latest,
    /// No reset: the consumer fails with [`ClientError::NoOffset`] or OFFSET_OUT_OF_RANGE.
    None,
}

/// Which records a fetch may return: `isolation.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    /// Up to the high watermark.
    ReadUncommitted,
    /// Up to the last stable offset (no open transaction's records).
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value.
    pub fn code(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// Consumer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// `group.id`: the consumer group (needed by `subscribe` and offset commits).
    pub group_id: Option<String>,
    /// `group.instance.id`: a static member's id (KIP-345).
    pub group_instance_id: Option<String>,
    /// `auto.offset.reset`.
    pub auto_offset_reset: OffsetReset,
    /// `enable.auto.commit`: commit positions every `auto_commit_interval_ms`, before a
    /// rebalance and on close (only with a group).
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval_ms: u64,
    /// `session.timeout.ms`: the coordinator drops a member not heard from this long.
    pub session_timeout_ms: i32,
    /// `heartbeat.interval.ms`: period of the background heartbeats.
    pub heartbeat_interval_ms: u64,
    /// `max.poll.interval.ms`, sent as the JoinGroup rebalance timeout: how long the
    /// coordinator waits for members to rejoin.
    pub rebalance_timeout_ms: i32,
    /// `max.poll.records`: most records one `poll` returns.
    pub max_poll_records: usize,
    /// `fetch.min.bytes`: the broker holds a fetch until this much data is available...
    pub fetch_min_bytes: i32,
    /// `fetch.max.wait.ms`: ...or this long has passed.
    pub fetch_max_wait_ms: i32,
    /// `fetch.max.bytes`: most bytes in one fetch response.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`: most bytes per partition in one fetch response.
    pub max_partition_fetch_bytes: i32,
    /// `isolation.level`.
    pub isolation_level: IsolationLevel,
    /// `partition.assignment.strategy`: the assignors offered in JoinGroup, preferred first.
    pub assignment_strategy: Vec<AssignorKind>,
    /// `allow.auto.create.topics`: whether metadata requests for subscribed or assigned topics
    /// may auto-create them (when the broker allows it).
    pub allow_auto_create_topics: bool,
}

impl Default for ConsumerConfig {
    fn default() -> ConsumerConfig {
        ConsumerConfig {
            group_id: None,
            group_instance_id: None,
            auto_offset_reset: OffsetReset::Latest,
            enable_auto_commit: true,
            auto_commit_interval_ms: 5_000,
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 3_000,
            rebalance_timeout_ms: 300_000,
            max_poll_records: 500,
            fetch_min_bytes: 1,
            fetch_max_wait_ms: 500,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            isolation_level: IsolationLevel::ReadUncommitted,
            assignment_strategy: vec![AssignorKind::Range],
            allow_auto_create_topics: true,
        }
    }
}

/// Keys applied by [`ConsumerConfig`].
const CONSUMER_KEYS: &[&str] = &[
    "group.id",
    "group.instance.id",
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "max.poll.records",
    "fetch.min.bytes",
    "fetch.max.wait.ms",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "isolation.level",
    "partition.assignment.strategy",
    "allow.auto.create.topics",
    "group.protocol",
];

impl ConsumerConfig {
    /// Reads Kafka's consumer keys (`group.id`, `auto.offset.reset`, `enable.auto.commit`,
    /// `isolation.level`, `partition.assignment.strategy` with short or Java class names...).
    /// `group.protocol` must be `classic` when given. Returns the configuration and the keys
    /// that neither it nor [`crate::ClientConfig`] applies (sorted).
    pub fn from_properties(
        props: &BTreeMap<String, String>,
    ) -> Result<(ConsumerConfig, Vec<String>), ClientError> {
        let mut c = ConsumerConfig::default();
        let non_empty = |v: &String| Some(v.clone()).filter(|v| !v.is_empty());
        if let Some(v) = props.get("group.id") {
            c.group_id = non_empty(v);
        }
        if let Some(v) = props.get("group.instance.id") {
            c.group_instance_id = non_empty(v);
        }
        if let Some(v) = props.get("auto.offset.reset") {
            c.auto_offset_reset = match v.trim() {
                "earliest" => OffsetReset::Earliest,
                "latest" => OffsetReset::Latest,
                "none" => OffsetReset::None,
                other => {
                    return Err(ClientError::Config(format!(
                        "auto.offset.reset: invalid value {other:?} (expected earliest, latest or none)"
                    )))
                }
            };
        }
        if let Some(v) = props.get("enable.auto.commit") {
            c.enable_auto_commit = parse_bool("enable.auto.commit", v)?;
        }
        set(
            props,
            "auto.commit.interval.ms",
            &mut c.auto_commit_interval_ms,
        )?;
        set(props, "session.timeout.ms", &mut c.session_timeout_ms)?;
        set(props, "heartbeat.interval.ms", &mut c.heartbeat_interval_ms)?;
        set(props, "max.poll.interval.ms", &mut c.rebalance_timeout_ms)?;
        set(props, "max.poll.records", &mut c.max_poll_records)?;
        set(props, "fetch.min.bytes", &mut c.fetch_min_bytes)?;
        set(props, "fetch.max.wait.ms", &mut c.fetch_max_wait_ms)?;
        set(props, "fetch.max.bytes", &mut c.fetch_max_bytes)?;
        set(
            props,
            "max.partition.fetch.bytes",
            &mut c.max_partition_fetch_bytes,
        )?;
        if let Some(v) = props.get("isolation.level") {
            c.isolation_level = match v.trim().to_ascii_lowercase().as_str() {
                "read_uncommitted" => IsolationLevel::ReadUncommitted,
                "read_committed" => IsolationLevel::ReadCommitted,
                other => {
                    return Err(ClientError::Config(format!(
                        "isolation.level: invalid value {other:?} (expected read_uncommitted or read_committed)"
                    )))
                }
            };
        }
        if let Some(v) = props.get("partition.assignment.strategy") {
            c.assignment_strategy = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(AssignorKind::from_config)
                .collect::<Result<_, _>>()?;
            if c.assignment_strategy.is_empty() {
                return Err(ClientError::Config(
                    "partition.assignment.strategy: no assignor given".into(),
                ));
            }
        }
        if let Some(v) = props.get("allow.auto.create.topics") {
            c.allow_auto_create_topics = parse_bool("allow.auto.create.topics", v)?;
        }
        if let Some(v) = props.get("group.protocol") {
            if !v.trim().eq_ignore_ascii_case("classic") {
                return Err(ClientError::Config(format!(
                    "group.protocol: {v:?} is not supported (only classic)"
                )));
            }
        }
        Ok((c, unapplied(props, CONSUMER_KEYS)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn consumer_keys_are_read() {
        let (c, unknown) = ConsumerConfig::from_properties(&props(&[
            ("bootstrap.servers", "a:1"),
            ("group.id", "g"),
            ("auto.offset.reset", "earliest"),
            ("enable.auto.commit", "false"),
            ("max.poll.interval.ms", "10000"),
            ("isolation.level", "read_committed"),
            (
                "partition.assignment.strategy",
                "org.apache.kafka.clients.consumer.RoundRobinAssignor, range",
            ),
            ("key.deserializer", "x"),
        ]))
        .unwrap();
        assert_eq!(c.group_id.as_deref(), Some("g"));
        assert_eq!(c.auto_offset_reset, OffsetReset::Earliest);
        assert!(!c.enable_auto_commit);
        assert_eq!(c.rebalance_timeout_ms, 10_000);
        assert_eq!(c.isolation_level, IsolationLevel::ReadCommitted);
        assert_eq!(
            c.assignment_strategy,
            vec![AssignorKind::RoundRobin, AssignorKind::Range]
        );
        assert_eq!(unknown, vec!["key.deserializer"]);
        let bad = ConsumerConfig::from_properties(&props(&[("auto.offset.reset", "smallest")]));
        assert!(matches!(bad, Err(ClientError::Config(_))));
        let sticky = ConsumerConfig::from_properties(&props(&[(
            "partition.assignment.strategy",
            "org.apache.kafka.clients.consumer.CooperativeStickyAssignor",
        )]));
        assert!(matches!(sticky, Err(ClientError::Config(_))));
        let d = ConsumerConfig::default();
        assert_eq!(d.auto_offset_reset, OffsetReset::Latest);
        assert_eq!(d.assignment_strategy, vec![AssignorKind::Range]);
        assert_eq!(d.session_timeout_ms, 45_000);
    }
}
