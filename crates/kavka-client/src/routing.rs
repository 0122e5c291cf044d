//! Routing by metadata: topics and partition leaders from the cache (refreshed when older than
//! `metadata.max.age.ms`, or when a broker said it moved), fetched from any broker.

use std::time::{Duration, Instant};

use kavka_protocol::api::ApiKey;

use crate::client::{Client, RETRY_BACKOFF_MS};
use crate::cluster::{self, ClusterMetadata, TopicMetadata};
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};

impl Client {
    pub(crate) async fn fetch_metadata(
        &self,
        node_id: i32,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<ClusterMetadata, ClientError> {
        let (_, response) = self
            .request(node_id, ApiKey::Metadata, |v| {
                cluster::metadata_request(v, topics, allow_auto_create)
            })
            .await?;
        let m = cluster::from_response(expect_response!(response, Metadata)?)?;
        self.cache().update(&m);
        Ok(m)
    }

    pub(crate) async fn fetch_metadata_any(
        &self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<ClusterMetadata, ClientError> {
        let (_, response) = self
            .request_any(ApiKey::Metadata, |v| {
                cluster::metadata_request(v, topics, allow_auto_create)
            })
            .await?;
        let m = cluster::from_response(expect_response!(response, Metadata)?)?;
        self.cache().update(&m);
        Ok(m)
    }

    /// Topic metadata from the cache when younger than `metadata_max_age_ms`, else fetched
    /// (auto-creating when allowed). A topic that does not exist comes back with its error.
    pub(crate) async fn topics(
        &self,
        names: &[String],
        allow_auto_create: bool,
    ) -> Result<Vec<TopicMetadata>, ClientError> {
        let max_age = Duration::from_millis(self.config().metadata_max_age_ms);
        let missing: Vec<String> = {
            let cache = self.cache();
            names
                .iter()
                .filter(|n| cache.fresh_topic(n, max_age).is_none())
                .cloned()
                .collect()
        };
        let fetched = if missing.is_empty() {
            Vec::new()
        } else {
            self.fetch_metadata_any(Some(&missing), allow_auto_create)
                .await?
                .topics
        };
        let cache = self.cache();
        Ok(names
            .iter()
            .map(|n| {
                cache
                    .topic(n)
                    .cloned()
                    .or_else(|| fetched.iter().find(|t| &t.name == n).cloned())
                    .unwrap_or_else(|| TopicMetadata {
                        name: n.clone(),
                        topic_id: uuid::Uuid::nil(),
                        is_internal: false,
                        error: Some(KafkaError::new(
                            kavka_protocol::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                            format!("topic {n} is not in the metadata"),
                        )),
                        partitions: Vec::new(),
                    })
            })
            .collect())
    }

    /// Forgets what is cached of `topic`: the next use fetches it again.
    pub(crate) fn invalidate_topic(&self, topic: &str) {
        let mut cache = self.cache();
        cache.invalidate(topic);
    }

    /// The partition count of `topic`: from the cache when fresh, else fetched (auto-creating
    /// when allowed), retried while the topic is unknown or has no leader yet, up to `wait`.
    pub(crate) async fn partition_count(
        &self,
        topic: &str,
        allow_auto_create: bool,
        wait: Duration,
    ) -> Result<i32, ClientError> {
        let max_age = Duration::from_millis(self.config().metadata_max_age_ms);
        {
            let cache = self.cache();
            if let Some(t) = cache.fresh_topic(topic, max_age) {
                return Ok(t.partitions.len() as i32);
            }
        }
        let deadline = Instant::now() + wait;
        loop {
            let t = self
                .topics(&[topic.to_string()], allow_auto_create)
                .await?
                .pop()
                .expect("one topic asked");
            match t.error {
                None if !t.partitions.is_empty() => return Ok(t.partitions.len() as i32),
                Some(e) if !e.is_retriable() => return Err(e.into()),
                error => {
                    if Instant::now() >= deadline {
                        let why = error.map(|e| format!(" ({e})")).unwrap_or_default();
                        return Err(ClientError::Timeout(format!(
                            "topic {topic} not present in metadata after {} ms{why}",
                            wait.as_millis()
                        )));
                    }
                    self.invalidate_topic(topic);
                    tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                }
            }
        }
    }

    /// The id of a cached topic (the nil UUID when unknown).
    pub(crate) fn topic_id(&self, topic: &str) -> uuid::Uuid {
        let cache = self.cache();
        cache.topic(topic).map_or(uuid::Uuid::nil(), |t| t.topic_id)
    }

    /// The leader of a partition (metadata fetched when not cached). Errors: the topic's or
    /// partition's error, UNKNOWN_TOPIC_OR_PARTITION for a partition past the count,
    /// LEADER_NOT_AVAILABLE without a leader.
    pub(crate) async fn leader(&self, topic: &str, partition: i32) -> Result<i32, ClientError> {
        let t = self
            .topics(&[topic.to_string()], false)
            .await?
            .pop()
            .expect("one topic asked");
        if let Some(e) = t.error {
            return Err(e.into());
        }
        let p = t
            .partitions
            .iter()
            .find(|p| p.partition == partition)
            .ok_or_else(|| {
                KafkaError::new(
                    kavka_protocol::ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("partition {topic}-{partition} does not exist"),
                )
            })?;
        if p.leader < 0 {
            self.invalidate_topic(topic);
            return Err(KafkaError::new(
                kavka_protocol::ErrorCode::LEADER_NOT_AVAILABLE,
                format!("partition {topic}-{partition} has no leader"),
            )
            .into());
        }
        Ok(p.leader)
    }
}
