//! Configuration of the client, the producer and the consumer, with Kafka's defaults, read from
//! Kafka's property keys (`bootstrap.servers`, `acks`, `group.id`...).
//!
//! Every `from_properties` takes the whole property map a tool was given: keys of the other
//! layers are ignored. The producer's and consumer's also return the keys that nothing in this
//! client applies, so that tools can warn as Kafka does ("supplied but isn't a known config").

use std::collections::BTreeMap;
use std::str::FromStr;

use kavka_protocol::batch::Compression;

use crate::error::ClientError;

mod consumer;
pub use consumer::{ConsumerConfig, IsolationLevel, OffsetReset};

/// Keys applied by [`ClientConfig`].
const CLIENT_KEYS: &[&str] = &[
    "bootstrap.servers",
    "client.id",
    "request.timeout.ms",
    "metadata.max.age.ms",
];

/// Settings shared by every client: where the cluster is and how long to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// `bootstrap.servers`: `host:port` entries tried in order to learn the cluster.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`: sent in every request header (shows in the broker's group descriptions).
    pub client_id: String,
    /// `request.timeout.ms`: how long to wait for one response (also the bound on reaching a
    /// bootstrap server).
    pub request_timeout_ms: u64,
    /// `metadata.max.age.ms`: cached topic metadata older than this is refreshed before use.
    pub metadata_max_age_ms: u64,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            bootstrap_servers: Vec::new(),
            client_id: "kavka-client".to_string(),
            request_timeout_ms: 30_000,
            metadata_max_age_ms: 300_000,
        }
    }
}

impl ClientConfig {
    /// Reads `bootstrap.servers` (comma-separated), `client.id`, `request.timeout.ms` and
    /// `metadata.max.age.ms`; other keys are ignored.
    pub fn from_properties(props: &BTreeMap<String, String>) -> Result<ClientConfig, ClientError> {
        let mut c = ClientConfig::default();
        if let Some(v) = props.get("bootstrap.servers") {
            c.bootstrap_servers = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect();
        }
        if let Some(v) = props.get("client.id") {
            c.client_id = v.clone();
        }
        set(props, "request.timeout.ms", &mut c.request_timeout_ms)?;
        set(props, "metadata.max.age.ms", &mut c.metadata_max_age_ms)?;
        Ok(c)
    }
}

/// Producer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// `acks`: -1 (`all`: every in-sync replica), 1 (the leader) or 0 (no response).
    pub acks: i16,
    /// `linger.ms`: how long a partition's batch waits for more records before it is sent.
    pub linger_ms: u64,
    /// `batch.size`: a partition's batch is sent once its records reach this many bytes
    /// (uncompressed).
    pub batch_size: usize,
    /// `compression.type`: codec of the batches.
    pub compression: Compression,
    /// `retries`: how many times a batch is resent after a retriable error (always bounded by
    /// `delivery_timeout_ms`).
    pub retries: u32,
    /// `retry.backoff.ms`: pause before a batch is resent.
    pub retry_backoff_ms: u64,
    /// `delivery.timeout.ms`: a record not acknowledged this long after `send` fails.
    pub delivery_timeout_ms: u64,
    /// `max.request.size`: the largest produce request (and so record) sent, in bytes.
    pub max_request_size: usize,
    /// `buffer.memory`: bytes of records waiting to be sent; `send` waits for room beyond it.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long `send` waits for topic metadata or for buffer room.
    pub max_block_ms: u64,
}

impl Default for ProducerConfig {
    fn default() -> ProducerConfig {
        ProducerConfig {
            acks: -1,
            linger_ms: 5,
            batch_size: 16_384,
            compression: Compression::None,
            retries: i32::MAX as u32,
            retry_backoff_ms: 100,
            delivery_timeout_ms: 120_000,
            max_request_size: 1_048_576,
            buffer_memory: 33_554_432,
            max_block_ms: 60_000,
        }
    }
}

/// Keys applied by [`ProducerConfig`].
const PRODUCER_KEYS: &[&str] = &[
    "acks",
    "linger.ms",
    "batch.size",
    "compression.type",
    "retries",
    "retry.backoff.ms",
    "delivery.timeout.ms",
    "max.request.size",
    "buffer.memory",
    "max.block.ms",
];

impl ProducerConfig {
    /// Reads Kafka's producer keys (`acks` incl. `all`, `linger.ms`, `batch.size`,
    /// `compression.type`, `retries`, `retry.backoff.ms`, `delivery.timeout.ms`,
    /// `max.request.size`, `buffer.memory`, `max.block.ms`). Returns the configuration and the
    /// keys that neither it nor [`ClientConfig`] applies (sorted).
    pub fn from_properties(
        props: &BTreeMap<String, String>,
    ) -> Result<(ProducerConfig, Vec<String>), ClientError> {
        let mut c = ProducerConfig::default();
        if let Some(v) = props.get("acks") {
            c.acks = parse_acks(v)?;
        }
        set(props, "linger.ms", &mut c.linger_ms)?;
        set(props, "batch.size", &mut c.batch_size)?;
        if let Some(v) = props.get("compression.type") {
            c.compression = parse_compression(v)?;
        }
        if let Some(v) = props.get("retries") {
            let n: i64 = parse("retries", v)?;
            c.retries = u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        }
        set(props, "retry.backoff.ms", &mut c.retry_backoff_ms)?;
        set(props, "delivery.timeout.ms", &mut c.delivery_timeout_ms)?;
        set(props, "max.request.size", &mut c.max_request_size)?;
        set(props, "buffer.memory", &mut c.buffer_memory)?;
        set(props, "max.block.ms", &mut c.max_block_ms)?;
        Ok((c, unapplied(props, PRODUCER_KEYS)))
    }
}

/// Parses `acks`: `all`, `-1`, `0` or `1`.
pub fn parse_acks(value: &str) -> Result<i16, ClientError> {
    match value.trim() {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        other => Err(ClientError::Config(format!(
            "acks: invalid value {other:?} (expected all, -1, 0 or 1)"
        ))),
    }
}

/// Parses a `compression.type` value (Kafka's codec names).
pub fn parse_compression(value: &str) -> Result<Compression, ClientError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "none" | "uncompressed" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        other => Err(ClientError::Config(format!(
            "compression.type: invalid value {other:?} (expected none, gzip, snappy, lz4 or zstd)"
        ))),
    }
}

/// Parses `key` as a number.
pub(crate) fn parse<T: FromStr>(key: &str, value: &str) -> Result<T, ClientError> {
    value
        .trim()
        .parse()
        .map_err(|_| ClientError::Config(format!("{key}: invalid value {value:?}")))
}

/// Parses `key` as `true` / `false`.
pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, ClientError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ClientError::Config(format!(
            "{key}: invalid value {value:?} (expected true or false)"
        ))),
    }
}

/// Overwrites `field` with the parsed value of `key`, when present.
pub(crate) fn set<T: FromStr>(
    props: &BTreeMap<String, String>,
    key: &str,
    field: &mut T,
) -> Result<(), ClientError> {
    if let Some(v) = props.get(key) {
        *field = parse(key, v)?;
    }
    Ok(())
}

/// The keys of `props` that neither `layer_keys` nor [`ClientConfig`] applies.
pub(crate) fn unapplied(props: &BTreeMap<String, String>, layer_keys: &[&str]) -> Vec<String> {
    props
        .keys()
        .filter(|k| !layer_keys.contains(&k.as_str()) && !CLIENT_KEYS.contains(&k.as_str()))
        .cloned()
        .collect()
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
    fn client_keys_are_read() {
        let c = ClientConfig::from_properties(&props(&[
            ("bootstrap.servers", "a:1, b:2,"),
            ("client.id", "tool"),
            ("request.timeout.ms", "1500"),
            ("acks", "all"),
        ]))
        .unwrap();
        assert_eq!(c.bootstrap_servers, vec!["a:1", "b:2"]);
        assert_eq!(c.client_id, "tool");
        assert_eq!(c.request_timeout_ms, 1500);
        assert_eq!(c.metadata_max_age_ms, 300_000);
        let bad = ClientConfig::from_properties(&props(&[("request.timeout.ms", "soon")]));
        assert!(matches!(bad, Err(ClientError::Config(m)) if m.contains("request.timeout.ms")));
    }

    #[test]
    fn producer_keys_are_read_and_unknown_ones_returned() {
        let (c, unknown) = ProducerConfig::from_properties(&props(&[
            ("bootstrap.servers", "a:1"),
            ("acks", "all"),
            ("linger.ms", "0"),
            ("batch.size", "100"),
            ("compression.type", "zstd"),
            ("retries", "3"),
            ("enable.idempotence", "true"),
            ("foo", "bar"),
        ]))
        .unwrap();
        assert_eq!(c.acks, -1);
        assert_eq!(c.linger_ms, 0);
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.compression, Compression::Zstd);
        assert_eq!(c.retries, 3);
        assert_eq!(c.delivery_timeout_ms, 120_000);
        assert_eq!(unknown, vec!["enable.idempotence", "foo"]);
        assert_eq!(parse_acks("1").unwrap(), 1);
        assert_eq!(parse_acks("0").unwrap(), 0);
        assert!(parse_acks("2").is_err());
        assert!(parse_compression("brotli").is_err());
        let d = ProducerConfig::default();
        assert_eq!((d.acks, d.linger_ms, d.batch_size), (-1, 5, 16_384));
    }
}
