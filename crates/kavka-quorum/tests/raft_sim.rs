//! A deterministic simulation of a metadata quorum: voters driven by a seeded clock and
//! network (loss, delay, reordering, duplication, partitions) with crashes and restarts from
//! their directories, checking Raft's safety properties over many seeds:
//! - at most one leader per term;
//! - a committed offset never changes content, on any voter, across crashes;
//! - every voter applies offsets in order without gaps (after a restart, from its snapshot);
//! - no proposal is committed twice;
//!
//! And, once faults stop, liveness: a leader is elected and a new proposal commits everywhere.
//!
//! `KAVKA_RAFT_SIM_SEEDS` (default 24) and `KAVKA_RAFT_SIM_TICKS` (default 1500) set the run;
//! a failure names its seed, and `KAVKA_RAFT_SIM_SEED=n` replays only that one.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use kavka_metadata::{ConfigRecord, ConfigResourceType, MetadataImage, MetadataRecord};
use kavka_quorum::raft::{Committed, Message, RaftConfig, RaftNode};

/// xorshift64*: small, seeded, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// The record of proposal `n`: a broker config whose value names it.
fn proposal(n: u64) -> Vec<MetadataRecord> {
    vec![MetadataRecord::Config(ConfigRecord {
        resource_type: ConfigResourceType::Broker,
        resource_name: String::new(),
        name: "sim.proposal".into(),
        value: Some(n.to_string()),
    })]
}

fn proposal_id(records: &[MetadataRecord]) -> Option<u64> {
    match records.first()? {
        MetadataRecord::Config(c) => c.value.as_deref()?.parse().ok(),
        _ => None,
    }
}

struct Voter {
    dir: PathBuf,
    config: RaftConfig,
    node: Option<RaftNode>,
    /// The image this incarnation applied, and the last offset in it.
    image: MetadataImage,
    applied: u64,
    /// Ticks until a crashed voter restarts.
    down_for: u64,
}

struct Sim {
    seed: u64,
    rng: Rng,
    now: u64,
    voters: Vec<Voter>,
    /// In flight: (delivery tick, message).
    net: Vec<(u64, Message)>,
    /// Voter index cut off from the others until the given tick.
    partition: Option<(usize, u64)>,
    faults: bool,
    leaders: BTreeMap<u64, u64>,
    /// Offset -> proposal id (None for an empty entry) as first committed anywhere.
    committed: BTreeMap<u64, Option<u64>>,
    /// Proposal id -> offset it committed at.
    committed_at: HashMap<u64, u64>,
    next_proposal: u64,
    _tmp: tempfile::TempDir,
}

impl Sim {
    fn new(seed: u64, voters: u64) -> Sim {
        let tmp = tempfile::tempdir().unwrap();
        let ids: Vec<u64> = (1..=voters).collect();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let voters = ids
            .iter()
            .map(|&id| {
                let dir = tmp.path().join(format!("voter-{id}"));
                let config = RaftConfig {
                    id,
                    voters: ids.clone(),
                    // Exact timeouts keep runs deterministic; drawn per seed, they are
                    // sometimes equal, so elections collide and votes split.
                    election_ticks: 6 + rng.below(4) as usize,
                    election_ticks_spread: 1,
                    heartbeat_ticks: 2,
                };
                let node = RaftNode::open(&dir, &config).unwrap();
                Voter {
                    dir,
                    config,
                    node: Some(node),
                    image: MetadataImage::new(),
                    applied: 0,
                    down_for: 0,
                }
            })
            .collect();
        Sim {
            seed,
            rng,
            now: 0,
            voters,
            net: Vec::new(),
            partition: None,
            faults: true,
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            committed_at: HashMap::new(),
            next_proposal: 0,
            _tmp: tmp,
        }
    }

    fn fail(&self, what: String) -> ! {
        panic!("seed {}: tick {}: {what}", self.seed, self.now)
    }

    fn reachable(&self, from: u64, to: u64) -> bool {
        match self.partition {
            Some((cut, _)) => {
                let cut = self.voters[cut].config.id;
                (from == cut) == (to == cut)
            }
            None => true,
        }
    }

    fn restart(&mut self, i: usize) {
        let v = &mut self.voters[i];
        let node = RaftNode::open(&v.dir, &v.config)
            .unwrap_or_else(|e| panic!("seed {}: voter {} restarts: {e}", self.seed, i + 1));
        match node.snapshot_image().unwrap() {
            Some((offset, image)) => {
                v.image = image;
                v.applied = offset;
            }
            None => {
                v.image = MetadataImage::new();
                v.applied = 0;
            }
        }
        v.node = Some(node);
    }

    fn apply(&mut self, i: usize, committed: Vec<Committed>) {
        for c in committed {
            match c {
                Committed::Snapshot { offset, image } => {
                    let applied = self.voters[i].applied;
                    if offset < applied {
                        self.fail(format!(
                            "voter {} got a snapshot at {offset} behind {applied}",
                            i + 1
                        ));
                    }
                    let v = &mut self.voters[i];
                    v.image = image;
                    v.applied = offset;
                }
                Committed::Batch(batch) => {
                    let expected = self.voters[i].applied + 1;
                    if batch.offset != expected {
                        self.fail(format!(
                            "voter {} applied {} after {}",
                            i + 1,
                            batch.offset,
                            expected - 1
                        ));
                    }
                    let id = proposal_id(&batch.records);
                    match self.committed.get(&batch.offset) {
                        Some(first) if *first != id => self.fail(format!(
                            "offset {} committed as {first:?} and as {id:?}",
                            batch.offset
                        )),
                        Some(_) => {}
                        None => {
                            self.committed.insert(batch.offset, id);
                            if let Some(id) = id {
                                if let Some(at) = self.committed_at.insert(id, batch.offset) {
                                    self.fail(format!(
                                        "proposal {id} committed at {at} and {}",
                                        batch.offset
                                    ));
                                }
                            }
                        }
                    }
                    let v = &mut self.voters[i];
                    for r in &batch.records {
                        v.image.apply(r).unwrap();
                    }
                    v.applied = batch.offset;
                }
            }
        }
        // Small logs snapshot often, so lagging voters catch up from snapshots too.
        let v = &mut self.voters[i];
        if let Some(node) = v.node.as_mut() {
            if node.log_bytes() > 2048 && v.applied > 0 {
                node.compact(v.applied, &v.image).unwrap();
            }
        }
    }

    fn step(&mut self) {
        self.now += 1;
        // Faults.
        if self.faults {
            if self.partition.is_some_and(|(_, until)| until <= self.now) {
                self.partition = None;
            }
            if self.partition.is_none() && self.rng.chance(5) {
                let who = self.rng.below(self.voters.len() as u64) as usize;
                self.partition = Some((who, self.now + 20 + self.rng.below(80)));
            }
            if self.rng.chance(8) {
                let who = self.rng.below(self.voters.len() as u64) as usize;
                if self.voters[who].node.is_some() {
                    self.voters[who].node = None;
                    self.voters[who].down_for = 5 + self.rng.below(60);
                }
            }
        }
        for i in 0..self.voters.len() {
            if self.voters[i].node.is_none() {
                let v = &mut self.voters[i];
                v.down_for = v.down_for.saturating_sub(1);
                if v.down_for == 0 || !self.faults {
                    self.restart(i);
                }
            }
        }
        // Deliver what is due, in a shuffled order.
        let mut due = Vec::new();
        let mut i = 0;
        while i < self.net.len() {
            if self.net[i].0 <= self.now {
                due.push(self.net.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
        for j in (1..due.len()).rev() {
            let k = self.rng.below(j as u64 + 1) as usize;
            due.swap(j, k);
        }
        for m in due {
            if !self.reachable(m.from, m.to) {
                continue;
            }
            if let Some(node) = self.voters[(m.to - 1) as usize].node.as_mut() {
                node.step(m);
            }
        }
        // Ticks, proposals, ready loops.
        let propose = self.rng.chance(300);
        for i in 0..self.voters.len() {
            let Some(node) = self.voters[i].node.as_mut() else {
                continue;
            };
            node.tick();
            if propose && node.is_leader() {
                let n = self.next_proposal;
                if node.propose(proposal(n)).is_ok() {
                    self.next_proposal += 1;
                }
            }
            let out = node.advance().unwrap();
            if node.is_leader() {
                let (term, id) = (node.term(), node.id());
                if let Some(&other) = self.leaders.get(&term) {
                    if other != id {
                        self.fail(format!("term {term} has leaders {other} and {id}"));
                    }
                }
                self.leaders.insert(term, id);
            }
            // A voter that just granted a vote sometimes crashes at once and comes back soon:
            // what it must remember across that crash is the vote.
            let voted = out.messages.iter().any(|m| {
                m.get_msg_type() == raft::eraftpb::MessageType::MsgRequestVoteResponse && !m.reject
            });
            let crash_after = self.faults && voted && self.rng.chance(300);
            for m in out.messages {
                let lost = self.faults && self.rng.chance(50);
                if m.get_msg_type() == raft::eraftpb::MessageType::MsgSnapshot {
                    // The transport reports whether a snapshot went through.
                    node.report_snapshot(m.to, !lost);
                }
                if lost {
                    continue;
                }
                // Mostly 1-3 ticks; sometimes far behind the messages sent after it.
                let delay = if self.faults && self.rng.chance(50) {
                    5 + self.rng.below(15)
                } else {
                    1 + self.rng.below(3)
                };
                if self.faults && self.rng.chance(20) {
                    self.net.push((self.now + delay + 2, m.clone()));
                }
                self.net.push((self.now + delay, m));
            }
            self.apply(i, out.committed);
            if crash_after {
                self.voters[i].node = None;
                self.voters[i].down_for = 1 + self.rng.below(3);
            }
        }
    }

    fn run(mut self, ticks: u64) {
        for _ in 0..ticks {
            self.step();
        }
        if self.committed_at.len() < 20 {
            self.fail(format!(
                "only {} proposals committed under faults",
                self.committed_at.len()
            ));
        }
        // Heal, then the quorum must make progress.
        self.faults = false;
        self.partition = None;
        // A fresh id for each attempt: a proposal lost with a leader change is not retried
        // under the same id (that would commit it twice if it was not lost after all).
        let mut target = u64::MAX;
        let mut proposed = false;
        let mut proposed_at = 0;
        for _ in 0..2000 {
            self.step();
            if !proposed || self.now > proposed_at + 300 {
                if let Some(node) = self
                    .voters
                    .iter_mut()
                    .filter_map(|v| v.node.as_mut())
                    .find(|n| n.is_leader())
                {
                    let id = self.next_proposal;
                    if node.propose(proposal(id)).is_ok() {
                        self.next_proposal += 1;
                        (target, proposed, proposed_at) = (id, true, self.now);
                    }
                }
            }
            if let Some(&at) = self.committed_at.get(&target) {
                if self.voters.iter().all(|v| v.applied >= at) {
                    let images: Vec<&MetadataImage> =
                        self.voters.iter().map(|v| &v.image).collect();
                    if images.windows(2).any(|w| w[0] != w[1])
                        && self
                            .voters
                            .iter()
                            .map(|v| v.applied)
                            .collect::<std::collections::BTreeSet<_>>()
                            .len()
                            == 1
                    {
                        self.fail("voters at the same offset hold different images".into());
                    }
                    return;
                }
            }
        }
        self.fail(format!(
            "no progress after healing: proposal {target} proposed={proposed}, applied {:?}",
            self.voters.iter().map(|v| v.applied).collect::<Vec<_>>()
        ));
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn three_voters_stay_safe_and_recover_under_faults() {
    let ticks = env("KAVKA_RAFT_SIM_TICKS", 1500);
    let seeds: Vec<u64> = match std::env::var("KAVKA_RAFT_SIM_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        Err(_) => (1..=env("KAVKA_RAFT_SIM_SEEDS", 24)).collect(),
    };
    for seed in seeds {
        Sim::new(seed, 3).run(ticks);
    }
}

#[test]
fn five_voters_stay_safe_and_recover_under_faults() {
    let ticks = env("KAVKA_RAFT_SIM_TICKS", 1500);
    for seed in 1..=env("KAVKA_RAFT_SIM_SEEDS", 24) / 2 {
        Sim::new(1000 + seed, 5).run(ticks);
    }
}
