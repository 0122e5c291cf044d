//! The controller channel's listening side: the other voters connect here and send Raft
//! messages. A connection must open with a hello of this cluster; a voter of another cluster
//! is refused (and logged) before anything it says reaches the quorum, and so is a message
//! claiming another sender than the hello or addressed to another voter.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kavka_quorum::raft::wire::{self, Hello};
use kavka_quorum::raft::QuorumLog;

use crate::error::BrokerError;

/// How often the accept loop looks at the stop flag.
const ACCEPT_POLL_MS: u64 = 50;
/// A connection silent for this long is closed (a live leader sends heartbeats far more often;
/// the sender reconnects).
const IDLE_TIMEOUT_MS: u64 = 30_000;
/// Largest hello accepted.
const HELLO_BYTES_MAX: usize = 1024;

/// The bound channel; [`Channel::stop`] ends its threads.
#[derive(Debug)]
pub struct Channel {
    local_addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Channel {
    /// Binds `host:port` and accepts connections for voter `me` of `cluster_id`; messages go
    /// to the log once it is set in `log`.
    pub fn bind(
        host: &str,
        port: u16,
        me: u64,
        cluster_id: &str,
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
        let cluster_id = cluster_id.to_string();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("kavka-controller-accept".into())
            .spawn(move || accept_loop(&listener, me, &cluster_id, &log, &flag))
            .map_err(|e| BrokerError::Startup(format!("controller channel thread: {e}")))?;
        Ok(Channel { local_addr, stop })
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

fn accept_loop(
    listener: &TcpListener,
    me: u64,
    cluster_id: &str,
    log: &Arc<OnceLock<QuorumLog>>,
    stop: &Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let (cluster_id, log, stop) = (cluster_id.to_string(), log.clone(), stop.clone());
                let spawned = std::thread::Builder::new()
                    .name("kavka-controller-conn".into())
                    .spawn(move || {
                        if let Err(reason) = serve(stream, me, &cluster_id, &log, &stop) {
                            tracing::warn!(%peer, %reason, "controller channel connection closed");
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
fn read_frame(stream: &mut TcpStream, max: usize) -> Result<Option<Vec<u8>>, String> {
    let mut header = [0u8; 4];
    match stream.read_exact(&mut header) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
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

fn serve(
    mut stream: TcpStream,
    me: u64,
    cluster_id: &str,
    log: &OnceLock<QuorumLog>,
    stop: &AtomicBool,
) -> Result<(), String> {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(IDLE_TIMEOUT_MS)))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let Some(payload) = read_frame(&mut stream, HELLO_BYTES_MAX)? else {
        return Ok(());
    };
    let Hello {
        from,
        cluster_id: theirs,
    } = wire::decode_hello(&payload).map_err(|e| e.to_string())?;
    if theirs != cluster_id {
        tracing::error!(
            voter = crate::quorum::node_id(from),
            their.cluster = %theirs,
            our.cluster = %cluster_id,
            "a voter of another cluster tried to join: refused"
        );
        return Err(format!("cluster id {theirs} is not this cluster's"));
    }
    while !stop.load(Ordering::SeqCst) {
        let Some(payload) = read_frame(&mut stream, wire::FRAME_BYTES_MAX)? else {
            return Ok(());
        };
        let message = wire::decode_message(&payload).map_err(|e| e.to_string())?;
        if message.from != from || message.to != me {
            return Err(format!(
                "message from {} to {} on the connection of {from}",
                message.from, message.to
            ));
        }
        if let Some(log) = log.get() {
            log.receive(message);
        }
    }
    Ok(())
}
