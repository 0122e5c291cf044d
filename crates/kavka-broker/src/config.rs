//! Broker configuration in Kafka's own words: `server.properties` (Java properties format) plus
//! `--override key=value`, with Kafka's key names, defaults and units.
//!
//! Unknown keys are a warning (a Kafka `server.properties` carries many keys that mean nothing to
//! a single Kavka node); a bad value of a known key is an error naming the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// A configuration mistake, reported as one line naming the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The properties file could not be read or parsed.
    #[error("cannot read config file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An override is not `key=value`.
    #[error("override '{0}' is not of the form key=value")]
    Override(String),
    /// A known key has a value that does not parse or is out of range.
    #[error("invalid value '{value}' for config {key}: {reason}")]
    Value {
        /// Key.
        key: String,
        /// Value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
}

/// A listener to serve: name, security protocol, bind address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name (`PLAINTEXT`, ...).
    pub name: String,
    /// Host as configured (empty means all interfaces).
    pub host: String,
    /// Port (0 asks the OS for a free port).
    pub port: u16,
}

impl Listener {
    /// The address to bind.
    pub fn bind_address(&self) -> String {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        if host.contains(':') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Where clients are told to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedListener {
    /// Host advertised in Metadata.
    pub host: String,
    /// Port advertised; 0 means "the port actually bound".
    pub port: u16,
}

/// Every broker setting Kavka acts on, with Kafka's defaults.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`: this node's id, as broker and controller.
    pub node_id: i32,
    /// `listeners`: the PLAINTEXT listener served to clients.
    pub listener: Listener,
    /// `advertised.listeners`: what Metadata tells clients (defaults to the listener).
    pub advertised: AdvertisedListener,
    /// `log.dirs` (or `log.dir`): data directories; the first also holds the metadata log.
    pub log_dirs: Vec<PathBuf>,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `log.segment.bytes`.
    pub log_segment_bytes: u64,
    /// `log.roll.ms` (or `log.roll.hours`).
    pub log_roll_ms: i64,
    /// `log.index.interval.bytes`.
    pub log_index_interval_bytes: u64,
    /// `log.index.size.max.bytes`.
    pub log_index_size_max_bytes: u64,
    /// `log.flush.interval.messages`: `None` leaves flushing to the OS.
    pub log_flush_interval_messages: Option<u64>,
    /// `log.flush.interval.ms`: `None` means no time-based flush.
    pub log_flush_interval_ms: Option<i64>,
    /// `log.retention.ms` (or `.minutes`/`.hours`): reported to clients; enforced later.
    pub log_retention_ms: i64,
    /// `log.retention.bytes`: reported to clients; enforced later.
    pub log_retention_bytes: i64,
    /// `log.cleanup.policy`.
    pub log_cleanup_policy: String,
    /// `log.message.timestamp.type`: CreateTime or LogAppendTime.
    pub log_message_timestamp_type: String,
    /// `message.max.bytes`: largest record batch accepted.
    pub message_max_bytes: usize,
    /// `socket.request.max.bytes`: largest request frame accepted.
    pub socket_request_max_bytes: usize,
    /// `compression.type`.
    pub compression_type: String,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// Every key given (file then overrides), for DescribeConfigs sources.
    pub given: BTreeMap<String, String>,
}

/// Keys a Kafka `server.properties` commonly carries that a single Kavka node accepts without
/// acting on (KRaft quorum wiring, thread pools, socket buffers): no warning for these.
const ACCEPTED_WITHOUT_EFFECT: &[&str] = &[
    "process.roles",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "controller.listener.names",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "num.network.threads",
    "num.io.threads",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "num.recovery.threads.per.data.dir",
    "offsets.topic.replication.factor",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "log.retention.check.interval.ms",
    "group.initial.rebalance.delay.ms",
    "broker.id",
];

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig::from_map(BTreeMap::new()).expect("defaults are valid")
    }
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse::<T>().map_err(|e| ConfigError::Value {
        key: key.to_string(),
        value: value.to_string(),
        reason: e.to_string(),
    })
}

fn bad(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Value {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(bad(key, value, "expected true or false")),
    }
}

/// Parses `NAME://host:port`.
fn parse_endpoint(key: &str, value: &str) -> Result<(String, String, u16), ConfigError> {
    let (name, rest) = value
        .split_once("://")
        .ok_or_else(|| bad(key, value, "expected NAME://host:port"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| bad(key, value, "expected NAME://host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port: u16 = port
        .parse()
        .map_err(|_| bad(key, value, "port must be a number from 0 to 65535"))?;
    if name.is_empty() {
        return Err(bad(key, value, "listener name is empty"));
    }
    Ok((name.to_ascii_uppercase(), host.to_string(), port))
}

impl BrokerConfig {
    /// Reads a properties file (optional) and applies `key=value` overrides.
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<BrokerConfig, ConfigError> {
        let mut map = BTreeMap::new();
        if let Some(path) = file {
            let f = std::fs::File::open(path).map_err(|e| ConfigError::File {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            let props = java_properties::read(std::io::BufReader::new(f)).map_err(|e| {
                ConfigError::File {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }
            })?;
            map.extend(props);
        }
        for o in overrides {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::Override(o.clone()))?;
            if k.trim().is_empty() {
                return Err(ConfigError::Override(o.clone()));
            }
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
        BrokerConfig::from_map(map)
    }

    /// Builds the configuration from keys and values, Kafka defaults for the rest.
    pub fn from_map(map: BTreeMap<String, String>) -> Result<BrokerConfig, ConfigError> {
        let get = |k: &str| map.get(k).map(String::as_str);
        let node_id: i32 = get("node.id")
            .or(get("broker.id"))
            .map(|v| parse("node.id", v))
            .transpose()?
            .unwrap_or(1);
        if node_id < 0 {
            return Err(bad("node.id", &node_id.to_string(), "must be >= 0"));
        }

        let controller_names: Vec<String> = get("controller.listener.names")
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .collect();
        let listeners_value = get("listeners").unwrap_or("PLAINTEXT://127.0.0.1:9092");
        let mut listener = None;
        for item in listeners_value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (name, host, port) = parse_endpoint("listeners", item)?;
            if controller_names.contains(&name) {
                tracing::info!(
                    listener = %name,
                    "controller listener not opened: this node's controller is in-process"
                );
                continue;
            }
            if name != "PLAINTEXT" {
                return Err(bad(
                    "listeners",
                    listeners_value,
                    &format!("listener {name}: only PLAINTEXT is supported so far"),
                ));
            }
            if listener.is_some() {
                return Err(bad(
                    "listeners",
                    listeners_value,
                    "only one PLAINTEXT listener is supported",
                ));
            }
            listener = Some(Listener { name, host, port });
        }
        let listener =
            listener.ok_or_else(|| bad("listeners", listeners_value, "no PLAINTEXT listener"))?;

        let advertised = match get("advertised.listeners") {
            Some(v) if !v.trim().is_empty() => {
                let first = v
                    .split(',')
                    .map(str::trim)
                    .find(|s| !s.is_empty())
                    .unwrap_or(v);
                let (_, host, port) = parse_endpoint("advertised.listeners", first)?;
                AdvertisedListener { host, port }
            }
            _ => AdvertisedListener {
                host: match listener.host.as_str() {
                    "" | "0.0.0.0" | "::" => "localhost".to_string(),
                    h => h.to_string(),
                },
                port: listener.port,
            },
        };

        let log_dirs: Vec<PathBuf> = get("log.dirs")
            .or(get("log.dir"))
            .unwrap_or("./kavka-data")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        if log_dirs.is_empty() {
            return Err(bad("log.dirs", "", "at least one directory is needed"));
        }

        let positive_i32 = |key: &str, default: i32| -> Result<i32, ConfigError> {
            let v = get(key)
                .map(|v| parse::<i32>(key, v))
                .transpose()?
                .unwrap_or(default);
            if v < 1 {
                return Err(bad(key, &v.to_string(), "must be at least 1"));
            }
            Ok(v)
        };
        let num_partitions = positive_i32("num.partitions", 1)?;
        let default_replication_factor = positive_i32("default.replication.factor", 1)?;
        let default_replication_factor = i16::try_from(default_replication_factor)
            .map_err(|_| bad("default.replication.factor", "", "too large"))?;
        let min_insync_replicas = positive_i32("min.insync.replicas", 1)?;
        let auto_create_topics_enable = get("auto.create.topics.enable")
            .map(|v| parse_bool("auto.create.topics.enable", v))
            .transpose()?
            .unwrap_or(true);

        let u64_at_least = |key: &str, default: u64, min: u64| -> Result<u64, ConfigError> {
            let v = get(key)
                .map(|v| parse::<u64>(key, v))
                .transpose()?
                .unwrap_or(default);
            if v < min {
                return Err(bad(key, &v.to_string(), &format!("must be at least {min}")));
            }
            Ok(v)
        };
        let log_segment_bytes = u64_at_least("log.segment.bytes", 1 << 30, 14)?;
        if log_segment_bytes > i32::MAX as u64 {
            return Err(bad(
                "log.segment.bytes",
                &log_segment_bytes.to_string(),
                "must fit in an int",
            ));
        }
        let log_index_interval_bytes = u64_at_least("log.index.interval.bytes", 4096, 0)?;
        let log_index_size_max_bytes = u64_at_least("log.index.size.max.bytes", 10 << 20, 4)?;
        let hours_ms = |h: i64| h * 60 * 60 * 1000;
        let log_roll_ms = match (get("log.roll.ms"), get("log.roll.hours")) {
            (Some(v), _) => parse::<i64>("log.roll.ms", v)?,
            (None, Some(v)) => hours_ms(parse::<i64>("log.roll.hours", v)?),
            (None, None) => hours_ms(168),
        };
        if log_roll_ms < 1 {
            return Err(bad(
                "log.roll.ms",
                &log_roll_ms.to_string(),
                "must be at least 1",
            ));
        }
        let log_flush_interval_messages = match get("log.flush.interval.messages") {
            None => None,
            Some(v) => {
                let n = parse::<i64>("log.flush.interval.messages", v)?;
                if n < 1 {
                    return Err(bad("log.flush.interval.messages", v, "must be at least 1"));
                }
                (n < i64::MAX).then_some(n as u64)
            }
        };
        let log_flush_interval_ms = match get("log.flush.interval.ms") {
            None => None,
            Some(v) => {
                let n = parse::<i64>("log.flush.interval.ms", v)?;
                if n < 0 {
                    return Err(bad("log.flush.interval.ms", v, "must be at least 0"));
                }
                (n < i64::MAX).then_some(n)
            }
        };
        let log_retention_ms = match (
            get("log.retention.ms"),
            get("log.retention.minutes"),
            get("log.retention.hours"),
        ) {
            (Some(v), _, _) => parse::<i64>("log.retention.ms", v)?,
            (None, Some(v), _) => parse::<i64>("log.retention.minutes", v)? * 60_000,
            (None, None, Some(v)) => hours_ms(parse::<i64>("log.retention.hours", v)?),
            (None, None, None) => hours_ms(168),
        };
        let log_retention_bytes = get("log.retention.bytes")
            .map(|v| parse::<i64>("log.retention.bytes", v))
            .transpose()?
            .unwrap_or(-1);
        let log_cleanup_policy = get("log.cleanup.policy").unwrap_or("delete").to_string();
        for p in log_cleanup_policy.split(',') {
            if !matches!(p.trim(), "delete" | "compact") {
                return Err(bad(
                    "log.cleanup.policy",
                    &log_cleanup_policy,
                    "expected delete and/or compact",
                ));
            }
        }
        let log_message_timestamp_type = get("log.message.timestamp.type")
            .unwrap_or("CreateTime")
            .to_string();
        if !matches!(
            log_message_timestamp_type.as_str(),
            "CreateTime" | "LogAppendTime"
        ) {
            return Err(bad(
                "log.message.timestamp.type",
                &log_message_timestamp_type,
                "expected CreateTime or LogAppendTime",
            ));
        }
        let message_max_bytes = u64_at_least("message.max.bytes", 1_048_588, 0)? as usize;
        let socket_request_max_bytes =
            u64_at_least("socket.request.max.bytes", 100 * 1024 * 1024, 1)? as usize;
        if socket_request_max_bytes > i32::MAX as usize {
            return Err(bad("socket.request.max.bytes", "", "must fit in an int"));
        }
        let compression_type = get("compression.type").unwrap_or("producer").to_string();
        if !matches!(
            compression_type.as_str(),
            "producer" | "uncompressed" | "gzip" | "snappy" | "lz4" | "zstd"
        ) {
            return Err(bad(
                "compression.type",
                &compression_type,
                "expected producer, uncompressed, gzip, snappy, lz4 or zstd",
            ));
        }
        if compression_type != "producer" {
            return Err(bad(
                "compression.type",
                &compression_type,
                "only 'producer' (store batches as sent) is supported so far",
            ));
        }

        for key in map.keys() {
            if !KNOWN_KEYS.contains(&key.as_str())
                && !ACCEPTED_WITHOUT_EFFECT.contains(&key.as_str())
            {
                tracing::warn!(key = %key, "unknown config key ignored");
            }
        }

        Ok(BrokerConfig {
            node_id,
            listener,
            advertised,
            log_dirs,
            num_partitions,
            default_replication_factor,
            auto_create_topics_enable,
            log_segment_bytes,
            log_roll_ms,
            log_index_interval_bytes,
            log_index_size_max_bytes,
            log_flush_interval_messages,
            log_flush_interval_ms,
            log_retention_ms,
            log_retention_bytes,
            log_cleanup_policy,
            log_message_timestamp_type,
            message_max_bytes,
            socket_request_max_bytes,
            compression_type,
            min_insync_replicas,
            given: map,
        })
    }

    /// The address Metadata advertises, given the address actually bound.
    pub fn advertised_endpoint(&self, bound: SocketAddr) -> (String, u16) {
        let port = if self.advertised.port == 0 {
            bound.port()
        } else {
            self.advertised.port
        };
        (self.advertised.host.clone(), port)
    }
}

/// Keys Kavka acts on.
const KNOWN_KEYS: &[&str] = &[
    "node.id",
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "log.dir",
    "num.partitions",
    "default.replication.factor",
    "auto.create.topics.enable",
    "log.segment.bytes",
    "log.roll.ms",
    "log.roll.hours",
    "log.index.interval.bytes",
    "log.index.size.max.bytes",
    "log.flush.interval.messages",
    "log.flush.interval.ms",
    "log.retention.ms",
    "log.retention.minutes",
    "log.retention.hours",
    "log.retention.bytes",
    "log.cleanup.policy",
    "log.message.timestamp.type",
    "message.max.bytes",
    "socket.request.max.bytes",
    "compression.type",
    "min.insync.replicas",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
        BrokerConfig::from_map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_are_kafkas() {
        let c = BrokerConfig::default();
        assert_eq!(c.listener.bind_address(), "127.0.0.1:9092");
        assert_eq!(c.log_dirs, vec![PathBuf::from("./kavka-data")]);
        assert_eq!(c.num_partitions, 1);
        assert!(c.auto_create_topics_enable);
        assert_eq!(c.log_segment_bytes, 1 << 30);
        assert_eq!(c.message_max_bytes, 1_048_588);
        assert_eq!(c.socket_request_max_bytes, 104_857_600);
        assert_eq!(c.log_flush_interval_messages, None);
    }

    #[test]
    fn kraft_style_listeners_skip_the_controller_listener() {
        let c = with(&[
            ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
            ("controller.listener.names", "CONTROLLER"),
            ("advertised.listeners", "PLAINTEXT://localhost:9092"),
        ])
        .unwrap();
        assert_eq!(c.listener.port, 9092);
        assert_eq!(c.advertised.host, "localhost");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = with(&[("num.partitions", "zero")]).unwrap_err().to_string();
        assert!(e.contains("num.partitions"), "{e}");
        let e = with(&[("log.segment.bytes", "-5")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("log.segment.bytes"), "{e}");
        let e = with(&[("listeners", "nonsense")]).unwrap_err().to_string();
        assert!(e.contains("listeners"), "{e}");
        let e = with(&[("auto.create.topics.enable", "maybe")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("auto.create.topics.enable"), "{e}");
    }

    #[test]
    fn flush_every_message() {
        let c = with(&[("log.flush.interval.messages", "1")]).unwrap();
        assert_eq!(c.log_flush_interval_messages, Some(1));
    }
}
