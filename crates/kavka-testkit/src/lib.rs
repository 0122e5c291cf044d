#![doc = include_str!("../README.md")]
//!
//! Place in the graph: a leaf over `kavka-broker` (the broker itself, started in-process) and
//! `kavka-client` (topics created at start). Nothing in the project depends on it but tests.

mod cluster;
mod proxy;

pub use cluster::{Cluster, ClusterBuilder};

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use kavka_broker::{BrokerConfig, RunningBroker};
use kavka_client::{Admin, Client, ClientConfig};

use crate::proxy::Proxy;

/// Why a test broker did not start or stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration was refused (a wrong key or value).
    #[error("broker configuration: {0}")]
    Config(String),
    /// The broker failed to start, stop or recover.
    #[error("broker: {0}")]
    Broker(#[from] kavka_broker::BrokerError),
    /// A topic asked for at start could not be created.
    #[error("creating topic {topic}: {error}")]
    Topic {
        topic: String,
        error: kavka_client::ClientError,
    },
    /// The runtime, a socket or the temporary directory could not be made.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// How a [`Broker`] starts: its configuration and the topics it has once it is up.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    configs: Vec<(String, String)>,
    topics: Vec<(String, i32, i16)>,
    worker_threads: Option<usize>,
}

impl Builder {
    /// Sets one broker configuration key (`server.properties` keys: `num.partitions`,
    /// `auto.create.topics.enable`, `log.retention.ms`, `group.initial.rebalance.delay.ms`...).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Builder {
        self.configs.push((key.into(), value.into()));
        self
    }

    /// The partitions of auto-created topics and of topics created without a count
    /// (`num.partitions`).
    pub fn partitions(self, partitions: u32) -> Builder {
        self.config("num.partitions", partitions.to_string())
    }

    /// A topic created before [`Builder::start`] returns.
    pub fn topic(mut self, name: impl Into<String>, partitions: u32) -> Builder {
        self.topics.push((
            name.into(),
            i32::try_from(partitions).unwrap_or(i32::MAX),
            -1,
        ));
        self
    }

    /// The broker's runtime threads (default 2).
    pub fn worker_threads(mut self, threads: usize) -> Builder {
        self.worker_threads = Some(threads.max(1));
        self
    }

    /// Starts the broker: a runtime of its own (so any test runtime, even a current-thread
    /// one, may drive it), a temporary data directory, a free port.
    pub async fn start(self) -> Result<Broker, Error> {
        let mut broker = self.prepare(self.runtime()?).await?;
        broker.launch().await?;
        if !self.topics.is_empty() {
            broker.create_topics(&self.topics).await?;
        }
        Ok(broker)
    }

    /// A broker with its runtime, directory and relay, not started.
    async fn prepare(&self, runtime: tokio::runtime::Runtime) -> Result<Broker, Error> {
        let dir = tempfile::Builder::new()
            .prefix("kavka-testkit-")
            .tempdir()?;
        let proxy = run_on(runtime.handle(), |h| async move { Proxy::bind(&h).await }).await?;
        Ok(Broker {
            runtime: Some(runtime),
            running: None,
            proxy,
            dir,
            configs: self.configs.clone(),
            node_id: 1,
            wiring: Vec::new(),
        })
    }

    fn runtime(&self) -> Result<tokio::runtime::Runtime, Error> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads.unwrap_or(2))
            .thread_name("kavka-testkit")
            .enable_all()
            .build()?)
    }
}

/// Runs `f` on `runtime` and waits for it from whatever runtime (or none) the caller is on.
async fn run_on<F, Fut, T>(runtime: &tokio::runtime::Handle, f: F) -> T
where
    F: FnOnce(tokio::runtime::Handle) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handle = runtime.clone();
    let task = runtime.spawn(f(handle));
    match task.await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A Kavka broker running in this process, for tests: one node, on 127.0.0.1 at a free port,
/// its data in a temporary directory removed when it is stopped or dropped.
///
/// Clients reach it through [`Broker::bootstrap`], a relay address the broker also advertises,
/// which the fault hooks act on: [`Broker::drop_connections`], [`Broker::set_response_delay`],
/// [`Broker::kill`] then [`Broker::restart`].
#[derive(Debug)]
pub struct Broker {
    runtime: Option<tokio::runtime::Runtime>,
    running: Option<RunningBroker>,
    proxy: Proxy,
    dir: tempfile::TempDir,
    configs: Vec<(String, String)>,
    node_id: i32,
    /// A cluster node's settings (roles, voters); empty for a single broker.
    wiring: Vec<String>,
}

impl Broker {
    /// A broker with the defaults (Kafka's, as `kavka server` has them).
    pub async fn start() -> Result<Broker, Error> {
        Builder::default().start().await
    }

    /// A broker with settings and topics.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// `host:port` for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        self.proxy.addr.to_string()
    }

    /// The address of [`Broker::bootstrap`].
    pub fn addr(&self) -> SocketAddr {
        self.proxy.addr
    }

    /// The broker's data directory (`log.dirs`).
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the broker is serving (not killed).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("runtime until drop").handle()
    }

    /// Where this broker serves `/metrics` (Prometheus), `/health` and `/ready`, while it runs.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.running.as_ref().and_then(|r| r.http_addr)
    }

    /// The node id (1 for a single broker).
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    fn config(&self) -> Result<BrokerConfig, Error> {
        let mut overrides = vec![
            format!("node.id={}", self.node_id),
            "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
            format!("advertised.listeners=PLAINTEXT://{}", self.proxy.addr),
            format!("log.dirs={}", self.dir.path().join("data").display()),
            // /metrics, /health and /ready on a port the OS picks (`Broker::http_addr`).
            "kavka.http.listener=127.0.0.1:0".to_string(),
        ];
        overrides.extend(self.wiring.iter().cloned());
        overrides.extend(self.configs.iter().map(|(k, v)| format!("{k}={v}")));
        BrokerConfig::load(None, &overrides).map_err(|e| Error::Config(e.to_string()))
    }

    /// Formats the data directory with `cluster_id` (as `kavka storage format` does for every
    /// node of a quorum).
    fn format(&self, cluster_id: &str) -> Result<(), Error> {
        let options = kavka_broker::storage_tool::FormatOptions {
            cluster_id: cluster_id.to_string(),
            ignore_formatted: true,
        };
        kavka_broker::storage_tool::format(&self.config()?, &options).map_err(Error::Config)?;
        Ok(())
    }

    async fn launch(&mut self) -> Result<(), Error> {
        // A cluster node's controller port may still be held for a moment by the threads of
        // the run before (they look at their stop flag between accepts): try again briefly.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let running = loop {
            let config = self.config()?;
            match run_on(self.handle(), |_| kavka_broker::start(config)).await {
                Ok(running) => break running,
                Err(_) if !self.wiring.is_empty() && std::time::Instant::now() < deadline => {
                    let pause = Duration::from_millis(100);
                    run_on(self.handle(), move |_| tokio::time::sleep(pause)).await;
                }
                Err(e) => return Err(e.into()),
            }
        };
        self.proxy.set_upstream(Some(running.local_addr));
        self.running = Some(running);
        Ok(())
    }

    async fn create_topics(&self, topics: &[(String, i32, i16)]) -> Result<(), Error> {
        let bootstrap = self.bootstrap();
        let topics = topics.to_vec();
        run_on(self.handle(), |_| async move {
            let config = ClientConfig {
                bootstrap_servers: vec![bootstrap],
                ..Default::default()
            };
            let client = Client::connect(config)
                .await
                .map_err(|error| Error::Topic {
                    topic: topics[0].0.clone(),
                    error,
                })?;
            let admin = Admin::new(client);
            for (name, partitions, replication) in &topics {
                admin
                    .create_topic(name, *partitions, *replication, &[], false)
                    .await
                    .map_err(|error| Error::Topic {
                        topic: name.clone(),
                        error,
                    })?;
            }
            Ok(())
        })
        .await
    }

    /// Waits (up to 60 s) until this broker answers Metadata naming `brokers` brokers.
    pub(crate) async fn wait_brokers(&self, brokers: usize) -> Result<(), Error> {
        let bootstrap = self.bootstrap();
        run_on(self.handle(), move |_| async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            loop {
                let config = ClientConfig {
                    bootstrap_servers: vec![bootstrap.clone()],
                    request_timeout_ms: 2_000,
                    ..Default::default()
                };
                let seen = match Client::connect(config).await {
                    Ok(c) => c.metadata(Some(&[])).await.map_or(0, |m| m.brokers.len()),
                    Err(_) => 0,
                };
                if seen >= brokers {
                    return Ok(());
                }
                if std::time::Instant::now() > deadline {
                    return Err(Error::Config(format!(
                        "{bootstrap} sees {seen} of {brokers} brokers after 60 s"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
    }

    /// Cuts every client connection open now, as a network fault would; clients reconnect.
    /// Returns how many were cut.
    pub fn drop_connections(&self) -> usize {
        self.proxy.drop_connections()
    }

    /// The client connections open now.
    pub fn connections(&self) -> usize {
        self.proxy.connections()
    }

    /// Holds every piece of every response this long before the client gets it (zero: off),
    /// as a slow network or a slow broker would.
    pub fn set_response_delay(&self, delay: Duration) {
        self.proxy.set_delay(delay);
    }

    /// Holds back every Produce and Fetch request naming `partition` of `topic` this long before
    /// the broker gets it (zero: off), as a slow disk or a stuck partition would. Other
    /// partitions answer at once, unless a request for them waits behind a held one on the
    /// same connection.
    pub async fn delay_partition(
        &self,
        topic: &str,
        partition: i32,
        delay: Duration,
    ) -> Result<(), Error> {
        let bootstrap = self.bootstrap();
        let name = topic.to_string();
        // Fetch and Produce name topics by id from v13: learn it.
        let topic_id = run_on(self.handle(), move |_| async move {
            let config = ClientConfig {
                bootstrap_servers: vec![bootstrap],
                ..Default::default()
            };
            let client = Client::connect(config).await?;
            let metadata = client.metadata(Some(std::slice::from_ref(&name))).await?;
            Ok::<_, kavka_client::ClientError>(metadata.topic(&name).map(|t| t.topic_id))
        })
        .await
        .map_err(|error| Error::Topic {
            topic: topic.to_string(),
            error,
        })?
        .unwrap_or_default();
        self.proxy.set_partition_delay(proxy::PartitionDelay {
            topic: topic.to_string(),
            topic_id,
            partition,
            delay,
        });
        Ok(())
    }

    /// Stops the broker as if its process were killed: connections cut, nothing flushed, no
    /// clean-shutdown marker. Clients see it down until [`Broker::restart`].
    pub async fn kill(&mut self) -> Result<(), Error> {
        self.proxy.set_upstream(None);
        self.proxy.drop_connections();
        if let Some(running) = self.running.take() {
            run_on(self.handle(), |_| running.kill()).await?;
        }
        Ok(())
    }

    /// Starts the broker again on the same data (recovering it after a [`Broker::kill`]) and
    /// the same bootstrap address. A running broker is stopped cleanly first.
    pub async fn restart(&mut self) -> Result<(), Error> {
        self.proxy.set_upstream(None);
        self.proxy.drop_connections();
        if let Some(running) = self.running.take() {
            run_on(self.handle(), |_| running.shutdown()).await?;
        }
        self.launch().await
    }

    /// Shuts the broker down cleanly, ends its threads and removes its data.
    pub async fn stop(mut self) -> Result<(), Error> {
        self.proxy.drop_connections();
        let result = match self.running.take() {
            Some(running) => run_on(self.handle(), |_| running.shutdown()).await,
            None => Ok(()),
        };
        let runtime = self.runtime.take();
        // A runtime may not be dropped on a runtime thread: a plain thread joins its workers.
        let (done, joined) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            drop(runtime);
            let _ = done.send(());
        });
        let _ = joined.await;
        Ok(result?)
    }
}

impl Drop for Broker {
    /// A broker dropped without [`Broker::stop`] ends as killed; its threads end in the
    /// background.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
