//! This node as an observer of the metadata quorum (`process.roles=broker`): a fetch thread
//! pulls the committed log from the quorum's leader over the controller channel, makes it
//! durable in the node's [`ObserverLog`] and hands it to the broker's applier in order, as a
//! KRaft broker fetches `__cluster_metadata`. It starts from any controller it knows
//! (`controller.quorum.voters`, `controller.quorum.bootstrap.servers`), follows a voter's
//! pointer to the leader, and starts over from the list when the leader goes silent. Records
//! the broker writes (its registration) are forwarded to the leader on a connection of their
//! own.

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kavka_quorum::raft::observer_wire::{self, ObserverRequest, ObserverResponse};
use kavka_quorum::raft::wire::{self, Hello};
use kavka_quorum::raft::{Committed, QuorumStatus};
use kavka_quorum::ObserverLog;

use super::channel::read_frame;
use super::transport::connect;

/// How long the leader may hold a fetch with nothing new (the observer's heartbeat as well:
/// a live observer is heard from at least this often).
const FETCH_WAIT_MS: u32 = 500;
/// Pause before trying the next controller after a failure.
const RETRY_BACKOFF_MS: u64 = 200;

/// The fetch thread's shared state.
#[derive(Debug)]
struct Shared {
    me: u64,
    hello: Vec<u8>,
    /// Controllers to start from: the voters' addresses, then the bootstrap servers.
    targets: Vec<String>,
    /// The voters' controller addresses by Raft id.
    voters: HashMap<u64, String>,
    /// The leader (Raft id) and the address it answers on, while fetching from it works.
    leader: Mutex<Option<(u64, String)>>,
    /// The leader's term and commit index, as last fetched.
    position: Mutex<(u64, u64)>,
    /// The leader's commit index at the first answer since start: what the broker's image
    /// must reach before it serves what it leads.
    first_commit: std::sync::OnceLock<u64>,
    stop: AtomicBool,
}

/// The observer: its log and fetch thread.
#[derive(Debug)]
pub struct Observer {
    log: ObserverLog,
    shared: Arc<Shared>,
}

impl Observer {
    /// Starts fetching for observer `me` of `cluster_id` into `log`; what becomes durable is
    /// sent to `sink`, in order.
    pub fn start(
        me: u64,
        cluster_id: &str,
        voters: HashMap<u64, String>,
        bootstrap: Vec<String>,
        log: ObserverLog,
        sink: Sender<Committed>,
    ) -> std::io::Result<Observer> {
        let mut targets: Vec<String> = voters.values().cloned().collect();
        targets.sort();
        targets.extend(
            bootstrap
                .into_iter()
                .filter(|b| !voters.values().any(|v| v == b)),
        );
        let hello = observer_hello(me, cluster_id);
        let shared = Arc::new(Shared {
            me,
            hello,
            targets,
            voters,
            leader: Mutex::new(None),
            position: Mutex::new((0, 0)),
            first_commit: std::sync::OnceLock::new(),
            stop: AtomicBool::new(false),
        });
        {
            let (shared, log) = (shared.clone(), log.clone());
            std::thread::Builder::new()
                .name("kavka-metadata-fetch".into())
                .spawn(move || run(&shared, &log, &sink))?;
        }
        Ok(Observer { log, shared })
    }

    /// The observer's log (clones share it).
    pub fn log(&self) -> ObserverLog {
        self.log.clone()
    }

    /// The leader's Raft id and controller address, while this observer fetches from it.
    pub fn leader(&self) -> Option<(u64, String)> {
        self.shared
            .leader
            .lock()
            .expect("observer lock poisoned")
            .clone()
    }

    /// The leader's commit index at the first fetch answered since start, once there was one.
    pub fn first_commit(&self) -> Option<u64> {
        self.shared.first_commit.get().copied()
    }

    /// What this observer knows of the quorum.
    pub fn status(&self) -> QuorumStatus {
        let (term, commit) = *self.shared.position.lock().expect("observer lock poisoned");
        QuorumStatus {
            id: self.shared.me,
            term,
            leader: self.leader().map(|(id, _)| id),
            commit,
            last_index: self.log.last_offset(),
            progress: Vec::new(),
            observers: Vec::new(),
        }
    }

    /// Stops the fetch thread (at its next answer).
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

fn open(hello: &[u8], address: &str) -> Result<TcpStream, String> {
    let mut stream = connect(address).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(
            u64::from(FETCH_WAIT_MS) + 5_000,
        )))
        .map_err(|e| e.to_string())?;
    stream.write_all(hello).map_err(|e| e.to_string())?;
    Ok(stream)
}

/// The hello frame of node `me` of `cluster_id` opening an observer-style connection.
pub fn observer_hello(me: u64, cluster_id: &str) -> Vec<u8> {
    wire::frame(&wire::encode_hello(&Hello {
        from: me,
        cluster_id: cluster_id.to_string(),
        observer: true,
    }))
}

/// Asks the controller at `address` one question on a connection of its own.
pub fn ask_once(
    address: &str,
    hello: &[u8],
    request: &ObserverRequest,
) -> Result<ObserverResponse, String> {
    let mut stream = open(hello, address)?;
    let request = observer_wire::encode_request(request).map_err(|e| e.to_string())?;
    ask(&mut stream, &request)
}

fn ask(stream: &mut TcpStream, request: &[u8]) -> Result<ObserverResponse, String> {
    stream
        .write_all(&wire::frame(request))
        .map_err(|e| e.to_string())?;
    let payload = read_frame(stream, wire::FRAME_BYTES_MAX)?
        .ok_or_else(|| "the controller closed the connection".to_string())?;
    observer_wire::decode_response(&payload).map_err(|e| e.to_string())
}

fn run(shared: &Shared, log: &ObserverLog, sink: &Sender<Committed>) {
    let mut next = 0usize;
    let mut pointed: Option<String> = None;
    let mut failing = false;
    while !shared.stop.load(Ordering::SeqCst) {
        let address = match pointed.take() {
            Some(a) => a,
            None if shared.targets.is_empty() => return,
            None => {
                next += 1;
                shared.targets[(next - 1) % shared.targets.len()].clone()
            }
        };
        match fetch_from(shared, log, sink, &address) {
            Ok(Some(leader)) => pointed = Some(leader),
            Ok(None) => std::thread::sleep(Duration::from_millis(RETRY_BACKOFF_MS)),
            Err(reason) => {
                if !failing {
                    tracing::warn!(controller = %address, %reason, "metadata fetch failed; trying the next controller");
                }
                failing = true;
                std::thread::sleep(Duration::from_millis(RETRY_BACKOFF_MS));
                continue;
            }
        }
        failing = false;
    }
}

/// Fetches from the controller at `address` while it leads; returns the leader it points to
/// when it does not (`None`: it knows none), or why the connection failed.
fn fetch_from(
    shared: &Shared,
    log: &ObserverLog,
    sink: &Sender<Committed>,
    address: &str,
) -> Result<Option<String>, String> {
    let forget = || {
        let mut leader = shared.leader.lock().expect("observer lock poisoned");
        if leader.as_ref().is_some_and(|(_, a)| a == address) {
            *leader = None;
        }
        log.set_leader(None, None);
    };
    let mut stream = open(&shared.hello, address).inspect_err(|_| forget())?;
    while !shared.stop.load(Ordering::SeqCst) {
        let request = observer_wire::encode_request(&ObserverRequest::Fetch {
            after: log.last_offset(),
            wait_ms: FETCH_WAIT_MS,
        })
        .map_err(|e| e.to_string())?;
        match ask(&mut stream, &request).inspect_err(|_| forget())? {
            ObserverResponse::NotLeader { leader, address } => {
                forget();
                return Ok(address.or_else(|| leader.and_then(|l| shared.voters.get(&l).cloned())));
            }
            ObserverResponse::Fetched {
                leader,
                term,
                commit,
                items,
            } => {
                *shared.leader.lock().expect("observer lock poisoned") =
                    Some((leader, address.to_string()));
                *shared.position.lock().expect("observer lock poisoned") = (term, commit);
                let _ = shared.first_commit.set(commit);
                log.set_leader(Some(leader), Some(term));
                let committed = log.accept(items).map_err(|e| e.to_string())?;
                for c in committed {
                    if sink.send(c).is_err() {
                        shared.stop.store(true, Ordering::SeqCst);
                        return Ok(None);
                    }
                }
            }
        }
    }
    Ok(None)
}
