//! The address clients are given: a TCP relay in front of the broker that the fault hooks act
//! on. It forwards each client connection to wherever the broker listens now (a restart moves
//! the broker to a new ephemeral port; the relay's address, which the broker advertises, stays),
//! can cut every open connection, can hold the broker's bytes back for a while, and can hold
//! back the requests that touch one partition (Produce and Fetch naming it, by name or id).

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
/// The largest request frame the relay passes on (the broker's own limit is lower).
const FRAME_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Requests touching this partition wait `delay` before the broker gets them.
#[derive(Debug, Clone)]
pub(crate) struct PartitionDelay {
    pub(crate) topic: String,
    pub(crate) topic_id: uuid::Uuid,
    pub(crate) partition: i32,
    pub(crate) delay: Duration,
}

#[derive(Debug, Default)]
struct Shared {
    /// Where the broker listens; `None` while it is down (connections are then refused).
    upstream: Option<SocketAddr>,
    /// How long each chunk from the broker is held before it is passed on.
    delay: Duration,
    /// Per-partition delays of requests.
    partition_delays: Vec<PartitionDelay>,
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

    /// Sets (or, with a zero delay, removes) the delay of one partition's requests.
    pub(crate) fn set_partition_delay(&self, rule: PartitionDelay) {
        let mut state = self.lock();
        state
            .partition_delays
            .retain(|d| (d.topic.as_str(), d.partition) != (rule.topic.as_str(), rule.partition));
        if !rule.delay.is_zero() {
            state.partition_delays.push(rule);
        }
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
        let to_broker = tokio::spawn(requests(client_read, broker_write, shared.clone()));
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

/// Passes the client's request frames on, holding back those that touch a delayed partition
/// (and so, the connection being ordered, those behind them).
async fn requests(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shared: Arc<Mutex<Shared>>,
) {
    loop {
        let mut size = [0u8; 4];
        if from.read_exact(&mut size).await.is_err() {
            break;
        }
        let len = usize::try_from(i32::from_be_bytes(size)).unwrap_or(usize::MAX);
        if len > FRAME_BYTES_MAX {
            break;
        }
        let mut frame = vec![0u8; len];
        if from.read_exact(&mut frame).await.is_err() {
            break;
        }
        let rules = shared
            .lock()
            .expect("relay state lock poisoned")
            .partition_delays
            .clone();
        let delay = if rules.is_empty() {
            Duration::ZERO
        } else {
            delay_of(&frame, &rules)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if to.write_all(&size).await.is_err() || to.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// The longest delay of the partitions a Produce or Fetch request names; zero for others.
fn delay_of(frame: &[u8], rules: &[PartitionDelay]) -> Duration {
    use kavka_protocol::request::{decode_request, Request};
    let Ok((_, request)) = decode_request(bytes::Bytes::copy_from_slice(frame)) else {
        return Duration::ZERO;
    };
    let matches = |name: &str, id: &uuid::Uuid, partition: i32| {
        rules
            .iter()
            .filter(|r| {
                r.partition == partition
                    && (r.topic == name || (!r.topic_id.is_nil() && r.topic_id == *id))
            })
            .map(|r| r.delay)
            .max()
            .unwrap_or_default()
    };
    let mut longest = Duration::ZERO;
    match request {
        Request::Produce(p) => {
            for t in &p.topic_data {
                for d in &t.partition_data {
                    longest = longest.max(matches(t.name.0.as_str(), &t.topic_id, d.index));
                }
            }
        }
        Request::Fetch(f) => {
            for t in &f.topics {
                for d in &t.partitions {
                    longest = longest.max(matches(t.topic.0.as_str(), &t.topic_id, d.partition));
                }
            }
        }
        _ => {}
    }
    longest
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
