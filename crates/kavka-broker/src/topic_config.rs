//! Topic configurations as Kafka defines them: name, type, the broker key each inherits its
//! default from, validation; and the layers a value comes from, in Kafka's order of precedence:
//! set on the topic, set dynamically for this broker, set dynamically for every broker (the
//! cluster default), `server.properties`, Kafka's default. DescribeConfigs reports these, and
//! each partition's log is opened and reconfigured with them.

use std::collections::BTreeMap;

use kavka_metadata::{ConfigMap, MetadataImage};
use kavka_storage::{CleanupPolicy, LogConfig, TimestampType};

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
    /// Set dynamically for this broker.
    DynamicBroker = 2,
    /// Set dynamically for every broker (cluster default).
    DynamicDefaultBroker = 3,
    /// Set in the broker's static configuration (server.properties / overrides).
    StaticBroker = 4,
    /// Kafka's default.
    Default = 5,
}

/// How a value is checked.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// true or false.
    Boolean,
    /// A 32-bit integer of at least `min`.
    Int(i32),
    /// A 64-bit integer of at least `min`.
    Long(i64),
    /// A number from 0 to 1.
    Ratio,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
    /// A non-empty comma-separated list of the listed words.
    ListOf(&'static [&'static str]),
    /// Any text (checked where it is used, e.g. listeners).
    Text,
    /// `*` or `partition:broker,...` (replication throttles).
    ThrottledReplicas,
}

/// One topic config definition.
#[derive(Debug)]
pub struct TopicConfigDef {
    /// Topic-level name.
    pub name: &'static str,
    /// Type reported to clients.
    pub config_type: ConfigType,
    /// Broker key whose value is the default (and which can be set dynamically for brokers).
    pub broker_key: &'static str,
    /// Kafka's default.
    pub default: &'static str,
    /// Validation.
    pub rule: Rule,
}

const LONG_MAX: &str = "9223372036854775807";

/// The `broker_key` of a topic config no broker key sets (Kafka's throttled-replica lists).
pub const NO_BROKER_KEY: &str = "";

const fn def(
    name: &'static str,
    config_type: ConfigType,
    broker_key: &'static str,
    default: &'static str,
    rule: Rule,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        config_type,
        broker_key,
        default,
        rule,
    }
}

use ConfigType as T;

/// Every topic config, sorted by name.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        T::List,
        "log.cleanup.policy",
        "delete",
        Rule::ListOf(&["delete", "compact"]),
    ),
    def(
        "compression.type",
        T::String,
        "compression.type",
        "producer",
        Rule::OneOf(&["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]),
    ),
    def(
        "delete.retention.ms",
        T::Long,
        "log.cleaner.delete.retention.ms",
        "86400000",
        Rule::Long(0),
    ),
    def(
        "file.delete.delay.ms",
        T::Long,
        "log.segment.delete.delay.ms",
        "60000",
        Rule::Long(0),
    ),
    def(
        "flush.messages",
        T::Long,
        "log.flush.interval.messages",
        LONG_MAX,
        Rule::Long(1),
    ),
    def(
        "flush.ms",
        T::Long,
        "log.flush.interval.ms",
        LONG_MAX,
        Rule::Long(0),
    ),
    def(
        "follower.replication.throttled.replicas",
        T::List,
        NO_BROKER_KEY,
        "",
        Rule::ThrottledReplicas,
    ),
    def(
        "index.interval.bytes",
        T::Int,
        "log.index.interval.bytes",
        "4096",
        Rule::Int(0),
    ),
    def(
        "leader.replication.throttled.replicas",
        T::List,
        NO_BROKER_KEY,
        "",
        Rule::ThrottledReplicas,
    ),
    def(
        "max.compaction.lag.ms",
        T::Long,
        "log.cleaner.max.compaction.lag.ms",
        LONG_MAX,
        Rule::Long(1),
    ),
    def(
        "max.message.bytes",
        T::Int,
        "message.max.bytes",
        "1048588",
        Rule::Int(0),
    ),
    def(
        "message.timestamp.after.max.ms",
        T::Long,
        "log.message.timestamp.after.max.ms",
        "3600000",
        Rule::Long(0),
    ),
    def(
        "message.timestamp.before.max.ms",
        T::Long,
        "log.message.timestamp.before.max.ms",
        LONG_MAX,
        Rule::Long(0),
    ),
    def(
        "message.timestamp.type",
        T::String,
        "log.message.timestamp.type",
        "CreateTime",
        Rule::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    def(
        "min.cleanable.dirty.ratio",
        T::Double,
        "log.cleaner.min.cleanable.ratio",
        "0.5",
        Rule::Ratio,
    ),
    def(
        "min.compaction.lag.ms",
        T::Long,
        "log.cleaner.min.compaction.lag.ms",
        "0",
        Rule::Long(0),
    ),
    def(
        "min.insync.replicas",
        T::Int,
        "min.insync.replicas",
        "1",
        Rule::Int(1),
    ),
    def(
        "preallocate",
        T::Boolean,
        "log.preallocate",
        "false",
        Rule::Boolean,
    ),
    def(
        "retention.bytes",
        T::Long,
        "log.retention.bytes",
        "-1",
        Rule::Long(-1),
    ),
    def(
        "retention.ms",
        T::Long,
        "log.retention.ms",
        "604800000",
        Rule::Long(-1),
    ),
    def(
        "segment.bytes",
        T::Int,
        "log.segment.bytes",
        "1073741824",
        Rule::Int(14),
    ),
    def(
        "segment.index.bytes",
        T::Int,
        "log.index.size.max.bytes",
        "10485760",
        Rule::Int(4),
    ),
    def(
        "segment.jitter.ms",
        T::Long,
        "log.roll.jitter.ms",
        "0",
        Rule::Long(0),
    ),
    def(
        "segment.ms",
        T::Long,
        "log.roll.ms",
        "604800000",
        Rule::Long(1),
    ),
    def(
        "unclean.leader.election.enable",
        T::Boolean,
        "unclean.leader.election.enable",
        "false",
        Rule::Boolean,
    ),
];

/// Topic configs Kafka has for tiered storage, which Kavka does not have: refused by name.
const TIERED_STORAGE_CONFIGS: &[&str] = &[
    "remote.storage.enable",
    "local.retention.ms",
    "local.retention.bytes",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
];

/// Looks up a definition by topic config name.
pub fn topic_config_def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Looks up a definition by its broker key.
pub fn broker_key_def(key: &str) -> Option<&'static TopicConfigDef> {
    if key == NO_BROKER_KEY {
        return None;
    }
    TOPIC_CONFIGS.iter().find(|d| d.broker_key == key)
}

/// Checks a value against a definition; the error text is what clients see with INVALID_CONFIG.
pub fn check(def: &TopicConfigDef, key: &str, value: &str) -> Result<(), String> {
    check_rule(def.rule, key, value)
}

/// Checks `value` of `key` against `rule`, with Kafka's messages.
pub fn check_rule(rule: Rule, key: &str, value: &str) -> Result<(), String> {
    rule_reason(rule, value)
        .map_err(|why| format!("Invalid value {value} for configuration {key}: {why}"))
}

/// Why `value` breaks `rule` (Kafka's words), if it does.
pub fn rule_reason(rule: Rule, value: &str) -> Result<(), String> {
    let invalid = |why: String| why;
    let v = value.trim();
    match rule {
        Rule::Text => {}
        Rule::ThrottledReplicas => crate::replica_manager::quota::check_list(v)?,
        Rule::Boolean => {
            if !matches!(v.to_ascii_lowercase().as_str(), "true" | "false") {
                return Err(invalid("Expected value to be either true or false".into()));
            }
        }
        Rule::Int(min) => {
            let n: i32 = v
                .parse()
                .map_err(|_| invalid("Not a number of type INT".into()))?;
            if n < min {
                return Err(invalid(format!("Value must be at least {min}")));
            }
        }
        Rule::Long(min) => {
            let n: i64 = v
                .parse()
                .map_err(|_| invalid("Not a number of type LONG".into()))?;
            if n < min {
                return Err(invalid(format!("Value must be at least {min}")));
            }
        }
        Rule::Ratio => {
            let n: f64 = v
                .parse()
                .map_err(|_| invalid("Not a number of type DOUBLE".into()))?;
            if !(0.0..=1.0).contains(&n) {
                return Err(invalid("Value must be between 0 and 1".into()));
            }
        }
        Rule::OneOf(allowed) => {
            if !allowed.contains(&v) {
                return Err(invalid(format!(
                    "String must be one of: {}",
                    allowed.join(", ")
                )));
            }
        }
        Rule::ListOf(allowed) => {
            let items: Vec<&str> = v.split(',').map(str::trim).collect();
            if items.iter().any(|i| !allowed.contains(i)) {
                return Err(invalid(format!(
                    "List items must be among: {}",
                    allowed.join(", ")
                )));
            }
        }
    }
    Ok(())
}

/// The number a topic config holds. Every value is checked when it is set (CreateTopics,
/// AlterConfigs, `server.properties`), so one that does not parse here came from elsewhere
/// (an edited metadata log, a value older rules allowed): it is logged as an error and Kafka's
/// default is used instead, never a silent extreme.
fn number<N: std::str::FromStr>(name: &str, value: &str) -> N {
    let def = topic_config_def(name).unwrap_or_else(|| panic!("{name} is not a topic config"));
    value.trim().parse().unwrap_or_else(|_| {
        tracing::error!(
            key = name,
            value,
            default = def.default,
            "config value in force does not parse; using Kafka's default"
        );
        def.default
            .parse()
            .unwrap_or_else(|_| panic!("the default of {name} parses"))
    })
}

/// Checks a topic config name and value.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    if TIERED_STORAGE_CONFIGS.contains(&name) {
        return Err(format!(
            "Topic config {name} is not supported: Kavka keeps every segment locally (no tiered storage)"
        ));
    }
    let def = topic_config_def(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    check(def, name, value)
}

/// Static broker values of topic configs, by topic config name: the value and whether it was
/// given.
pub type StaticTopicDefaults = BTreeMap<&'static str, (String, bool)>;

/// A refused static value: key, value, reason.
pub type StaticValueError = (String, String, String);

/// The static (server.properties) value of every topic config's broker key, and whether it was
/// given; Kafka's unit variants (`log.retention.hours`, `log.roll.hours`, ...) are folded in.
pub fn static_topic_defaults(
    given: &BTreeMap<String, String>,
) -> Result<StaticTopicDefaults, StaticValueError> {
    let mut out = BTreeMap::new();
    for def in TOPIC_CONFIGS {
        let unit_variant = |key: &str, factor: i64| -> Result<Option<String>, StaticValueError> {
            match given.get(key) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map(|n| Some(n.saturating_mul(factor).to_string()))
                    .map_err(|_| {
                        (
                            key.to_string(),
                            v.clone(),
                            "Not a number of type LONG".to_string(),
                        )
                    }),
            }
        };
        let value = match given.get(def.broker_key) {
            Some(v) => Some(v.trim().to_string()),
            None => match def.name {
                "retention.ms" => match unit_variant("log.retention.minutes", 60_000)? {
                    Some(v) => Some(v),
                    None => unit_variant("log.retention.hours", 3_600_000)?,
                },
                "segment.ms" => unit_variant("log.roll.hours", 3_600_000)?,
                "segment.jitter.ms" => unit_variant("log.roll.jitter.hours", 3_600_000)?,
                _ => None,
            },
        };
        match value {
            Some(v) => {
                check(def, def.broker_key, &v)
                    .map_err(|why| (def.broker_key.to_string(), v.clone(), why))?;
                out.insert(def.name, (v, true));
            }
            None => {
                out.insert(def.name, (def.default.to_string(), false));
            }
        }
    }
    Ok(out)
}

/// A value with where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedValue {
    /// The key at that layer (topic name or broker key).
    pub key: &'static str,
    /// The value.
    pub value: String,
    /// The layer.
    pub source: ConfigSource,
}

/// An effective topic config value with the layers underneath it (Kafka's synonyms, highest
/// precedence first; the first is the value in force).
#[derive(Debug, Clone)]
pub struct EffectiveConfig {
    /// Definition.
    pub def: &'static TopicConfigDef,
    /// Value in force.
    pub value: String,
    /// Where it comes from.
    pub source: ConfigSource,
    /// Every layer that sets it, highest precedence first.
    pub synonyms: Vec<SourcedValue>,
}

/// The layers of configuration below the topic's own overrides.
#[derive(Debug, Clone, Copy)]
pub struct ConfigLayers<'a> {
    /// Static broker values.
    broker: &'a BrokerConfig,
    /// Dynamic configs for every broker (resource name "").
    dynamic_default: Option<&'a ConfigMap>,
    /// Dynamic configs for this broker (resource name = node id).
    dynamic_node: Option<&'a ConfigMap>,
}

impl<'a> ConfigLayers<'a> {
    /// The layers of this node, given the metadata image.
    pub fn new(broker: &'a BrokerConfig, image: &'a MetadataImage) -> ConfigLayers<'a> {
        ConfigLayers {
            broker,
            dynamic_default: image.broker_configs(""),
            dynamic_node: image.broker_configs(&broker.node_id.to_string()),
        }
    }

    /// Every broker-level layer of a topic config's broker key, highest precedence first; the
    /// last is always the static or default value.
    pub fn broker_layers(&self, def: &'static TopicConfigDef) -> Vec<SourcedValue> {
        if def.broker_key == NO_BROKER_KEY {
            return vec![SourcedValue {
                key: def.name,
                value: def.default.to_string(),
                source: ConfigSource::Default,
            }];
        }
        let given = self.broker.topic_defaults.get(def.name).cloned();
        let static_value = given.and_then(|(v, given)| given.then_some(v));
        self.key_layers(def.broker_key, def.default, static_value)
    }

    /// Every layer of broker key `key` (default `default`, set in the static configuration to
    /// `static_value`), highest precedence first: this broker's dynamic value, the cluster
    /// default, the static value, else the default.
    pub fn key_layers(
        &self,
        key: &'static str,
        default: &str,
        static_value: Option<String>,
    ) -> Vec<SourcedValue> {
        let mut layers = Vec::new();
        let dynamic = [
            (self.dynamic_node, ConfigSource::DynamicBroker),
            (self.dynamic_default, ConfigSource::DynamicDefaultBroker),
        ];
        for (map, source) in dynamic {
            if let Some(v) = map.and_then(|m| m.get(key)) {
                layers.push(SourcedValue {
                    key,
                    value: v.clone(),
                    source,
                });
            }
        }
        // Kafka lists the default only when nothing static sets the key.
        let (value, source) = match static_value {
            Some(v) => (v, ConfigSource::StaticBroker),
            None => (default.to_string(), ConfigSource::Default),
        };
        layers.push(SourcedValue { key, value, source });
        layers
    }

    /// The value in force of a broker key that can change at run time.
    pub fn dynamic_broker_value(&self, key: &'static crate::config::BrokerKey) -> String {
        let static_value = self
            .broker
            .given
            .get(key.name)
            .map(|v| v.trim().to_string());
        self.key_layers(key.name, key.default.unwrap_or_default(), static_value)
            .swap_remove(0)
            .value
    }

    /// Every topic config's value in force for a topic with the given overrides.
    pub fn effective(&self, overrides: &BTreeMap<String, String>) -> Vec<EffectiveConfig> {
        TOPIC_CONFIGS
            .iter()
            .map(|def| {
                let mut synonyms = Vec::new();
                if let Some(v) = overrides.get(def.name) {
                    synonyms.push(SourcedValue {
                        key: def.name,
                        value: v.clone(),
                        source: ConfigSource::DynamicTopic,
                    });
                }
                synonyms.extend(self.broker_layers(def));
                EffectiveConfig {
                    def,
                    value: synonyms[0].value.clone(),
                    source: synonyms[0].source,
                    synonyms,
                }
            })
            .collect()
    }

    /// The storage configuration of a topic's partitions.
    pub fn log_config(&self, overrides: &BTreeMap<String, String>) -> LogConfig {
        let values: BTreeMap<&str, String> = self
            .effective(overrides)
            .into_iter()
            .map(|e| (e.def.name, e.value))
            .collect();
        let get = |name: &str| values.get(name).map(String::as_str).unwrap_or_default();
        let num = |name: &str| -> i64 { number(name, get(name)) };
        // Kafka's default for flush.* is Long.MAX_VALUE: never.
        let optional = |v: i64| (v < i64::MAX).then_some(v);
        let policy = get("cleanup.policy");
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
            retention_ms: num("retention.ms"),
            retention_bytes: num("retention.bytes"),
            cleanup_policy: CleanupPolicy {
                delete: policy.split(',').any(|p| p.trim() == "delete"),
                compact: policy.split(',').any(|p| p.trim() == "compact"),
            },
            delete_retention_ms: num("delete.retention.ms"),
            min_compaction_lag_ms: num("min.compaction.lag.ms"),
            max_compaction_lag_ms: num("max.compaction.lag.ms"),
            min_cleanable_dirty_ratio: number(
                "min.cleanable.dirty.ratio",
                get("min.cleanable.dirty.ratio"),
            ),
            file_delete_delay_ms: num("file.delete.delay.ms"),
        }
    }

    /// The storage configuration and the produce checks of a topic's partitions.
    pub fn partition_configs(
        &self,
        overrides: &BTreeMap<String, String>,
    ) -> (LogConfig, crate::replica_manager::ProducePolicy) {
        let log = self.log_config(overrides);
        let num = |name: &str| -> i64 {
            number(
                name,
                self.value(overrides, name).as_deref().unwrap_or_default(),
            )
        };
        let policy = crate::replica_manager::ProducePolicy {
            min_insync_replicas: number(
                "min.insync.replicas",
                self.value(overrides, "min.insync.replicas")
                    .as_deref()
                    .unwrap_or_default(),
            ),
            timestamp_before_max_ms: num("message.timestamp.before.max.ms"),
            timestamp_after_max_ms: num("message.timestamp.after.max.ms"),
            segment_bytes: log.segment_bytes,
            log_append_time: log.message_timestamp_type == TimestampType::LogAppendTime,
            may_fsync: log.flush_messages.is_some(),
            compacted: log.cleanup_policy.compact,
            compression: {
                use kavka_protocol::batch::Compression;
                match self.value(overrides, "compression.type").as_deref() {
                    Some("uncompressed") => Some(Compression::None),
                    Some("gzip") => Some(Compression::Gzip),
                    Some("snappy") => Some(Compression::Snappy),
                    Some("lz4") => Some(Compression::Lz4),
                    Some("zstd") => Some(Compression::Zstd),
                    _ => None,
                }
            },
        };
        (log, policy)
    }

    /// The value in force of one topic config for a topic.
    pub fn value(&self, overrides: &BTreeMap<String, String>, name: &str) -> Option<String> {
        self.effective(overrides)
            .into_iter()
            .find(|e| e.def.name == name)
            .map(|e| e.value)
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
        assert!(validate("compression.type", "zstd").is_ok());
        assert!(validate("remote.storage.enable", "true")
            .unwrap_err()
            .contains("tiered"));
    }

    #[test]
    fn layers_in_kafkas_order() {
        let mut given = BTreeMap::new();
        given.insert("log.retention.hours".to_string(), "1".to_string());
        given.insert("log.segment.bytes".to_string(), "2048".to_string());
        let broker = BrokerConfig::from_map(given).unwrap();
        let mut image = MetadataImage::new();
        let rec = |name: &str, key: &str, value: &str| {
            kavka_metadata::MetadataRecord::Config(kavka_metadata::ConfigRecord {
                resource_type: kavka_metadata::ConfigResourceType::Broker,
                resource_name: name.into(),
                name: key.into(),
                value: Some(value.into()),
            })
        };
        image.apply(&rec("", "log.segment.bytes", "4096")).unwrap();
        image.apply(&rec("1", "log.roll.ms", "5000")).unwrap();
        let layers = ConfigLayers::new(&broker, &image);
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        let eff = layers.effective(&overrides);
        let get = |n: &str| eff.iter().find(|e| e.def.name == n).unwrap().clone();
        assert_eq!(
            (
                get("retention.ms").value.as_str(),
                get("retention.ms").source
            ),
            ("3600000", ConfigSource::StaticBroker)
        );
        assert_eq!(
            (
                get("segment.bytes").value.as_str(),
                get("segment.bytes").source
            ),
            ("4096", ConfigSource::DynamicDefaultBroker)
        );
        assert_eq!(get("segment.bytes").synonyms.len(), 2);
        assert_eq!(
            (get("segment.ms").value.as_str(), get("segment.ms").source),
            ("5000", ConfigSource::DynamicBroker)
        );
        assert_eq!(
            get("message.timestamp.type").source,
            ConfigSource::DynamicTopic
        );
        assert_eq!(get("delete.retention.ms").source, ConfigSource::Default);
        let lc = layers.log_config(&overrides);
        assert_eq!(lc.segment_bytes, 4096);
        assert_eq!(lc.segment_ms, 5000);
        assert_eq!(lc.retention_ms, 3_600_000);
        assert_eq!(lc.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(lc.flush_messages, None);
        assert!(lc.cleanup_policy.delete && !lc.cleanup_policy.compact);
    }
}
