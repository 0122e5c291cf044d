//! Broker configuration in Kafka's own words: `server.properties` (Java properties format) plus
//! `--override key=value`, with Kafka's key names, defaults and units.
//!
//! Unknown keys are a warning (a Kafka `server.properties` carries many keys that mean nothing to
//! a single Kavka node); a bad value of a known key is an error naming the key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use thiserror::Error;

mod keys;
mod listeners;
mod quorum;
mod values;

pub use keys::{broker_key, BrokerKey, Effect, Update, BROKER_KEYS};
pub use quorum::{host_port, Roles, Voter};
use values::Values;

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
    /// The listener's name.
    pub name: String,
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
    /// `listeners`: the client listeners (a controller-only node: its controller listener),
    /// without the controller listener of a node with both roles.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`: what Metadata tells the clients of each listener, one per
    /// listener in the same order (defaults to the listener).
    pub advertised: Vec<AdvertisedListener>,
    /// `inter.broker.listener.name`: the listener other nodes reach this one on (default
    /// `PLAINTEXT` when there is one, else the first listener).
    pub inter_broker_listener: String,
    /// `log.dirs` (or `log.dir`): data directories; the first also holds the metadata log.
    pub log_dirs: Vec<PathBuf>,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// Static broker values of every topic config (by topic config name): the value and
    /// whether `server.properties`/overrides set it. See `topic_config`.
    pub topic_defaults: crate::topic_config::StaticTopicDefaults,
    /// `connections.max.idle.ms`: a connection with no request for this long is closed.
    pub connections_max_idle_ms: u64,
    /// `kavka.http.listener`: where `/metrics`, `/health` and `/ready` are served (`None`:
    /// nowhere), and whether the address was set rather than the default.
    pub http_listener: Option<(String, bool)>,
    /// `fetch.max.bytes`: the most a fetch response carries, whatever the client asks.
    pub fetch_max_bytes: usize,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub log_retention_check_interval_ms: u64,
    /// `log.cleaner.enable`: whether compacted topics are cleaned.
    pub log_cleaner_enable: bool,
    /// `log.cleaner.threads`: cleaner workers.
    pub log_cleaner_threads: usize,
    /// `log.cleaner.backoff.ms`: sleep between cleaner passes with nothing to do.
    pub log_cleaner_backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: offset map memory over all cleaner threads.
    pub log_cleaner_dedupe_buffer_size: usize,
    /// `log.cleaner.io.buffer.size`: cleaner read/write buffers.
    pub log_cleaner_io_buffer_size: usize,
    /// `socket.request.max.bytes`: largest request frame accepted.
    pub socket_request_max_bytes: usize,
    /// The group coordinator's settings (`group.*`, `offset.metadata.max.bytes`,
    /// `offsets.retention.minutes`).
    pub group: kavka_coordinator::group::GroupConfig,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets` when it is created.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.segment.bytes`: segment size of `__consumer_offsets`.
    pub offsets_topic_segment_bytes: i32,
    /// `offsets.topic.replication.factor`: replicas of `__consumer_offsets`.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.retention.check.interval.ms`: how often old offsets are expired.
    pub offsets_retention_check_interval_ms: u64,
    /// The transaction coordinator's settings (`transaction.max.timeout.ms`,
    /// `transactional.id.expiration.ms`).
    pub txn: kavka_coordinator::txn::TxnConfig,
    /// `transaction.state.log.num.partitions`: partitions of `__transaction_state`.
    pub txn_topic_num_partitions: i32,
    /// `transaction.state.log.segment.bytes`: its segment size.
    pub txn_topic_segment_bytes: i32,
    /// `transaction.state.log.replication.factor`: its replicas.
    pub txn_topic_replication_factor: i16,
    /// `producer.id.expiration.ms`: a partition forgets an idempotent producer idle this long.
    pub producer_id_expiration_ms: u64,
    /// `producer.id.expiration.check.interval.ms`: how often idle producers are forgotten.
    pub producer_id_expiration_check_interval_ms: u64,
    /// `metadata.log.max.record.bytes.between.snapshots`: metadata log bytes after which the
    /// image is snapshotted and the log before it dropped.
    pub metadata_snapshot_bytes_min: u64,
    /// `process.roles`.
    pub roles: Roles,
    /// `controller.quorum.voters`: every voter of the metadata quorum (empty: this node alone).
    pub voters: Vec<Voter>,
    /// `controller.quorum.bootstrap.servers`: controllers a broker-only node may ask first.
    pub quorum_bootstrap: Vec<(String, u16)>,
    /// Where this node's controller channel binds: the controller listener of `listeners`
    /// (`controller.listener.names`) when there is one, else its own voter address.
    pub controller_bind: Option<(String, u16)>,
    /// `controller.quorum.election.timeout.ms`.
    pub quorum_election_timeout_ms: u64,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `replica.selector.class` is Kafka's rack-aware selector (KIP-392).
    pub rack_aware_reads: bool,
    /// `broker.session.timeout.ms`.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: u64,
    /// `controller.quorum.request.timeout.ms`.
    pub quorum_request_timeout_ms: u64,
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: u64,
    /// `max.incremental.fetch.session.cache.slots`.
    pub fetch_session_slots_max: usize,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub high_watermark_checkpoint_interval_ms: u64,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval_s: u64,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_percent: u32,
    /// `replica.fetch.max.bytes`.
    pub replica_fetch_max_bytes: u64,
    /// `replica.fetch.response.max.bytes`.
    pub replica_fetch_response_max_bytes: u64,
    /// `replica.fetch.wait.max.ms`.
    pub replica_fetch_wait_max_ms: u64,
    /// `replica.fetch.backoff.ms`.
    pub replica_fetch_backoff_ms: u64,
    /// Every key given (file then overrides), for DescribeConfigs sources.
    pub given: BTreeMap<String, String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig::from_map(BTreeMap::new()).expect("defaults are valid")
    }
}

/// Kafka's built-in rack-aware replica selector (KIP-392).
const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

/// Whether `replica.selector.class` asks for rack-aware reads; other classes are refused.
fn replica_selector(value: Option<&str>) -> Result<bool, ConfigError> {
    match value.map(str::trim) {
        None | Some("") => Ok(false),
        Some(RACK_AWARE_SELECTOR) => Ok(true),
        Some(other) => Err(bad(
            "replica.selector.class",
            other,
            &format!(
                "only {RACK_AWARE_SELECTOR} is built in (a selector is a Java class in Kafka)"
            ),
        )),
    }
}

fn bad(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Value {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses `NAME://host:port`.
/// A replication factor key (at least 1, checked by the table), as an `i16`.
fn replication_factor(v: &values::Values<'_>, key: &str) -> i16 {
    i16::try_from(v.i32(key)).unwrap_or(i16::MAX)
}

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
        let v = Values::check(&map)?;
        let node_id = if map.contains_key("node.id") || !map.contains_key("broker.id") {
            v.i32("node.id")
        } else {
            v.i32("broker.id")
        };

        let roles = quorum::roles(v.text("process.roles").unwrap_or_default())?;
        let voters = quorum::voters(get("controller.quorum.voters"), node_id, roles)?;
        let quorum_bootstrap =
            quorum::bootstrap_servers(get("controller.quorum.bootstrap.servers"))?;
        if !roles.controller && voters.is_empty() && quorum_bootstrap.is_empty() {
            return Err(bad(
                "process.roles",
                v.text("process.roles").unwrap_or_default(),
                "a broker-only node needs controller.quorum.voters or controller.quorum.bootstrap.servers",
            ));
        }
        let voter = voters.iter().find(|v| v.id == node_id);
        let setup = listeners::listeners(
            &listeners::Given {
                listeners: v.text("listeners").unwrap_or_default(),
                protocol_map: get("listener.security.protocol.map"),
                controller_names: get("controller.listener.names"),
                advertised: get("advertised.listeners"),
                inter_broker: get("inter.broker.listener.name"),
            },
            roles,
            voter,
        )?;
        let in_quorum = roles.controller && (voters.len() > 1 || !roles.broker);
        let controller_bind = if in_quorum {
            setup
                .controller
                .map(|(_, host, port)| (host, port))
                .or_else(|| voter.map(|me| (me.host.clone(), me.port)))
        } else {
            None
        };

        let log_dirs: Vec<PathBuf> = get("log.dirs")
            .or(get("log.dir"))
            .or(v.text("log.dirs"))
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        if log_dirs.is_empty() {
            return Err(bad("log.dirs", "", "at least one directory is needed"));
        }

        let num_partitions = v.i32("num.partitions");
        let default_replication_factor = v.i32("default.replication.factor");
        let default_replication_factor = i16::try_from(default_replication_factor)
            .map_err(|_| bad("default.replication.factor", "", "too large"))?;
        let auto_create_topics_enable = v.bool("auto.create.topics.enable");

        let socket_request_max_bytes = v.u64("socket.request.max.bytes") as usize;
        let topic_defaults = crate::topic_config::static_topic_defaults(&map)
            .map_err(|(key, value, reason)| ConfigError::Value { key, value, reason })?;
        let connections_max_idle_ms = v.u64("connections.max.idle.ms");
        let http_listener = v
            .text("kavka.http.listener")
            .map(|a| a.trim_start_matches("http://").trim_end_matches('/'))
            .filter(|a| !a.is_empty())
            .map(|a| (a.to_string(), map.contains_key("kavka.http.listener")));
        let fetch_max_bytes = v.u64("fetch.max.bytes") as usize;
        let log_retention_check_interval_ms = v.u64("log.retention.check.interval.ms");
        let log_cleaner_enable = v.bool("log.cleaner.enable");
        let log_cleaner_threads = v.u64("log.cleaner.threads") as usize;
        let log_cleaner_backoff_ms = v.u64("log.cleaner.backoff.ms");
        let log_cleaner_dedupe_buffer_size = v.u64("log.cleaner.dedupe.buffer.size") as usize;
        let log_cleaner_io_buffer_size = v.u64("log.cleaner.io.buffer.size") as usize;

        let group = kavka_coordinator::group::GroupConfig {
            min_session_timeout_ms: v.i32("group.min.session.timeout.ms"),
            max_session_timeout_ms: v.i32("group.max.session.timeout.ms"),
            initial_rebalance_delay_ms: v.u64("group.initial.rebalance.delay.ms") as i64,
            group_size_max: v.i32("group.max.size") as usize,
            offset_metadata_bytes_max: v.i32("offset.metadata.max.bytes") as usize,
            offsets_retention_ms: i64::from(v.i32("offsets.retention.minutes")) * 60_000,
        };
        if group.min_session_timeout_ms > group.max_session_timeout_ms {
            return Err(bad(
                "group.min.session.timeout.ms",
                &group.min_session_timeout_ms.to_string(),
                "must not exceed group.max.session.timeout.ms",
            ));
        }
        let offsets_topic_num_partitions = v.i32("offsets.topic.num.partitions");
        let offsets_topic_segment_bytes = v.i32("offsets.topic.segment.bytes");
        let offsets_retention_check_interval_ms = v.u64("offsets.retention.check.interval.ms");
        let txn = kavka_coordinator::txn::TxnConfig {
            max_timeout_ms: v.i32("transaction.max.timeout.ms"),
            id_expiration_ms: i64::from(v.i32("transactional.id.expiration.ms")),
        };
        let txn_topic_num_partitions = v.i32("transaction.state.log.num.partitions");
        let txn_topic_segment_bytes = v.i32("transaction.state.log.segment.bytes");
        let producer_id_expiration_ms = v.u64("producer.id.expiration.ms");
        let producer_id_expiration_check_interval_ms =
            v.u64("producer.id.expiration.check.interval.ms");

        let metadata_snapshot_bytes_min = v.u64("metadata.log.max.record.bytes.between.snapshots");

        for key in map.keys() {
            if broker_key(key).is_none() && crate::topic_config::broker_key_def(key).is_none() {
                tracing::warn!(key = %key, "unknown config key ignored");
            }
        }

        Ok(BrokerConfig {
            node_id,
            listeners: setup.listeners,
            advertised: setup.advertised,
            inter_broker_listener: setup.inter_broker,
            log_dirs,
            num_partitions,
            default_replication_factor,
            auto_create_topics_enable,
            topic_defaults,
            fetch_max_bytes,
            connections_max_idle_ms,
            http_listener,
            log_retention_check_interval_ms,
            log_cleaner_enable,
            log_cleaner_threads,
            log_cleaner_backoff_ms,
            log_cleaner_dedupe_buffer_size,
            log_cleaner_io_buffer_size,
            socket_request_max_bytes,
            group,
            offsets_topic_num_partitions,
            offsets_topic_segment_bytes,
            offsets_topic_replication_factor: replication_factor(
                &v,
                "offsets.topic.replication.factor",
            ),
            offsets_retention_check_interval_ms,
            txn,
            txn_topic_num_partitions,
            txn_topic_segment_bytes,
            txn_topic_replication_factor: replication_factor(
                &v,
                "transaction.state.log.replication.factor",
            ),
            metadata_snapshot_bytes_min,
            producer_id_expiration_ms,
            producer_id_expiration_check_interval_ms,
            controller_bind,
            roles,
            voters,
            quorum_bootstrap,
            quorum_election_timeout_ms: v.u64("controller.quorum.election.timeout.ms"),
            quorum_request_timeout_ms: v.u64("controller.quorum.request.timeout.ms"),
            rack: v
                .text("broker.rack")
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            rack_aware_reads: replica_selector(v.text("replica.selector.class"))?,
            broker_session_timeout_ms: v.u64("broker.session.timeout.ms"),
            broker_heartbeat_interval_ms: v.u64("broker.heartbeat.interval.ms"),
            replica_lag_time_max_ms: v.u64("replica.lag.time.max.ms"),
            fetch_session_slots_max: v.u64("max.incremental.fetch.session.cache.slots") as usize,
            auto_leader_rebalance: v.bool("auto.leader.rebalance.enable"),
            high_watermark_checkpoint_interval_ms: v
                .u64("replica.high.watermark.checkpoint.interval.ms"),
            leader_imbalance_check_interval_s: v.u64("leader.imbalance.check.interval.seconds"),
            leader_imbalance_percent: v.u64("leader.imbalance.per.broker.percentage") as u32,
            replica_fetch_max_bytes: v.u64("replica.fetch.max.bytes"),
            replica_fetch_response_max_bytes: v.u64("replica.fetch.response.max.bytes"),
            replica_fetch_wait_max_ms: v.u64("replica.fetch.wait.max.ms"),
            replica_fetch_backoff_ms: v.u64("replica.fetch.backoff.ms"),
            given: map,
        })
    }

    /// The listener other nodes reach this one on (`inter.broker.listener.name`).
    pub fn listener(&self) -> &Listener {
        self.listeners
            .iter()
            .find(|l| l.name == self.inter_broker_listener)
            .unwrap_or(&self.listeners[0])
    }

    /// What listener `index` advertises, given the address it actually bound.
    pub fn advertised_endpoint(&self, index: usize, bound: SocketAddr) -> AdvertisedListener {
        let mut advertised = self.advertised[index].clone();
        if advertised.port == 0 {
            advertised.port = bound.port();
        }
        advertised
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
