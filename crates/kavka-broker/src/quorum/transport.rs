//! The controller channel's sending side: one thread per other voter, with a bounded queue.
//! The voter's driver never blocks on the network: a message that finds the queue full, or
//! its voter unreachable, is dropped (Raft resends), and the voter is told so
//! ([`Delivery`]) to probe again instead of streaming into the void. Writes have a timeout, so
//! a stopped peer (SIGSTOP, a partition) costs one reconnect, not a stuck thread.

use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use kavka_quorum::raft::wire::{self, Hello};
use kavka_quorum::raft::{Delivery, Message, MessageType, QuorumLog, RaftTransport};

/// Messages queued per voter before new ones are dropped.
const QUEUE_MESSAGES_MAX: usize = 1024;
/// Connect and write timeouts.
const IO_TIMEOUT_MS: u64 = 2_000;
/// Pause between failed connection attempts.
const RECONNECT_BACKOFF_MS: u64 = 100;

/// The queues of the peer threads, by Raft id.
#[derive(Debug)]
pub struct TcpTransport {
    peers: HashMap<u64, SyncSender<Message>>,
    log: Arc<OnceLock<QuorumLog>>,
}

impl TcpTransport {
    /// Starts a thread per peer (`raft id -> host:port`) that connects, says hello as voter
    /// `me` of `cluster_id` and writes the messages queued for it.
    pub fn start(
        me: u64,
        cluster_id: &str,
        peers: Vec<(u64, String)>,
        log: Arc<OnceLock<QuorumLog>>,
    ) -> TcpTransport {
        let hello = wire::frame(&wire::encode_hello(&Hello {
            from: me,
            cluster_id: cluster_id.to_string(),
            observer: false,
        }));
        let mut queues = HashMap::new();
        for (id, address) in peers {
            let (tx, rx) = mpsc::sync_channel(QUEUE_MESSAGES_MAX);
            let (hello, log) = (hello.clone(), log.clone());
            let spawned = std::thread::Builder::new()
                .name(format!(
                    "kavka-controller-to-{}",
                    crate::quorum::node_id(id)
                ))
                .spawn(move || {
                    Peer {
                        id,
                        address,
                        hello,
                        log,
                    }
                    .run(&rx)
                });
            match spawned {
                Ok(_) => {
                    queues.insert(id, tx);
                }
                Err(e) => tracing::error!(error = %e, "cannot start a controller channel thread"),
            }
        }
        TcpTransport { peers: queues, log }
    }

    fn report(&self, delivery: Delivery) {
        if let Some(log) = self.log.get() {
            log.report(delivery);
        }
    }
}

/// Connects to a controller channel at `address` (`host:port`), with the channel's connect
/// and write timeouts.
pub fn connect(address: &str) -> std::io::Result<TcpStream> {
    let timeout = Duration::from_millis(IO_TIMEOUT_MS);
    let mut last = None;
    for addr in address.to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => {
                s.set_write_timeout(Some(timeout))?;
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("address resolves to nothing")))
}

impl RaftTransport for TcpTransport {
    fn send(&self, message: Message) {
        let to = message.to;
        let snapshot = message.get_msg_type() == MessageType::MsgSnapshot;
        let Some(queue) = self.peers.get(&to) else {
            return;
        };
        if queue.try_send(message).is_err() {
            self.report(Delivery::Unreachable { to });
            if snapshot {
                self.report(Delivery::Snapshot {
                    to,
                    delivered: false,
                });
            }
        }
    }
}

struct Peer {
    id: u64,
    address: String,
    hello: Vec<u8>,
    log: Arc<OnceLock<QuorumLog>>,
}

impl Peer {
    fn report(&self, delivery: Delivery) {
        if let Some(log) = self.log.get() {
            log.report(delivery);
        }
    }

    /// Reports a message that was not written.
    fn lost(&self, message: &Message) {
        self.report(Delivery::Unreachable { to: self.id });
        if message.get_msg_type() == MessageType::MsgSnapshot {
            self.report(Delivery::Snapshot {
                to: self.id,
                delivered: false,
            });
        }
    }

    fn connect(&self) -> std::io::Result<TcpStream> {
        connect(&self.address)
    }

    fn run(&self, queue: &Receiver<Message>) {
        let voter = crate::quorum::node_id(self.id);
        let mut down_logged = false;
        loop {
            let stream = match self.connect() {
                Ok(s) => s,
                Err(e) => {
                    if !down_logged {
                        tracing::warn!(voter, address = %self.address, error = %e, "cannot reach voter");
                        down_logged = true;
                    }
                    std::thread::sleep(Duration::from_millis(RECONNECT_BACKOFF_MS));
                    // What queued meanwhile is stale; Raft sends again.
                    loop {
                        match queue.try_recv() {
                            Ok(m) => self.lost(&m),
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => return,
                        }
                    }
                    continue;
                }
            };
            if down_logged {
                tracing::info!(voter, address = %self.address, "voter reachable again");
                down_logged = false;
            }
            match self.stream_to(stream, queue) {
                Ok(()) => return,
                Err(e) => tracing::debug!(voter, error = %e, "controller channel write failed"),
            }
        }
    }

    /// Writes queued messages until the queue closes (`Ok`) or a write fails.
    fn stream_to(&self, stream: TcpStream, queue: &Receiver<Message>) -> std::io::Result<()> {
        let mut out = BufWriter::new(stream);
        out.write_all(&self.hello)?;
        out.flush()?;
        loop {
            let message = match queue.recv_timeout(Duration::from_secs(1)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            };
            // Everything already queued goes out in one flush.
            let mut batch = vec![message];
            while let Ok(m) = queue.try_recv() {
                batch.push(m);
            }
            let written = batch.iter().try_for_each(|m| {
                let payload = wire::encode_message(m);
                out.write_all(&(payload.len() as u32).to_be_bytes())?;
                out.write_all(&payload)
            });
            let written = written.and_then(|()| out.flush());
            for m in &batch {
                if m.get_msg_type() == MessageType::MsgSnapshot {
                    self.report(Delivery::Snapshot {
                        to: self.id,
                        delivered: written.is_ok(),
                    });
                }
            }
            if let Err(e) = written {
                self.report(Delivery::Unreachable { to: self.id });
                return Err(e);
            }
        }
    }
}
