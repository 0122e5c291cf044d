//! The table of broker keys: every `server.properties` key Kavka knows, with its type, check,
//! default, whether it can change at run time, and what it does. Parsing (`BrokerConfig`),
//! DescribeConfigs and the README's configuration table all read it; the broker keys that set
//! topic-config defaults (`log.retention.ms`, ...) are rows of `topic_config::TOPIC_CONFIGS`.

use crate::topic_config::{ConfigType, Rule};

/// When a key's value can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// Read at start only (Kafka's `read-only`).
    ReadOnly,
    /// Settable at run time for one broker or as the cluster default (Kafka's `per-broker`),
    /// with IncrementalAlterConfigs / `kafka-configs.sh --entity-type brokers`.
    PerBroker,
}

/// What Kavka does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Kavka acts on it.
    Acts,
    /// Accepted without a warning and without effect: Kafka `server.properties` files carry it
    /// and it means nothing to Kavka yet (thread pools, socket buffers, quorum wiring).
    Ignored,
    /// Another name (or unit) of the key named: read only when that key is not given.
    AliasOf(&'static str),
}

/// One broker key.
#[derive(Debug)]
pub struct BrokerKey {
    /// The key.
    pub name: &'static str,
    /// Type reported by DescribeConfigs.
    pub config_type: ConfigType,
    /// How a value is checked.
    pub rule: Rule,
    /// The default, as text; `None` when the key has none (aliases, optional keys).
    pub default: Option<&'static str>,
    /// When it can change.
    pub update: Update,
    /// What Kavka does with it.
    pub effect: Effect,
    /// One line for the docs.
    pub doc: &'static str,
}

use ConfigType as T;
use Effect::{Acts, AliasOf, Ignored};

const fn key(
    name: &'static str,
    config_type: ConfigType,
    rule: Rule,
    default: Option<&'static str>,
    effect: Effect,
    doc: &'static str,
) -> BrokerKey {
    BrokerKey {
        name,
        config_type,
        rule,
        default,
        update: Update::ReadOnly,
        effect,
        doc,
    }
}

/// A key that can also change at run time (see [`Update::PerBroker`]).
const fn dynamic(
    name: &'static str,
    config_type: ConfigType,
    rule: Rule,
    default: Option<&'static str>,
    doc: &'static str,
) -> BrokerKey {
    BrokerKey {
        update: Update::PerBroker,
        ..key(name, config_type, rule, default, Acts, doc)
    }
}

const fn ignored(name: &'static str) -> BrokerKey {
    key(
        name,
        T::String,
        Rule::Text,
        None,
        Ignored,
        "accepted, no effect yet",
    )
}

/// Every broker key outside the topic-config defaults, sorted by name.
pub const BROKER_KEYS: &[BrokerKey] = &[
    key(
        "advertised.listeners",
        T::List,
        Rule::Text,
        None,
        Acts,
        "per listener, what Metadata tells the clients of that listener, `NAME://host:port,...` (defaults to the listener; `localhost` for a wildcard host)",
    ),
    key(
        "auto.create.topics.enable",
        T::Boolean,
        Rule::Boolean,
        Some("true"),
        Acts,
        "create topics named in Metadata requests",
    ),
    key("auto.leader.rebalance.enable", T::Boolean, Rule::Boolean, Some("true"), Acts,
        "the active controller gives partitions back to their preferred (first) replica when a broker's share of partitions led elsewhere passes leader.imbalance.per.broker.percentage"),
    key("broker.heartbeat.interval.ms", T::Int, Rule::Int(10), Some("2000"), Acts,
        "how often, at the longest, the active controller checks which brokers it hears from (fencing and unfencing; at least every 250 ms)"),
    key(
        "broker.id",
        T::Int,
        Rule::Int(0),
        None,
        AliasOf("node.id"),
        "the node id's older name",
    ),
    key("broker.rack", T::String, Rule::Text, None, Acts,
        "this broker's rack, told to clients in Metadata and DescribeCluster; placement alternates racks"),
    key("broker.session.timeout.ms", T::Int, Rule::Int(100), Some("9000"), Acts,
        "a broker the active controller has not heard from for this long is fenced: its partitions lose their leader and clients are not sent to it"),
    key(
        "connections.max.idle.ms",
        T::Long,
        Rule::Long(1),
        Some("600000"),
        Acts,
        "idle connections are closed",
    ),
    key("controller.listener.names", T::List, Rule::Text, None, Acts,
        "the listener(s) of `listeners` that are the controller channel (voters, observers, and brokers' controller requests)"),
    key("controller.quorum.bootstrap.servers", T::List, Rule::Text, None, Acts,
        "`host:port,...` of controllers a broker-only node asks for the quorum's leader (instead of, or besides, `controller.quorum.voters`)"),
    key("controller.quorum.election.timeout.ms", T::Int, Rule::Int(10), Some("1000"), Acts,
        "a voter that hears no leader for this long (plus a random part) starts an election"),
    key("controller.quorum.request.timeout.ms", T::Int, Rule::Int(1), Some("2000"), Acts,
        "how long a metadata change waits for the quorum to commit it"),
    key("controller.quorum.voters", T::List, Rule::Text, None, Acts,
        "the controller quorum, `id@host:port,...`: the voters replicate the metadata log with Raft (the address is each voter's controller listener); a broker-only node observes them"),
    key(
        "default.replication.factor",
        T::Int,
        Rule::Int(1),
        Some("1"),
        Acts,
        "replication factor of auto-created topics and of CreateTopics with -1",
    ),
    key(
        "fetch.max.bytes",
        T::Int,
        Rule::Int(1024),
        Some("57671680"),
        Acts,
        "the most one fetch response carries",
    ),
    dynamic(
        "follower.replication.throttled.rate",
        T::Long,
        Rule::Long(0),
        Some("9223372036854775807"),
        "bytes per second a follower fetches of the replicas its topics list in follower.replication.throttled.replicas while out of the ISR (reassignment throttle)",
    ),
    key(
        "group.initial.rebalance.delay.ms",
        T::Int,
        Rule::Int(0),
        Some("3000"),
        Acts,
        "how long the first rebalance of an empty group waits for more members",
    ),
    key(
        "group.max.session.timeout.ms",
        T::Int,
        Rule::Int(1),
        Some("1800000"),
        Acts,
        "longest session timeout a consumer may ask for",
    ),
    key(
        "group.max.size",
        T::Int,
        Rule::Int(1),
        Some("2147483647"),
        Acts,
        "members per group",
    ),
    key(
        "group.min.session.timeout.ms",
        T::Int,
        Rule::Int(1),
        Some("6000"),
        Acts,
        "shortest session timeout a consumer may ask for",
    ),
    key("inter.broker.listener.name", T::String, Rule::Text, None, Acts,
        "the listener other nodes reach this one on (its endpoint is the one they are given); default `PLAINTEXT` when there is one, else the first listener"),
    key("kavka.http.listener", T::String, Rule::Text, Some("127.0.0.1:9644"), Acts,
        "`host:port` of the HTTP listener serving `/metrics` (Prometheus), `/health` and `/ready`; empty: none. The default is given up with a warning when its port is taken; an address set here must bind"),
    key("leader.imbalance.check.interval.seconds", T::Long, Rule::Long(1), Some("300"), Acts,
        "how often the active controller checks the leader imbalance"),
    key("leader.imbalance.per.broker.percentage", T::Int, Rule::Int(0), Some("10"), Acts,
        "the share (percent) of a broker's preferred partitions led by others above which they are given back"),
    dynamic(
        "leader.replication.throttled.rate",
        T::Long,
        Rule::Long(0),
        Some("9223372036854775807"),
        "bytes per second a leader serves the replicas its topics list in leader.replication.throttled.replicas while they are out of the ISR (reassignment throttle)",
    ),
    key("listener.security.protocol.map", T::List, Rule::Text,
        Some("PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"), Acts,
        "each listener's security protocol, `NAME:PROTOCOL,...`; only PLAINTEXT is served so far (a controller listener left out is PLAINTEXT)"),
    key(
        "listeners",
        T::List,
        Rule::Text,
        Some("PLAINTEXT://127.0.0.1:9092"),
        Acts,
        "where to listen: named listeners `NAME://host:port,...`, each mapped to a protocol by `listener.security.protocol.map`",
    ),
    key(
        "log.cleaner.backoff.ms",
        T::Long,
        Rule::Long(0),
        Some("15000"),
        Acts,
        "sleep between cleaner passes with nothing to do",
    ),
    key(
        "log.cleaner.dedupe.buffer.size",
        T::Long,
        Rule::Long(1024),
        Some("134217728"),
        Acts,
        "offset map memory over all cleaner threads",
    ),
    key(
        "log.cleaner.enable",
        T::Boolean,
        Rule::Boolean,
        Some("true"),
        Acts,
        "whether compacted topics are cleaned",
    ),
    key(
        "log.cleaner.io.buffer.size",
        T::Int,
        Rule::Int(1024),
        Some("524288"),
        Acts,
        "cleaner read and write buffers",
    ),
    key(
        "log.cleaner.threads",
        T::Int,
        Rule::Int(0),
        Some("1"),
        Acts,
        "cleaner workers",
    ),
    key(
        "log.dir",
        T::String,
        Rule::Text,
        None,
        AliasOf("log.dirs"),
        "a single data directory",
    ),
    key(
        "log.dirs",
        T::String,
        Rule::Text,
        Some("./kavka-data"),
        Acts,
        "data directories, comma-separated; the first holds the metadata log",
    ),
    key(
        "log.retention.check.interval.ms",
        T::Long,
        Rule::Long(1),
        Some("300000"),
        Acts,
        "how often retention runs",
    ),
    key(
        "log.retention.hours",
        T::Int,
        Rule::Int(i32::MIN),
        None,
        AliasOf("log.retention.ms"),
        "retention in hours",
    ),
    key(
        "log.retention.minutes",
        T::Int,
        Rule::Int(i32::MIN),
        None,
        AliasOf("log.retention.ms"),
        "retention in minutes",
    ),
    key(
        "log.roll.hours",
        T::Int,
        Rule::Int(1),
        None,
        AliasOf("log.roll.ms"),
        "segment age in hours",
    ),
    key(
        "log.roll.jitter.hours",
        T::Int,
        Rule::Int(0),
        None,
        AliasOf("log.roll.jitter.ms"),
        "segment age jitter in hours",
    ),
    key(
        "max.incremental.fetch.session.cache.slots",
        T::Int,
        Rule::Int(0),
        Some("1000"),
        Acts,
        "how many fetch sessions (KIP-227) the broker keeps; 0: every fetch is sessionless",
    ),
    key(
        "metadata.log.max.record.bytes.between.snapshots",
        T::Long,
        Rule::Long(1),
        Some("20971520"),
        Acts,
        "metadata log bytes after which the image is snapshotted and the log it covers dropped",
    ),
    key(
        "node.id",
        T::Int,
        Rule::Int(0),
        Some("1"),
        Acts,
        "this node's id (broker and controller)",
    ),
    ignored("num.io.threads"),
    ignored("num.network.threads"),
    key(
        "num.partitions",
        T::Int,
        Rule::Int(1),
        Some("1"),
        Acts,
        "partitions of auto-created topics and of CreateTopics with -1",
    ),
    ignored("num.recovery.threads.per.data.dir"),
    key(
        "offset.metadata.max.bytes",
        T::Int,
        Rule::Int(1),
        Some("4096"),
        Acts,
        "largest metadata string of an offset commit",
    ),
    key(
        "offsets.retention.check.interval.ms",
        T::Long,
        Rule::Long(1),
        Some("600000"),
        Acts,
        "how often expired offsets are removed",
    ),
    key(
        "offsets.retention.minutes",
        T::Int,
        Rule::Int(1),
        Some("10080"),
        Acts,
        "committed offsets of a group empty this long expire",
    ),
    key(
        "offsets.topic.num.partitions",
        T::Int,
        Rule::Int(1),
        Some("50"),
        Acts,
        "partitions of `__consumer_offsets` (fixed once it exists)",
    ),
    key("offsets.topic.replication.factor", T::Int, Rule::Int(1), Some("3"), Acts,
        "replicas of `__consumer_offsets` when it is created (at most the live brokers then)"),
    key(
        "offsets.topic.segment.bytes",
        T::Int,
        Rule::Int(1),
        Some("104857600"),
        Acts,
        "segment size of `__consumer_offsets`",
    ),
    key("process.roles", T::List, Rule::Text, Some("broker,controller"), Acts,
        "`broker,controller` (combined), `broker` (an observer of the quorum: hosts partitions, votes not) or `controller` (a voter only: hosts nothing, serves no clients)"),
    key(
        "producer.id.expiration.check.interval.ms",
        T::Int,
        Rule::Int(1),
        Some("600000"),
        Acts,
        "how often idle producers are forgotten",
    ),
    key(
        "producer.id.expiration.ms",
        T::Int,
        Rule::Int(1),
        Some("86400000"),
        Acts,
        "a partition forgets an idempotent producer idle this long",
    ),
    key("replica.fetch.backoff.ms", T::Int, Rule::Int(0), Some("1000"), Acts,
        "how long a follower waits after a failed fetch before asking again"),
    key("replica.fetch.max.bytes", T::Int, Rule::Int(1), Some("1048576"), Acts,
        "how many bytes of one partition a follower asks its leader for in one fetch (at least one batch comes)"),
    key("replica.fetch.response.max.bytes", T::Int, Rule::Int(1), Some("10485760"), Acts,
        "how many bytes one follower fetch asks for over all its partitions"),
    key("replica.fetch.wait.max.ms", T::Int, Rule::Int(1), Some("500"), Acts,
        "how long a leader holds a follower's fetch that finds nothing new"),
    key("replica.high.watermark.checkpoint.interval.ms", T::Long, Rule::Long(1), Some("5000"), Acts,
        "how often each log directory's replication-offset-checkpoint (every partition's high watermark) is written; a restarted replica starts from it"),
    key("replica.lag.time.max.ms", T::Int, Rule::Int(1), Some("30000"), Acts,
        "a follower that has not caught up with its leader for this long leaves the ISR"),
    key("replica.selector.class", T::String, Rule::Text, None, Acts,
        "org.apache.kafka.common.replica.RackAwareReplicaSelector: a leader sends a consumer that names its rack (client.rack) to an up-to-date replica in that rack (KIP-392); none: consumers read from leaders"),
    ignored("share.coordinator.state.topic.min.isr"),
    ignored("share.coordinator.state.topic.replication.factor"),
    ignored("socket.receive.buffer.bytes"),
    key(
        "socket.request.max.bytes",
        T::Int,
        Rule::Int(1),
        Some("104857600"),
        Acts,
        "largest request frame; larger frames close the connection before any allocation",
    ),
    ignored("socket.send.buffer.bytes"),
    key(
        "transaction.max.timeout.ms",
        T::Int,
        Rule::Int(1),
        Some("900000"),
        Acts,
        "the longest transaction timeout a producer may ask for",
    ),
    ignored("transaction.state.log.min.isr"),
    key(
        "transaction.state.log.num.partitions",
        T::Int,
        Rule::Int(1),
        Some("50"),
        Acts,
        "partitions of `__transaction_state`",
    ),
    key("transaction.state.log.replication.factor", T::Int, Rule::Int(1), Some("3"), Acts,
        "replicas of `__transaction_state` when it is created (at most the live brokers then)"),
    key(
        "transaction.state.log.segment.bytes",
        T::Int,
        Rule::Int(1),
        Some("104857600"),
        Acts,
        "segment size of `__transaction_state`",
    ),
    key(
        "transactional.id.expiration.ms",
        T::Int,
        Rule::Int(1),
        Some("604800000"),
        Acts,
        "an idle transactional id is forgotten after this",
    ),
];

/// The row of `name`.
pub fn broker_key(name: &str) -> Option<&'static BrokerKey> {
    BROKER_KEYS
        .binary_search_by(|k| k.name.cmp(name))
        .ok()
        .map(|i| &BROKER_KEYS[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic_config::{check_rule, TOPIC_CONFIGS};

    #[test]
    fn the_table_is_sorted_unique_and_its_defaults_pass_their_checks() {
        for pair in BROKER_KEYS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} then {}",
                pair[0].name,
                pair[1].name
            );
        }
        for k in BROKER_KEYS {
            if let Some(d) = k.default {
                check_rule(k.rule, k.name, d).unwrap();
            }
            if let Effect::AliasOf(target) = k.effect {
                let known = broker_key(target).is_some()
                    || TOPIC_CONFIGS.iter().any(|t| t.broker_key == target);
                assert!(known, "{} is an alias of unknown {target}", k.name);
            }
            assert!(
                !TOPIC_CONFIGS.iter().any(|t| t.broker_key == k.name),
                "{} is defined twice",
                k.name
            );
        }
    }

    /// Every key Kavka acts on is in the README's configuration table (the docs read this
    /// table; this keeps them from drifting).
    #[test]
    fn the_readme_documents_every_key() {
        let readme = include_str!("../../../../README.md");
        for k in BROKER_KEYS.iter().filter(|k| k.effect != Effect::Ignored) {
            assert!(
                readme.contains(&format!("`{}`", k.name)),
                "README lacks `{}`",
                k.name
            );
        }
    }
}
