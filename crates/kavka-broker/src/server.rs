//! The listener: accepts connections, runs one task per connection, the background flush task,
//! and shuts everything down in order (stop accepting, end connections, close logs, mark clean).
//! A controller's controller listener hands the Kafka-protocol connections it receives (a
//! broker's controller requests) to the same connection handler; a controller-only node has
//! no other listener.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::connection;
use crate::error::BrokerError;

/// How often `flush.ms` deadlines are checked.
const FLUSH_CHECK_INTERVAL_MS: u64 = 100;

/// A started node.
#[derive(Debug)]
pub struct RunningBroker {
    /// The address the listener is bound to.
    pub local_addr: SocketAddr,
    /// Set to true to stop.
    shutdown: watch::Sender<bool>,
    /// The accept loop; ends after the shutdown sequence.
    task: tokio::task::JoinHandle<Result<(), BrokerError>>,
}

/// Raises the open-file limit to the hard limit: every partition keeps its segment files open
/// (Kafka's documentation asks operators for the same).
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        match setrlimit(Resource::Nofile, limit) {
            Ok(()) => {
                tracing::debug!(open_files_max = ?limit.current, "raised the open-file limit")
            }
            Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
        }
    }
}

/// Opens the data, binds the listener and starts serving.
pub async fn start(config: BrokerConfig) -> Result<RunningBroker, BrokerError> {
    raise_open_file_limit();
    let bind = config.listener.bind_address();
    let broker = tokio::task::block_in_place(|| Broker::open(config))?;
    let broker = Arc::new(broker);
    broker.start_applier()?;
    serve_controller_listener(&broker);
    let (listener, local_addr) = if broker.config().roles.broker {
        let listener = TcpListener::bind(&bind)
            .await
            .map_err(|e| BrokerError::Startup(format!("cannot listen on {bind}: {e}")))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| BrokerError::Startup(format!("listener address: {e}")))?;
        (Some(listener), local_addr)
    } else {
        let local_addr = broker
            .quorum()
            .and_then(|q| q.controller_listener())
            .ok_or_else(|| {
                BrokerError::Startup(
                    "a controller-only node without its controller listener".into(),
                )
            })?;
        (None, local_addr)
    };
    broker.set_bound_address(local_addr);
    let (host, port) = broker.advertised();
    tracing::info!(
        listener = %local_addr,
        advertised = %format!("{host}:{port}"),
        node.id = broker.config().node_id,
        cluster.id = %broker.cluster_id(),
        "kavka is ready"
    );
    let (shutdown, rx) = watch::channel(false);
    let task = tokio::spawn(serve(broker, listener, rx));
    Ok(RunningBroker {
        local_addr,
        shutdown,
        task,
    })
}

/// Serves the Kafka-protocol connections of this node's controller listener, if it has one.
fn serve_controller_listener(broker: &Arc<Broker>) {
    let Some(quorum) = broker.quorum() else {
        return;
    };
    let runtime = tokio::runtime::Handle::current();
    // Weak: the broker owns the channel that owns these.
    let fencer: Weak<Broker> = Arc::downgrade(broker);
    quorum.set_shutdown(Box::new(move |id, incarnation| {
        let broker = fencer.upgrade().ok_or("this node is stopping")?;
        broker.fence_for_shutdown(id, uuid::Uuid::from_bytes(incarnation))
    }));
    let broker: Weak<Broker> = Arc::downgrade(broker);
    quorum.set_kafka(Box::new(move |stream, peer| {
        let Some(broker) = broker.upgrade() else {
            return;
        };
        if let Err(e) = stream.set_nonblocking(true) {
            tracing::debug!(%peer, error = %e, "controller listener connection dropped");
            return;
        }
        runtime.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => connection::serve(broker, stream, peer).await,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "controller listener connection dropped")
                }
            }
        });
    }));
}

/// The next connection of the client listener (none ever without one).
async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

async fn serve(
    broker: Arc<Broker>,
    listener: Option<TcpListener>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BrokerError> {
    let mut connections = JoinSet::new();
    let flusher = {
        let broker = broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(FLUSH_CHECK_INTERVAL_MS));
            loop {
                tick.tick().await;
                let b = broker.clone();
                let _ = tokio::task::spawn_blocking(move || b.flush_due()).await;
            }
        })
    };
    let retention = tokio::spawn(crate::retention::run(broker.clone()));
    let producer_expiration =
        tokio::spawn(crate::retention::run_producer_expiration(broker.clone()));
    let groups = tokio::spawn(crate::group_coordinator::run_timers(broker.clone()));
    let txn_timers = tokio::spawn(crate::txn_coordinator::markers::run_timers(broker.clone()));
    let txn_markers = tokio::spawn(crate::txn_coordinator::markers::run(broker.clone()));
    let cleaners = crate::cleaner::spawn(broker.clone());
    let registration = tokio::spawn(broker.clone().run_registration());
    let fencing = tokio::spawn(broker.clone().run_fencing());
    loop {
        tokio::select! {
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(connection::serve(broker.clone(), stream, peer));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    {
        let broker = broker.clone();
        let _ = tokio::task::spawn_blocking(move || broker.controlled_shutdown()).await;
    }
    tracing::info!("shutting down: closing connections");
    drop(listener);
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    flusher.abort();
    let _ = flusher.await;
    retention.abort();
    let _ = retention.await;
    producer_expiration.abort();
    let _ = producer_expiration.await;
    groups.abort();
    let _ = groups.await;
    for task in [txn_timers, txn_markers, registration, fencing] {
        task.abort();
        let _ = task.await;
    }
    for c in cleaners {
        c.abort();
        let _ = c.await;
    }
    tokio::task::block_in_place(|| broker.close())
}

impl RunningBroker {
    /// Stops accepting, ends connections, flushes and closes every log, and writes the
    /// clean-shutdown marker.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        let _ = self.shutdown.send(true);
        self.task
            .await
            .map_err(|e| BrokerError::Startup(format!("broker task failed: {e}")))?
    }
}
