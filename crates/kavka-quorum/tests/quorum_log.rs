//! Three `QuorumLog` voters in one process, on real threads and a real clock, their messages
//! carried by an in-memory transport that can cut a voter off: a leader is elected, a batch
//! appended on it comes out committed on every voter in order, a follower refuses appends
//! naming the leader, the quorum carries on without a stopped leader, and a restarted voter
//! replays what it had and catches up with the rest. An observer (a broker-only node's
//! [`ObserverLog`]) follows the leader's committed log through `QuorumLog::observe`.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kavka_metadata::{
    ConfigRecord, ConfigResourceType, MetadataError, MetadataLog, MetadataRecord,
};
use kavka_quorum::raft::observer_wire::{decode_response, encode_response, ObserverResponse};
use kavka_quorum::raft::{
    wire::{decode_message, encode_message},
    Committed, Message, QuorumConfig, QuorumDriver, QuorumLog, RaftConfig, RaftTransport,
};
use kavka_quorum::ObserverLog;

#[derive(Debug, Default)]
struct Net {
    voters: Mutex<HashMap<u64, QuorumLog>>,
    down: Mutex<HashSet<u64>>,
}

impl RaftTransport for Net {
    fn send(&self, message: Message) {
        let down = self.down.lock().unwrap();
        if down.contains(&message.from) || down.contains(&message.to) {
            return;
        }
        // Through the wire encoding, as between processes.
        let message = decode_message(&encode_message(&message)).expect("round trip");
        if let Some(v) = self.voters.lock().unwrap().get(&message.to) {
            v.receive(message);
        }
    }
}

fn record(n: u64) -> Vec<MetadataRecord> {
    vec![MetadataRecord::Config(ConfigRecord {
        resource_type: ConfigResourceType::Broker,
        resource_name: String::new(),
        name: "test.n".into(),
        value: Some(n.to_string()),
    })]
}

struct Voter {
    log: QuorumLog,
    driver: Option<QuorumDriver>,
    committed: Receiver<Committed>,
    seen: Vec<u64>,
}

fn start(dir: &std::path::Path, id: u64, net: &Arc<Net>) -> (Voter, kavka_metadata::Replay) {
    let (tx, rx) = channel();
    let config = QuorumConfig {
        raft: RaftConfig {
            id,
            voters: vec![1, 2, 3],
            election_ticks: 10,
            election_ticks_spread: 10,
            heartbeat_ticks: 2,
        },
        tick_ms: 20,
        commit_timeout_ms: 3000,
        snapshot_bytes_min: u64::MAX,
    };
    let (log, replay, driver) =
        QuorumLog::open(&dir.join(id.to_string()), config, net.clone(), tx).unwrap();
    net.voters.lock().unwrap().insert(id, log.clone());
    let voter = Voter {
        log,
        driver: Some(driver),
        committed: rx,
        seen: Vec::new(),
    };
    (voter, replay)
}

fn leader(voters: &HashMap<u64, Voter>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for (&id, v) in voters {
            if v.driver.is_some() && v.log.writable().is_ok() {
                return id;
            }
        }
        assert!(Instant::now() < deadline, "no leader elected");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until voter `v` has seen the batch at `offset`, collecting what it applies.
fn seen_through(v: &mut Voter, offset: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while v.seen.last().copied().unwrap_or(0) < offset {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "offset {offset} not applied");
        if let Ok(c) = v.committed.recv_timeout(left) {
            match c {
                Committed::Batch(b) => {
                    if let Some(&last) = v.seen.last() {
                        assert_eq!(b.offset, last + 1, "applied in order, without gaps");
                    }
                    v.seen.push(b.offset);
                }
                Committed::Snapshot { offset, .. } => v.seen.push(offset),
            }
        }
    }
}

#[test]
fn three_voters_commit_fail_over_and_catch_up() {
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let mut voters: HashMap<u64, Voter> = (1..=3)
        .map(|id| (id, start(dir.path(), id, &net).0))
        .collect();

    let first = leader(&voters);
    let batch = voters
        .get_mut(&first)
        .unwrap()
        .log
        .append(record(1))
        .unwrap();
    for v in voters.values_mut() {
        seen_through(v, batch.offset);
    }
    let follower = (1..=3).find(|&id| id != first).unwrap();
    match voters.get_mut(&follower).unwrap().log.append(record(2)) {
        Err(MetadataError::NotLeader { leader }) => assert_eq!(leader, Some(first)),
        other => panic!("a follower appended: {other:?}"),
    }

    // The leader stops; the two others elect a new one and commit without it.
    net.down.lock().unwrap().insert(first);
    voters.get_mut(&first).unwrap().driver = None;
    let mut alive: HashMap<u64, Voter> = voters.into_iter().collect();
    let stopped = alive.remove(&first).unwrap();
    drop(stopped);
    let second = leader(&alive);
    assert_ne!(second, first);
    let later = alive
        .get_mut(&second)
        .unwrap()
        .log
        .append(record(3))
        .unwrap();
    assert!(later.offset > batch.offset);
    assert!(u64::from(later.epoch) > u64::from(batch.epoch));
    for v in alive.values_mut() {
        seen_through(v, later.offset);
    }

    // The stopped voter restarts from its directory: it replays what was committed to it and
    // is handed the rest.
    net.down.lock().unwrap().clear();
    let (mut back, replay) = start(dir.path(), first, &net);
    let replayed = replay.batches.last().map_or(0, |b| b.offset);
    assert!(
        replayed >= batch.offset,
        "the committed batch survives a restart"
    );
    back.seen.push(replayed);
    seen_through(&mut back, later.offset);
    alive.insert(first, back);
    let third = leader(&alive);
    alive
        .get_mut(&third)
        .unwrap()
        .log
        .append(record(4))
        .unwrap();
}

/// `observe` as an observer sees it: through the wire encoding.
fn observe(log: &QuorumLog, after: u64, wait_ms: u64) -> ObserverResponse {
    let answer = log.observe(10, after, Duration::from_millis(wait_ms));
    decode_response(&encode_response(&answer).unwrap()).unwrap()
}

#[test]
fn an_observer_follows_the_leaders_committed_log() {
    let dir = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let mut voters: HashMap<u64, Voter> = (1..=3)
        .map(|id| (id, start(dir.path(), id, &net).0))
        .collect();
    let first = leader(&voters);
    let follower = (1..=3).find(|&id| id != first).unwrap();
    match observe(&voters[&follower].log, 0, 0) {
        ObserverResponse::NotLeader { leader, .. } => assert_eq!(leader, Some(first)),
        other => panic!("a follower served an observer: {other:?}"),
    }
    let leader_log = voters.get_mut(&first).unwrap().log.clone();
    let mut writer = leader_log.clone();
    let written = writer.append(record(1)).unwrap();
    let (copy, _) = ObserverLog::open(&dir.path().join("observer"), u64::MAX).unwrap();
    while copy.last_offset() < written.offset {
        match observe(&leader_log, copy.last_offset(), 100) {
            ObserverResponse::Fetched { leader, items, .. } => {
                assert_eq!(leader, first);
                copy.accept(items).unwrap();
            }
            other => panic!("the leader did not serve: {other:?}"),
        }
    }
    // Nothing new: the leader holds the fetch for the wait, then answers empty.
    let started = Instant::now();
    match observe(&leader_log, copy.last_offset(), 300) {
        ObserverResponse::Fetched { items, .. } => assert!(items.is_empty()),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() >= Duration::from_millis(250));
    // A commit during the wait answers it at once.
    let after = copy.last_offset();
    let waiting = {
        let log = leader_log.clone();
        std::thread::spawn(move || (Instant::now(), observe(&log, after, 10_000)))
    };
    std::thread::sleep(Duration::from_millis(100));
    writer.append(record(2)).unwrap();
    let (asked, answer) = waiting.join().unwrap();
    assert!(asked.elapsed() < Duration::from_secs(5));
    let ObserverResponse::Fetched { items, .. } = answer else {
        panic!("{answer:?}")
    };
    let applied = copy.accept(items).unwrap();
    assert!(matches!(applied.last(), Some(Committed::Batch(b)) if b.records == record(2)));
    // The leader keeps the observer for DescribeQuorum.
    let observers = leader_log.status().observers;
    assert_eq!(observers.iter().map(|o| o.0).collect::<Vec<_>>(), [10]);
    assert!(leader_log.heard_from(10).is_some());
    for v in voters.values_mut() {
        v.driver = None;
    }
}
