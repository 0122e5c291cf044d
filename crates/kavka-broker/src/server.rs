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
    /// Where `/metrics`, `/health` and `/ready` are served, if anywhere.
    pub http_addr: Option<SocketAddr>,
    /// Set to stop, cleanly or as a crash.
    shutdown: watch::Sender<Stop>,
    /// The accept loop; ends after the shutdown sequence.
    task: tokio::task::JoinHandle<Result<(), BrokerError>>,
}

/// What the serving task is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Keep serving.
    No,
    /// The orderly shutdown: controlled shutdown, logs flushed and closed, the clean marker.
    Clean,
    /// As the process dying: every task ends where it is, nothing is flushed or marked, so
    /// the next start recovers the logs (what the OS already has of them stays, as after a
    /// kill -9).
    Crash,
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

/// A bound client listener: its name and socket.
type Bound = (Arc<str>, TcpListener);

/// Opens the data, binds the client listeners and starts serving.
pub async fn start(config: BrokerConfig) -> Result<RunningBroker, BrokerError> {
    raise_open_file_limit();
    let broker = tokio::task::block_in_place(|| Broker::open(config))?;
    let broker = Arc::new(broker);
    broker.start_applier()?;
    serve_controller_listener(&broker);
    let config = broker.config();
    let mut bound: Vec<Bound> = Vec::new();
    let mut addresses = Vec::new();
    if config.roles.broker {
        for (index, l) in config.listeners.iter().enumerate() {
            let bind = l.bind_address();
            let listener = TcpListener::bind(&bind).await.map_err(|e| {
                BrokerError::Startup(format!("cannot listen on {bind} ({}): {e}", l.name))
            })?;
            let addr = listener
                .local_addr()
                .map_err(|e| BrokerError::Startup(format!("listener address: {e}")))?;
            broker.set_bound_address(index, addr);
            addresses.push((l.name.clone(), addr));
            bound.push((Arc::from(l.name.as_str()), listener));
        }
    } else {
        let addr = broker
            .quorum()
            .and_then(|q| q.controller_listener())
            .ok_or_else(|| {
                BrokerError::Startup(
                    "a controller-only node without its controller listener".into(),
                )
            })?;
        broker.set_bound_address(0, addr);
        addresses.push((config.listeners[0].name.clone(), addr));
    }
    let local_addr = addresses
        .iter()
        .find(|(name, _)| *name == config.inter_broker_listener)
        .unwrap_or(&addresses[0])
        .1;
    let http = match &broker.config().http_listener {
        Some((addr, explicit)) => bind_http(addr, *explicit).await?,
        None => None,
    };
    let http_addr = http.as_ref().and_then(|l| l.local_addr().ok());
    let (host, port) = broker.advertised();
    tracing::info!(
        listener = %local_addr,
        advertised = %format!("{host}:{port}"),
        listeners = %addresses
            .iter()
            .map(|(name, addr)| format!("{name}://{addr}"))
            .collect::<Vec<_>>()
            .join(","),
        node.id = config.node_id,
        cluster.id = %broker.cluster_id(),
        "kavka is ready"
    );
    if let Some(addr) = http_addr {
        tracing::info!(http = %addr, "serving /metrics, /health and /ready");
    }
    let (shutdown, rx) = watch::channel(Stop::No);
    let task = tokio::spawn(serve(broker, bound, http, rx));
    Ok(RunningBroker {
        local_addr,
        http_addr,
        shutdown,
        task,
    })
}

/// Binds `kavka.http.listener`. An address the operator set must bind; the default, when its
/// port is taken (another broker on this machine), is given up with a warning.
async fn bind_http(addr: &str, explicit: bool) -> Result<Option<TcpListener>, BrokerError> {
    match TcpListener::bind(addr).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) if explicit => Err(BrokerError::Startup(format!(
            "cannot listen on {addr} (kavka.http.listener): {e}"
        ))),
        Err(e) => {
            tracing::warn!(
                "no HTTP listener: the default {addr} is taken ({e}); set kavka.http.listener"
            );
            Ok(None)
        }
    }
}

/// Serves the Kafka-protocol connections of this node's controller listener, if it has one.
fn serve_controller_listener(broker: &Arc<Broker>) {
    let Some(quorum) = broker.quorum() else {
        return;
    };
    let runtime = tokio::runtime::Handle::current();
    // Clients of the controller listener are told the inter-broker endpoints.
    let name: Arc<str> = Arc::from(broker.config().inter_broker_listener.as_str());
    let broker: Weak<Broker> = Arc::downgrade(broker);
    quorum.set_kafka(Box::new(move |stream, peer| {
        let Some(broker) = broker.upgrade() else {
            return;
        };
        let name = name.clone();
        if let Err(e) = stream.set_nonblocking(true) {
            tracing::debug!(%peer, error = %e, "controller listener connection dropped");
            return;
        }
        runtime.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => connection::serve(broker, stream, peer, name).await,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "controller listener connection dropped")
                }
            }
        });
    }));
}

/// Accepts the connections of one client listener, handing each on with the listener's name.
async fn accept_loop(
    (name, listener): Bound,
    accepted: tokio::sync::mpsc::Sender<(TcpStream, SocketAddr, Arc<str>)>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if accepted.send((stream, peer, name.clone())).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(listener = %name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// How often the request-time histograms start a new generation (their quantiles cover the
/// last 30 to 60 s).
const METRICS_UPKEEP_INTERVAL_MS: u64 = 30_000;

async fn serve(
    broker: Arc<Broker>,
    listeners: Vec<Bound>,
    http: Option<TcpListener>,
    mut shutdown: watch::Receiver<Stop>,
) -> Result<(), BrokerError> {
    let http = http.map(|l| tokio::spawn(crate::observe::http::serve(l, broker.clone())));
    let upkeep = broker.metrics().is_some().then(|| {
        let broker = broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(METRICS_UPKEEP_INTERVAL_MS));
            loop {
                tick.tick().await;
                if let Some(m) = broker.metrics() {
                    m.upkeep();
                }
            }
        })
    });
    let mut connections = JoinSet::new();
    let (accepted_tx, mut accepted) = tokio::sync::mpsc::channel(64);
    let acceptors: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(l, accepted_tx.clone())))
        .collect();
    drop(accepted_tx);
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
    let hw_checkpoints = {
        let broker = broker.clone();
        let every = Duration::from_millis(broker.config().high_watermark_checkpoint_interval_ms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let b = broker.clone();
                let written =
                    tokio::task::spawn_blocking(move || b.checkpoint_high_watermarks()).await;
                if let Ok(Err(e)) = written {
                    tracing::warn!(error = %e, "high watermark checkpoint not written");
                }
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
    let heartbeats = tokio::spawn(broker.clone().run_heartbeats());
    let fetchers = tokio::spawn(crate::replica_fetcher::run(broker.clone()));
    let isr_checks = tokio::spawn(broker.clone().run_isr_checks());
    let fencing = tokio::spawn(broker.clone().run_fencing());
    loop {
        tokio::select! {
            Some((stream, peer, name)) = accepted.recv() => {
                let _ = stream.set_nodelay(true);
                connections.spawn(connection::serve(broker.clone(), stream, peer, name));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    let crash = *shutdown.borrow() == Stop::Crash;
    if !crash {
        let broker = broker.clone();
        let _ = tokio::task::spawn_blocking(move || broker.controlled_shutdown()).await;
        tracing::info!("shutting down: closing connections");
    } else {
        tracing::warn!("stopping as a crash: nothing flushed, no clean-shutdown marker");
        // A dead process takes no further part in the metadata quorum either.
        if let Some(quorum) = broker.quorum() {
            quorum.stop();
        }
    }
    for a in acceptors {
        a.abort();
    }
    for task in http.into_iter().chain(upkeep) {
        task.abort();
        let _ = task.await;
    }
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
    for task in [
        txn_timers,
        txn_markers,
        registration,
        heartbeats,
        fencing,
        fetchers,
        isr_checks,
        hw_checkpoints,
    ] {
        task.abort();
        let _ = task.await;
    }
    for c in cleaners {
        c.abort();
        let _ = c.await;
    }
    if crash {
        return Ok(());
    }
    tokio::task::block_in_place(|| broker.close())
}

impl RunningBroker {
    /// Stops accepting, ends connections, flushes and closes every log, and writes the
    /// clean-shutdown marker.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        self.stop(Stop::Clean).await
    }

    /// Stops as if the process were killed: connections cut, every task ended where it is,
    /// nothing flushed, no clean-shutdown marker; the next start on the same directories
    /// recovers. For in-process fault tests (`kavka-testkit`).
    pub async fn kill(self) -> Result<(), BrokerError> {
        self.stop(Stop::Crash).await
    }

    async fn stop(self, how: Stop) -> Result<(), BrokerError> {
        let _ = self.shutdown.send(how);
        self.task
            .await
            .map_err(|e| BrokerError::Startup(format!("broker task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_http_port_stops_the_start_only_when_it_was_asked_for() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        assert!(matches!(bind_http(&addr, false).await, Ok(None)));
        let err = bind_http(&addr, true).await.unwrap_err().to_string();
        assert!(
            err.contains(&addr) && err.contains("kavka.http.listener"),
            "{err}"
        );
        drop(taken);
        assert!(matches!(bind_http(&addr, true).await, Ok(Some(_))));
    }
}
