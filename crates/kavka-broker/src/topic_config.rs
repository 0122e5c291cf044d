//! Topic configurations as Kafka defines them: name, type, the broker key each inherits its
//! default from, validation; and the effective values (with their source) that DescribeConfigs
//! reports and the log is opened with.

use std::collections::BTreeMap;

use kavka_storage::{LogConfig, TimestampType};

use crate::config::BrokerConfig;

/// Kafka's `ConfigType` wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// true/false.
    Boolean = 1,
    /// Free text.
    String = 2,
    /// 32-bit integer.
    Int = 3,
    /// 64-bit integer.
    Long = 5,
    /// Floating point.
    Double = 6,
    /// Comma-separated list.
    List = 7,
}

/// Kafka's `ConfigSource` wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Set on the topic.
    DynamicTopic = 1,
    /// Set in the broker's static configuration (server.properties / overrides).
    StaticBroker = 4,
    /// Kafka's default.
    Default = 5,
}

/// One topic config definition.
#[derive(Debug)]
pub struct TopicConfigDef {
    /// Topic-level name.
    pub name: &'static str,
    /// Type reported to clients.
    pub config_type: ConfigType,
    /// Broker key whose value is the default.
    pub broker_key: &'static str,
}

const fn def(
    name: &'static str,
    config_type: ConfigType,
    broker_key: &'static str,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        config_type,
        broker_key,
    }
}

/// Every topic config Kafka defines, sorted by name.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def("cleanup.policy", ConfigType::List, "log.cleanup.policy"),
    def("compression.type", ConfigType::String, "compression.type"),
    def(
        "delete.retention.ms",
        ConfigType::Long,
        "log.cleaner.delete.retention.ms",
    ),
    def(
        "file.delete.delay.ms",
        ConfigType::Long,
        "log.segment.delete.delay.ms",
    ),
    def(
        "flush.messages",
        ConfigType::Long,
        "log.flush.interval.messages",
    ),
    def("flush.ms", ConfigType::Long, "log.flush.interval.ms"),
    def(
        "index.interval.bytes",
        ConfigType::Int,
        "log.index.interval.bytes",
    ),
    def(
        "max.compaction.lag.ms",
        ConfigType::Long,
        "log.cleaner.max.compaction.lag.ms",
    ),
    def("max.message.bytes", ConfigType::Int, "message.max.bytes"),
    def(
        "message.timestamp.after.max.ms",
        ConfigType::Long,
        "log.message.timestamp.after.max.ms",
    ),
    def(
        "message.timestamp.before.max.ms",
        ConfigType::Long,
        "log.message.timestamp.before.max.ms",
    ),
    def(
        "message.timestamp.type",
        ConfigType::String,
        "log.message.timestamp.type",
    ),
    def(
        "min.cleanable.dirty.ratio",
        ConfigType::Double,
        "log.cleaner.min.cleanable.ratio",
    ),
    def(
        "min.compaction.lag.ms",
        ConfigType::Long,
        "log.cleaner.min.compaction.lag.ms",
    ),
    def(
        "min.insync.replicas",
        ConfigType::Int,
        "min.insync.replicas",
    ),
    def("preallocate", ConfigType::Boolean, "log.preallocate"),
    def("retention.bytes", ConfigType::Long, "log.retention.bytes"),
    def("retention.ms", ConfigType::Long, "log.retention.ms"),
    def("segment.bytes", ConfigType::Int, "log.segment.bytes"),
    def(
        "segment.index.bytes",
        ConfigType::Int,
        "log.index.size.max.bytes",
    ),
    def("segment.jitter.ms", ConfigType::Long, "log.roll.jitter.ms"),
    def("segment.ms", ConfigType::Long, "log.roll.ms"),
    def(
        "unclean.leader.election.enable",
        ConfigType::Boolean,
        "unclean.leader.election.enable",
    ),
];

/// Looks up a definition.
pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The broker-level value a topic config defaults to, and whether the broker's configuration
/// set it explicitly.
pub fn broker_default(broker: &BrokerConfig, def: &TopicConfigDef) -> (String, bool) {
    let given = broker.given.contains_key(def.broker_key);
    let long_max = i64::MAX.to_string();
    let value = match def.name {
        "cleanup.policy" => broker.log_cleanup_policy.clone(),
        "compression.type" => broker.compression_type.clone(),
        "delete.retention.ms" => "86400000".into(),
        "file.delete.delay.ms" => "60000".into(),
        "flush.messages" => broker
            .log_flush_interval_messages
            .map_or(long_max, |v| v.to_string()),
        "flush.ms" => broker
            .log_flush_interval_ms
            .map_or(long_max, |v| v.to_string()),
        "index.interval.bytes" => broker.log_index_interval_bytes.to_string(),
        "max.compaction.lag.ms" => long_max,
        "max.message.bytes" => broker.message_max_bytes.to_string(),
        "message.timestamp.after.max.ms" => "3600000".into(),
        "message.timestamp.before.max.ms" => long_max,
        "message.timestamp.type" => broker.log_message_timestamp_type.clone(),
        "min.cleanable.dirty.ratio" => "0.5".into(),
        "min.compaction.lag.ms" => "0".into(),
        "min.insync.replicas" => broker.min_insync_replicas.to_string(),
        "preallocate" => "false".into(),
        "retention.bytes" => broker.log_retention_bytes.to_string(),
        "retention.ms" => broker.log_retention_ms.to_string(),
        "segment.bytes" => broker.log_segment_bytes.to_string(),
        "segment.index.bytes" => broker.log_index_size_max_bytes.to_string(),
        "segment.jitter.ms" => "0".into(),
        "segment.ms" => broker.log_roll_ms.to_string(),
        "unclean.leader.election.enable" => "false".into(),
        other => unreachable!("no broker default for {other}"),
    };
    let given = given
        || (def.name == "retention.ms"
            && (broker.given.contains_key("log.retention.hours")
                || broker.given.contains_key("log.retention.minutes")))
        || (def.name == "segment.ms" && broker.given.contains_key("log.roll.hours"));
    (value, given)
}

/// Checks a topic config name and value; the error text is what clients see with INVALID_CONFIG.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let def = topic_config_def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let invalid = |why: &str| format!("Invalid value {value} for configuration {name}: {why}");
    match def.config_type {
        ConfigType::Boolean => {
            if !matches!(value.to_ascii_lowercase().as_str(), "true" | "false") {
                return Err(invalid("Expected value to be either true or false"));
            }
        }
        ConfigType::Int => {
            let v: i32 = value
                .trim()
                .parse()
                .map_err(|_| invalid("Not a number of type INT"))?;
            let min = match name {
                "segment.bytes" => 14,
                "segment.index.bytes" => 4,
                "min.insync.replicas" => 1,
                _ => 0,
            };
            if v < min {
                return Err(invalid(&format!("Value must be at least {min}")));
            }
        }
        ConfigType::Long => {
            let v: i64 = value
                .trim()
                .parse()
                .map_err(|_| invalid("Not a number of type LONG"))?;
            let min = match name {
                "retention.ms" | "retention.bytes" => -1,
                "segment.ms" | "flush.messages" => 1,
                _ => 0,
            };
            if v < min {
                return Err(invalid(&format!("Value must be at least {min}")));
            }
        }
        ConfigType::Double => {
            let v: f64 = value
                .trim()
                .parse()
                .map_err(|_| invalid("Not a number of type DOUBLE"))?;
            if !(0.0..=1.0).contains(&v) {
                return Err(invalid("Value must be between 0 and 1"));
            }
        }
        ConfigType::String | ConfigType::List => {
            let ok = match name {
                "cleanup.policy" => value
                    .split(',')
                    .all(|p| matches!(p.trim(), "delete" | "compact")),
                "compression.type" => value == "producer",
                "message.timestamp.type" => matches!(value, "CreateTime" | "LogAppendTime"),
                _ => true,
            };
            if !ok {
                let why = if name == "compression.type" {
                    "only 'producer' (store batches as sent) is supported so far"
                } else {
                    "String must be one of the allowed values"
                };
                return Err(invalid(why));
            }
        }
    }
    Ok(())
}

/// An effective config value with its source.
#[derive(Debug, Clone)]
pub struct EffectiveConfig {
    /// Definition.
    pub def: &'static TopicConfigDef,
    /// Value in force.
    pub value: String,
    /// Where it comes from.
    pub source: ConfigSource,
    /// The broker-level value underneath (for synonyms).
    pub broker_value: (String, bool),
}

/// Every topic config's value in force for a topic with the given overrides.
pub fn effective(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<EffectiveConfig> {
    TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let broker_value = broker_default(broker, def);
            let (value, source) = match overrides.get(def.name) {
                Some(v) => (v.clone(), ConfigSource::DynamicTopic),
                None if broker_value.1 => (broker_value.0.clone(), ConfigSource::StaticBroker),
                None => (broker_value.0.clone(), ConfigSource::Default),
            };
            EffectiveConfig {
                def,
                value,
                source,
                broker_value,
            }
        })
        .collect()
}

/// The storage configuration of a topic's partitions.
pub fn log_config(broker: &BrokerConfig, overrides: &BTreeMap<String, String>) -> LogConfig {
    let get = |name: &str| -> String {
        overrides.get(name).cloned().unwrap_or_else(|| {
            broker_default(broker, topic_config_def(name).expect("known config")).0
        })
    };
    let num = |name: &str| -> i64 { get(name).trim().parse::<i64>().unwrap_or(i64::MAX) };
    let optional = |v: i64| (v < i64::MAX).then_some(v);
    LogConfig {
        segment_bytes: num("segment.bytes") as u64,
        segment_ms: num("segment.ms"),
        segment_index_bytes: num("segment.index.bytes") as u64,
        index_interval_bytes: num("index.interval.bytes") as u64,
        flush_messages: optional(num("flush.messages")).map(|v| v as u64),
        flush_ms: optional(num("flush.ms")),
        max_message_bytes: num("max.message.bytes") as usize,
        message_timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_follows_kafka_types() {
        assert!(validate("retention.ms", "1000").is_ok());
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.ms", "soon").is_err());
        assert!(validate("no.such.config", "1")
            .unwrap_err()
            .contains("Unknown"));
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("segment.bytes", "10").is_err());
        assert!(validate("min.cleanable.dirty.ratio", "2").is_err());
    }

    #[test]
    fn overrides_win_over_broker_defaults() {
        let broker = BrokerConfig::default();
        let mut o = BTreeMap::new();
        o.insert("segment.bytes".to_string(), "1024".to_string());
        o.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        let lc = log_config(&broker, &o);
        assert_eq!(lc.segment_bytes, 1024);
        assert_eq!(lc.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(lc.flush_messages, None);
        let eff = effective(&broker, &o);
        let seg = eff.iter().find(|e| e.def.name == "segment.bytes").unwrap();
        assert_eq!(seg.source, ConfigSource::DynamicTopic);
        let ret = eff.iter().find(|e| e.def.name == "retention.ms").unwrap();
        assert_eq!(ret.source, ConfigSource::Default);
        assert_eq!(ret.value, "604800000");
    }
}
