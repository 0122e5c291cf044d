//! The address clients are given: a TCP relay in front of the broker that the fault hooks act
//! on. It forwards each client connection to wherever the broker listens now (a restart moves
//! the broker to a new ephemeral port; the relay's address, which the broker advertises, stays),
//! can cut every open connection, and can hold the broker's bytes back for a while.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Handle;
use tokio::task::AbortHandle;

/// How much one relay read takes at most.
const CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Shared {
    /// Where the broker listens; `None` while it is down (connections are then refused).
    upstream: Option<SocketAddr>,
    /// How long each chunk from the broker is held before it is passed on.
    delay: Duration,
    /// The relays of the open connections, by connection number.
    open: HashMap<u64, Vec<AbortHandle>>,
    next: u64,
}

/// The relay; ends with its runtime.
#[derive(Debug)]
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl Proxy {
    /// Binds 127.0.0.1 on a free port and starts relaying on `runtime`.
    pub(crate) async fn bind(runtime: &Handle) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        runtime.spawn(accept(listener, shared.clone()));
        Ok(Proxy { addr, shared })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().expect("relay state lock poisoned")
    }

    pub(crate) fn set_upstream(&self, upstream: Option<SocketAddr>) {
        self.lock().upstream = upstream;
    }

    pub(crate) fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Cuts every open connection; returns how many there were.
    pub(crate) fn drop_connections(&self) -> usize {
        let open = std::mem::take(&mut self.lock().open);
        for relay in open.values().flatten() {
            relay.abort();
        }
        open.len()
    }

    /// The connections open now.
    pub(crate) fn connections(&self) -> usize {
        self.lock().open.len()
    }
}

async fn accept(listener: TcpListener, shared: Arc<Mutex<Shared>>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let upstream = shared.lock().expect("relay state lock poisoned").upstream;
        let Some(upstream) = upstream else {
            continue; // the broker is down: the client sees the connection closed
        };
        let Ok(broker) = TcpStream::connect(upstream).await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = broker.set_nodelay(true);
        let (client_read, client_write) = client.into_split();
        let (broker_read, broker_write) = broker.into_split();
        let mut state = shared.lock().expect("relay state lock poisoned");
        let id = state.next;
        state.next += 1;
        let done = shared.clone();
        let to_broker = tokio::spawn(pump(client_read, broker_write, None, shared.clone()));
        let to_client = tokio::spawn(pump(broker_read, client_write, Some(()), shared.clone()));
        let handles = vec![to_broker.abort_handle(), to_client.abort_handle()];
        state.open.insert(id, handles);
        drop(state);
        tokio::spawn(async move {
            let _ = to_broker.await;
            let _ = to_client.await;
            done.lock()
                .expect("relay state lock poisoned")
                .open
                .remove(&id);
        });
    }
}

/// Copies one direction until either side closes; `delayed` applies the current delay (the
/// broker-to-client direction).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delayed: Option<()>,
    shared: Arc<Mutex<Shared>>,
) {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if delayed.is_some() {
            let delay = shared.lock().expect("relay state lock poisoned").delay;
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}
