//! [`Client`]: bootstrap, connections to every broker, version choice, the metadata cache and
//! the group coordinators. The admin, producer and consumer are built on one (cheap to clone).
//!
//! Connections: a Kafka broker answers a connection's requests one at a time, in order, so a
//! request that waits at the broker (a long-poll Fetch, a JoinGroup held until the rebalance
//! completes) would stall every later request on its connection: heartbeats among them. So each
//! broker node has a small pool of idle connections; a request takes one (or opens one, calling
//! ApiVersions first) and gives it back when answered. A connection that failed or timed out is
//! dropped, and the next request reconnects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kavka_protocol::api::ApiKey;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

use crate::cluster::{self, BrokerInfo, ClusterMetadata, MetadataCache};
use crate::config::ClientConfig;
use crate::connection::{expect_response, ApiVersionRange};
use crate::error::{ClientError, KafkaError};
use crate::pool::{open, Lease, NodePool};

/// Pause between retries of metadata and coordinator look-ups.
pub(crate) const RETRY_BACKOFF_MS: u64 = 100;

/// A connected Kafka client: cheap to clone (shared state behind an `Arc`), usable from many
/// tasks at once.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    /// One pool per bootstrap server, addressed by node ids -1, -2...
    bootstrap: Vec<Arc<NodePool>>,
    /// One pool per broker node id.
    nodes: Mutex<HashMap<i32, Arc<NodePool>>>,
    metadata: Mutex<MetadataCache>,
    /// Group id -> coordinator node id.
    coordinators: Mutex<HashMap<String, i32>>,
}

impl Client {
    /// Connects to the first bootstrap server that answers ApiVersions within
    /// `request_timeout_ms` (all of them tried, in order, within that time) and learns the
    /// brokers. Fails with [`ClientError::Unreachable`] naming the servers otherwise.
    pub async fn connect(config: ClientConfig) -> Result<Client, ClientError> {
        if config.bootstrap_servers.is_empty() {
            return Err(ClientError::Config("bootstrap.servers is empty".into()));
        }
        let bootstrap = config
            .bootstrap_servers
            .iter()
            .map(|a| Arc::new(NodePool::new(a.clone())))
            .collect();
        let client = Client {
            inner: Arc::new(Inner {
                config,
                bootstrap,
                nodes: Mutex::new(HashMap::new()),
                metadata: Mutex::new(MetadataCache::default()),
                coordinators: Mutex::new(HashMap::new()),
            }),
        };
        let deadline = Instant::now() + client.request_timeout();
        let mut failures = Vec::new();
        for (i, pool) in client.inner.bootstrap.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, open(&pool.address, &client.inner.config.client_id))
                .await
            {
                Ok(Ok(conn)) => {
                    pool.put(conn);
                    client
                        .fetch_metadata(-(i as i32) - 1, Some(&[]), false)
                        .await?;
                    return Ok(client);
                }
                Ok(Err(e)) => failures.push(format!("{}: {e}", pool.address)),
                Err(_) => failures.push(format!(
                    "{}: no answer within {} ms",
                    pool.address, client.inner.config.request_timeout_ms
                )),
            }
        }
        Err(ClientError::Unreachable(format!(
            "cannot reach any bootstrap server ({}): {}",
            client.inner.config.bootstrap_servers.join(", "),
            failures.join("; ")
        )))
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.inner.config.request_timeout_ms)
    }

    /// Metadata for `topics` (`None`: every topic), fresh from a broker; never auto-creates.
    pub async fn metadata(
        &self,
        topics: Option<&[String]>,
    ) -> Result<ClusterMetadata, ClientError> {
        self.fetch_metadata_any(topics, false).await
    }

    /// The API version ranges the broker `node_id` serves (negative ids: the bootstrap servers,
    /// -1 the first), as it answered ApiVersions on a new connection.
    pub async fn api_versions(&self, node_id: i32) -> Result<Vec<ApiVersionRange>, ClientError> {
        let lease = self.lease(self.pool(node_id).await?).await?;
        Ok(lease.conn.as_ref().expect("leased").versions().to_vec())
    }

    /// The brokers of the latest metadata, by node id.
    pub fn brokers(&self) -> Vec<BrokerInfo> {
        let cache = self.cache();
        cache.brokers.values().cloned().collect()
    }

    /// The broker `node_id` of the latest metadata.
    pub fn broker(&self, node_id: i32) -> Option<BrokerInfo> {
        let cache = self.cache();
        cache.brokers.get(&node_id).cloned()
    }

    /// The cluster id and controller of the latest metadata.
    pub fn cluster_id_and_controller(&self) -> (Option<String>, i32) {
        let cache = self.cache();
        (cache.cluster_id.clone(), cache.controller_id)
    }

    /// Sends a request to broker `node_id` and returns the version used and the response.
    /// `build` makes the request for the version chosen on the connection (the highest both
    /// the broker and the codec support). Waits `request_timeout_ms`.
    pub async fn request(
        &self,
        node_id: i32,
        api: ApiKey,
        build: impl FnOnce(i16) -> Request,
    ) -> Result<(i16, Response), ClientError> {
        self.request_with_timeout(node_id, api, Duration::ZERO, build)
            .await
    }

    /// [`Client::request`] waiting `extra` beyond `request_timeout_ms` (a long-poll Fetch,
    /// a JoinGroup waiting for the rebalance). A pooled connection the broker closed while
    /// idle fails at once: then the request is sent again on a new connection.
    pub(crate) async fn request_with_timeout(
        &self,
        node_id: i32,
        api: ApiKey,
        extra: Duration,
        build: impl FnOnce(i16) -> Request,
    ) -> Result<(i16, Response), ClientError> {
        let pool = self.pool(node_id).await?;
        self.request_on(pool, api, extra, build).await
    }

    async fn request_on(
        &self,
        pool: Arc<NodePool>,
        api: ApiKey,
        extra: Duration,
        build: impl FnOnce(i16) -> Request,
    ) -> Result<(i16, Response), ClientError> {
        let timeout = self.request_timeout() + extra;
        let mut lease = self.lease(pool.clone()).await?;
        let version = lease.conn.as_ref().expect("leased").version(api)?;
        let request = build(version);
        match lease.send(version, request.clone(), timeout).await {
            Err(ClientError::Io(_)) if lease.reused => {
                drop(lease);
                let mut fresh = self.lease_new(pool).await?;
                if fresh.conn.as_ref().expect("leased").version(api)? != version {
                    return Err(ClientError::Io(std::io::Error::other(
                        "connection lost and the broker's versions changed",
                    )));
                }
                Ok((version, fresh.send(version, request, timeout).await?))
            }
            r => Ok((version, r?)),
        }
    }

    /// Learns the brokers from a known broker or a bootstrap server (never looks a node up,
    /// so that looking a node up may call it).
    async fn refresh_brokers(&self) -> Result<(), ClientError> {
        let mut pools: Vec<Arc<NodePool>> = self
            .brokers()
            .iter()
            .filter_map(|b| self.known_pool(b.node_id))
            .collect();
        pools.extend(self.inner.bootstrap.iter().cloned());
        let mut last = None;
        for pool in pools {
            let build = |v| cluster::metadata_request(v, Some(&[]), false);
            match self
                .request_on(pool, ApiKey::Metadata, Duration::ZERO, build)
                .await
            {
                Ok((_, response)) => {
                    let m = cluster::from_response(expect_response!(response, Metadata)?)?;
                    self.cache().update(&m);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Unreachable("no broker known".into())))
    }

    /// Sends a request that gets no response (acks=0 produce); returns the version used.
    pub(crate) async fn send_only(
        &self,
        node_id: i32,
        api: ApiKey,
        build: impl FnOnce(i16) -> Request,
    ) -> Result<i16, ClientError> {
        let mut lease = self.lease(self.pool(node_id).await?).await?;
        let conn = lease.conn.as_mut().expect("leased");
        let version = conn.version(api)?;
        conn.send_only(version, build(version)).await?;
        lease.healthy = true;
        Ok(version)
    }

    /// Sends to any broker, falling back on the next one (then the bootstrap servers) when a
    /// broker cannot be reached.
    pub(crate) async fn request_any(
        &self,
        api: ApiKey,
        build: impl Fn(i16) -> Request,
    ) -> Result<(i16, Response), ClientError> {
        let mut candidates: Vec<i32> = self.brokers().iter().map(|b| b.node_id).collect();
        candidates.extend((0..self.inner.bootstrap.len() as i32).map(|i| -i - 1));
        let mut last = None;
        for node in candidates {
            match self.request(node, api, &build).await {
                Err(e @ (ClientError::Io(_) | ClientError::Timeout(_))) => last = Some(e),
                r => return r,
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Unreachable("no broker known".into())))
    }

    async fn lease(&self, pool: Arc<NodePool>) -> Result<Lease, ClientError> {
        match pool.take() {
            Some(lease) => Ok(lease),
            None => self.lease_new(pool).await,
        }
    }

    async fn lease_new(&self, pool: Arc<NodePool>) -> Result<Lease, ClientError> {
        let conn = tokio::time::timeout(
            self.request_timeout(),
            open(&pool.address, &self.inner.config.client_id),
        )
        .await
        .map_err(|_| ClientError::Timeout(format!("connecting to {}", pool.address)))??;
        Ok(pool.lease_new(conn))
    }

    async fn pool(&self, node_id: i32) -> Result<Arc<NodePool>, ClientError> {
        if node_id < 0 {
            let index = (-node_id - 1) as usize;
            return self.inner.bootstrap.get(index).cloned().ok_or_else(|| {
                ClientError::State(format!("no bootstrap server has node id {node_id}"))
            });
        }
        if let Some(pool) = self.known_pool(node_id) {
            return Ok(pool);
        }
        self.refresh_brokers().await?;
        self.known_pool(node_id).ok_or_else(|| {
            ClientError::Kafka(KafkaError::new(
                kavka_protocol::ErrorCode::BROKER_NOT_AVAILABLE,
                format!("node {node_id} is not in the cluster metadata"),
            ))
        })
    }

    fn known_pool(&self, node_id: i32) -> Option<Arc<NodePool>> {
        let address = self.broker(node_id)?.address();
        let mut nodes = self.inner.nodes.lock().expect("nodes lock");
        let pool = nodes
            .entry(node_id)
            .or_insert_with(|| Arc::new(NodePool::new(address.clone())));
        if pool.address != address {
            *pool = Arc::new(NodePool::new(address));
        }
        Some(pool.clone())
    }

    /// Adds (or moves) a broker learnt outside Metadata (a FindCoordinator answer).
    pub(crate) fn learn_broker(&self, broker: BrokerInfo) {
        let mut cache = self.cache();
        cache.brokers.entry(broker.node_id).or_insert(broker);
    }

    /// The metadata cache.
    pub(crate) fn cache(&self) -> std::sync::MutexGuard<'_, MetadataCache> {
        self.inner.metadata.lock().expect("metadata lock")
    }

    pub(crate) fn cached_coordinator(&self, group_id: &str) -> Option<i32> {
        let map = self.inner.coordinators.lock().expect("coordinators lock");
        map.get(group_id).copied()
    }

    pub(crate) fn set_coordinator(&self, group_id: &str, node_id: Option<i32>) {
        let mut map = self.inner.coordinators.lock().expect("coordinators lock");
        match node_id {
            Some(n) => map.insert(group_id.to_string(), n),
            None => map.remove(group_id),
        };
    }
}
