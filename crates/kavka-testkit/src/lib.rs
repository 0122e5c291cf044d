#![doc = include_str!("../README.md")]
//!
//! Place in the graph: a leaf over `kavka-broker` (the broker itself, started in-process) and
//! `kavka-client` (topics created at start). Nothing in the project depends on it but tests.

mod proxy;

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
    topics: Vec<(String, i32)>,
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
        self.topics
            .push((name.into(), i32::try_from(partitions).unwrap_or(i32::MAX)));
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
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(self.worker_threads.unwrap_or(2))
            .thread_name("kavka-testkit")
            .enable_all()
            .build()?;
        let dir = tempfile::Builder::new()
            .prefix("kavka-testkit-")
            .tempdir()?;
        let proxy = run_on(runtime.handle(), |h| async move { Proxy::bind(&h).await }).await?;
        let mut broker = Broker {
            runtime: Some(runtime),
            running: None,
            proxy,
            dir,
            configs: self.configs,
        };
        broker.launch().await?;
        if !self.topics.is_empty() {
            broker.create_topics(&self.topics).await?;
        }
        Ok(broker)
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

    fn config(&self) -> Result<BrokerConfig, Error> {
        let mut overrides = vec![
            "node.id=1".to_string(),
            "listeners=PLAINTEXT://127.0.0.1:0".to_string(),
            format!("advertised.listeners=PLAINTEXT://{}", self.proxy.addr),
            format!("log.dirs={}", self.dir.path().join("data").display()),
        ];
        overrides.extend(self.configs.iter().map(|(k, v)| format!("{k}={v}")));
        BrokerConfig::load(None, &overrides).map_err(|e| Error::Config(e.to_string()))
    }

    async fn launch(&mut self) -> Result<(), Error> {
        let config = self.config()?;
        let running = run_on(self.handle(), |_| kavka_broker::start(config)).await?;
        self.proxy.set_upstream(Some(running.local_addr));
        self.running = Some(running);
        Ok(())
    }

    async fn create_topics(&self, topics: &[(String, i32)]) -> Result<(), Error> {
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
            for (name, partitions) in &topics {
                admin
                    .create_topic(name, *partitions, -1, &[], false)
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
