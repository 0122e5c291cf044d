//! Connections to one broker: a small pool of idle connections, and the lease of one for a
//! request (given back when the exchange completed, dropped otherwise).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kavka_protocol::request::Request;
use kavka_protocol::response::Response;

use crate::connection::Connection;
use crate::error::ClientError;

/// Idle connections kept per broker.
const IDLE_CONNECTIONS_MAX: usize = 8;
/// An idle connection older than this is closed rather than reused (brokers close idle
/// connections after `connections.max.idle.ms`, 10 minutes by default).
const CONNECTION_IDLE_MAX_MS: u64 = 300_000;
/// The connections to one broker (or bootstrap server).
#[derive(Debug)]
pub(crate) struct NodePool {
    /// `host:port`.
    pub(crate) address: String,
    /// Idle connections, with the time they became idle.
    idle: Mutex<Vec<(Connection, Instant)>>,
}

/// A connection taken from a pool; given back on drop if its last exchange completed.
pub(crate) struct Lease {
    /// The connection (taken back on drop).
    pub(crate) conn: Option<Connection>,
    pool: Arc<NodePool>,
    /// Whether the last exchange completed (else the connection is closed on drop).
    pub(crate) healthy: bool,
    /// Whether it came from the pool (it may have been closed by the broker meanwhile).
    pub(crate) reused: bool,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let (true, Some(conn)) = (self.healthy, self.conn.take()) {
            self.pool.put(conn);
        }
    }
}

impl NodePool {
    /// An empty pool for `address`.
    pub(crate) fn new(address: String) -> NodePool {
        NodePool {
            address,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Keeps an idle connection.
    pub(crate) fn put(&self, conn: Connection) {
        let mut idle = self.idle.lock().expect("pool lock");
        if idle.len() < IDLE_CONNECTIONS_MAX {
            idle.push((conn, Instant::now()));
        }
    }

    /// Leases an idle connection not idle for too long, if any.
    pub(crate) fn take(self: &Arc<Self>) -> Option<Lease> {
        let conn = {
            let mut idle = self.idle.lock().expect("pool lock");
            let max_idle = Duration::from_millis(CONNECTION_IDLE_MAX_MS);
            idle.retain(|(_, since)| since.elapsed() < max_idle);
            idle.pop().map(|(c, _)| c)
        }?;
        Some(Lease {
            conn: Some(conn),
            pool: self.clone(),
            healthy: false,
            reused: true,
        })
    }

    /// Leases a new connection.
    pub(crate) fn lease_new(self: &Arc<Self>, conn: Connection) -> Lease {
        Lease {
            conn: Some(conn),
            pool: self.clone(),
            healthy: false,
            reused: false,
        }
    }
}

impl Lease {
    /// Sends a request and waits for the answer at most `timeout`.
    pub(crate) async fn send(
        &mut self,
        version: i16,
        request: Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let conn = self.conn.as_mut().expect("leased");
        let api = request.api_key();
        let response = tokio::time::timeout(timeout, conn.send(version, request))
            .await
            .map_err(|_| {
                ClientError::Timeout(format!(
                    "{api:?} to {} had no answer within {} ms",
                    self.pool.address,
                    timeout.as_millis()
                ))
            })??;
        self.healthy = true;
        Ok(response)
    }
}

/// Opens a connection and negotiates versions on it.
pub(crate) async fn open(address: &str, client_id: &str) -> Result<Connection, ClientError> {
    let mut conn = Connection::connect(address, client_id).await?;
    conn.negotiate().await?;
    Ok(conn)
}
