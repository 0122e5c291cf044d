//! The controller channel's listening side, a controller's controller listener. Three kinds
//! of peer connect here, told apart by their first bytes:
//!
//! - the other voters, sending Raft messages;
//! - observers (broker-only nodes), fetching the committed log
//!   ([`kavka_quorum::raft::observer_wire`]);
//! - anything else is taken for a Kafka client, as a broker sending the controller its
//!   controller requests (BrokerRegistration, BrokerHeartbeat, CreateTopics, ...), and handed
//!   to the Kafka connection handler ([`Channel::set_kafka`]).
//!
//! A voter's or observer's connection must open with a hello of this cluster; a node of
//! another cluster is refused (and logged) before anything it says reaches the quorum, and so
//! is a voter's message claiming another sender than the hello or addressed to another voter.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use kavka_quorum::raft::observer_wire::{self, ObserverRequest, ObserverResponse};
use kavka_quorum::raft::wire::{self, Hello};
use kavka_quorum::raft::QuorumLog;

use crate::error::BrokerError;

/// Serves a Kafka-protocol connection that arrived on the controller listener.
pub type KafkaHandoff = Box<dyn Fn(TcpStream, SocketAddr) + Send + Sync>;

/// Longest an observer's fetch is held waiting for a commit.
const OBSERVER_WAIT_MS_MAX: u64 = 5_000;
/// How long the first bytes of a connection may take to arrive.
const PREFIX_TIMEOUT_MS: u64 = 10_000;

/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL_MS: u64 = 50;
/// A connection silent for this long is closed (a live leader sends heartbeats far more often;
/// the sender reconnects).
const IDLE_TIMEOUT_MS: u64 = 30_000;
/// Why a connection closed when its read timeout passed between frames.
const NOTHING_RECEIVED: &str = "nothing received within the read timeout";
/// Largest hello accepted.
const HELLO_BYTES_MAX: usize = 1024;

/// The bound channel; [`Channel::stop`] ends its threads.
pub struct Channel {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
    kafka: Arc<OnceLock<KafkaHandoff>>,
}

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel")
            .field("local_addr", &self.local_addr)
            .finish()
    }
}

/// What every connection of the channel needs.
struct Context {
    me: u64,
    cluster_id: String,
    /// Each voter's Raft id and controller address, to point observers at the leader.
    voters: HashMap<u64, String>,
    log: Arc<OnceLock<QuorumLog>>,
    kafka: Arc<OnceLock<KafkaHandoff>>,
    stop: Arc<AtomicBool>,
}

impl Channel {
    /// Binds `host:port` and accepts connections for voter `me` of `cluster_id` (whose voters
    /// are `voters`, Raft id and controller address); messages go to the log once it is set
    /// in `log`.
    pub fn bind(
        host: &str,
        port: u16,
        me: u64,
        cluster_id: &str,
        voters: HashMap<u64, String>,
        log: Arc<OnceLock<QuorumLog>>,
    ) -> Result<Channel, BrokerError> {
        let bind = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let listener = TcpListener::bind(&bind).map_err(|e| {
            BrokerError::Startup(format!("cannot listen on controller channel {bind}: {e}"))
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| BrokerError::Startup(format!("controller channel address: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| BrokerError::Startup(format!("controller channel: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let kafka = Arc::new(OnceLock::new());
        let context = Arc::new(Context {
            me,
            cluster_id: cluster_id.to_string(),
            voters,
            log,
            kafka: kafka.clone(),
            stop: stop.clone(),
        });
        std::thread::Builder::new()
            .name("kavka-controller-accept".into())
            .spawn(move || accept_loop(&listener, &context))
            .map_err(|e| BrokerError::Startup(format!("controller channel thread: {e}")))?;
        Ok(Channel {
            local_addr,
            stop,
            kafka,
        })
    }

    /// Sets what serves Kafka-protocol connections (until then they are closed).
    pub fn set_kafka(&self, handoff: KafkaHandoff) {
        let _ = self.kafka.set(handoff);
    }

    /// The address bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting and ends the connections (at their next frame or timeout).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(listener: &TcpListener, context: &Arc<Context>) {
    while !context.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let context = context.clone();
                let spawned = std::thread::Builder::new()
                    .name("kavka-controller-conn".into())
                    .spawn(move || {
                        match serve(stream, peer, &context) {
                            Ok(()) => {}
                            // A voter sends nothing to another follower: normal.
                            Err(reason) if reason == NOTHING_RECEIVED => {
                                tracing::debug!(%peer, "idle controller channel connection closed");
                            }
                            Err(reason) => {
                                tracing::warn!(%peer, %reason, "controller channel connection closed");
                            }
                        }
                    });
                if let Err(e) = spawned {
                    tracing::warn!(error = %e, "cannot serve a controller channel connection");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS));
            }
            Err(e) => {
                tracing::warn!(error = %e, "controller channel accept failed");
                std::thread::sleep(Duration::from_millis(ACCEPT_POLL_MS));
            }
        }
    }
}

/// Reads one frame's payload; `None` at a clean end of stream.
pub(crate) fn read_frame(stream: &mut TcpStream, max: usize) -> Result<Option<Vec<u8>>, String> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        // The read timeout, between frames (Linux reports it as EAGAIN).
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            return Err(NOTHING_RECEIVED.into())
        }
        Err(e) => return Err(e.to_string()),
    }
    let len = wire::frame_len(header).map_err(|e| e.to_string())?;
    if len > max {
        return Err(format!("frame of {len} bytes where at most {max} fit"));
    }
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).map_err(|e| e.to_string())?;
    Ok(Some(payload))
}

/// The first 8 bytes of a connection, without consuming them; `None` if it closed first.
fn peek_prefix(stream: &TcpStream) -> Result<Option<[u8; 8]>, String> {
    let deadline = Instant::now() + Duration::from_millis(PREFIX_TIMEOUT_MS);
    let mut prefix = [0u8; 8];
    loop {
        match stream.peek(&mut prefix) {
            Ok(0) => return Ok(None),
            Ok(8) => return Ok(Some(prefix)),
            Ok(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(n) => return Err(format!("only {n} bytes arrived")),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn serve(mut stream: TcpStream, peer: SocketAddr, cx: &Context) -> Result<(), String> {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(IDLE_TIMEOUT_MS)))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let Some(prefix) = peek_prefix(&stream)? else {
        return Ok(());
    };
    if !wire::is_channel_prefix(&prefix) {
        return match cx.kafka.get() {
            Some(handoff) => {
                stream.set_read_timeout(None).map_err(|e| e.to_string())?;
                handoff(stream, peer);
                Ok(())
            }
            None => Err("a Kafka client before this node serves them".into()),
        };
    }
    let Some(payload) = read_frame(&mut stream, HELLO_BYTES_MAX)? else {
        return Ok(());
    };
    let Hello {
        from,
        cluster_id: theirs,
        observer,
    } = wire::decode_hello(&payload).map_err(|e| e.to_string())?;
    if theirs != cx.cluster_id {
        tracing::error!(
            node = crate::quorum::node_id(from),
            observer,
            their.cluster = %theirs,
            our.cluster = %cx.cluster_id,
            "a node of another cluster tried to join: refused"
        );
        return Err(format!("cluster id {theirs} is not this cluster's"));
    }
    if observer {
        return serve_observer(stream, from, cx);
    }
    while !cx.stop.load(Ordering::SeqCst) {
        let Some(payload) = read_frame(&mut stream, wire::FRAME_BYTES_MAX)? else {
            return Ok(());
        };
        let message = wire::decode_message(&payload).map_err(|e| e.to_string())?;
        if message.from != from || message.to != cx.me {
            return Err(format!(
                "message from {} to {} on the connection of {from}",
                message.from, message.to
            ));
        }
        if let Some(log) = cx.log.get() {
            log.receive(message);
        }
    }
    Ok(())
}

/// Answers observer `from`'s requests, one at a time, until it goes or the channel stops.
fn serve_observer(mut stream: TcpStream, from: u64, cx: &Context) -> Result<(), String> {
    while !cx.stop.load(Ordering::SeqCst) {
        let Some(payload) = read_frame(&mut stream, kavka_metadata::batch::FRAME_BYTES_MAX + 64)?
        else {
            return Ok(());
        };
        let request = observer_wire::decode_request(&payload).map_err(|e| e.to_string())?;
        let Some(log) = cx.log.get() else {
            return Err("the voter is not open yet".into());
        };
        let mut response = match request {
            ObserverRequest::Fetch { after, wait_ms } => log.observe(
                from,
                after,
                Duration::from_millis(u64::from(wait_ms).min(OBSERVER_WAIT_MS_MAX)),
            ),
            ObserverRequest::Position => log.position(),
        };
        if let ObserverResponse::NotLeader { leader, address } = &mut response {
            *address = leader.and_then(|l| cx.voters.get(&l).cloned());
        }
        let bytes = observer_wire::encode_response(&response).map_err(|e| e.to_string())?;
        stream
            .write_all(&wire::frame(&bytes))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
