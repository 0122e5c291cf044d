//! Random sequences of joins, syncs, heartbeats, leaves, restarts and clock moves by five
//! clients (three dynamic, two static) that behave as consumers do; invariants are checked
//! after every step, and at the end the log must rebuild the group.

use std::collections::HashSet;

use proptest::prelude::*;

use super::*;

#[path = "shard_random_check.rs"]
mod check;

const GROUP: &str = "g";
const CLIENTS: usize = 5;

#[derive(Debug, Clone)]
enum Op {
    Join { client: usize, v9: bool, alt: bool },
    Sync { client: usize },
    Heartbeat { client: usize },
    Leave { client: usize },
    Restart { client: usize },
    Advance { ms: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..CLIENTS, any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(client, v9, alt)| Op::Join { client, v9, alt }),
        3 => (0..CLIENTS).prop_map(|client| Op::Sync { client }),
        3 => (0..CLIENTS).prop_map(|client| Op::Heartbeat { client }),
        1 => (0..CLIENTS).prop_map(|client| Op::Leave { client }),
        1 => (0..CLIENTS).prop_map(|client| Op::Restart { client }),
        3 => prop::sample::select(vec![0i64, 500, 2_000, 3_000, 3_000, 6_000, 11_000, 31_000])
            .prop_map(|ms| Op::Advance { ms }),
    ]
}

/// A consumer: blocked while its JoinGroup or SyncGroup waits.
#[derive(Debug, Clone, Default)]
struct Client {
    member_id: String,
    /// -1 until a JoinGroup succeeds, and once the client must rejoin.
    generation: i32,
    /// Members to assign, when the JoinGroup said it leads.
    to_assign: Option<Vec<String>>,
    waiting_join: bool,
    waiting_sync: bool,
}

struct Sim {
    d: Driver,
    clients: Vec<Client>,
    /// Requests of clients that restarted meanwhile: (is JoinGroup, member id).
    orphans: HashSet<(bool, String)>,
    generation: i32,
}

fn instance(client: usize) -> Option<String> {
    (client >= 3).then(|| format!("inst{client}"))
}

impl Sim {
    fn reset(&mut self, i: usize) {
        self.clients[i] = Client {
            generation: -1,
            ..Client::default()
        };
    }

    fn on_join(&mut self, i: usize, r: JoinResponse) {
        let c = &mut self.clients[i];
        match r.error {
            ErrorCode::NONE => {
                c.member_id = r.member_id.clone();
                c.generation = r.generation_id;
                c.to_assign = (r.leader == r.member_id && !r.skip_assignment)
                    .then(|| r.members.iter().map(|m| m.member_id.clone()).collect());
            }
            ErrorCode::MEMBER_ID_REQUIRED => c.member_id = r.member_id,
            ErrorCode::UNKNOWN_MEMBER_ID
            | ErrorCode::FENCED_INSTANCE_ID
            | ErrorCode::GROUP_MAX_SIZE_REACHED => self.reset(i),
            e => panic!("unexpected JoinGroup error {e:?}"),
        }
    }

    fn on_sync(&mut self, i: usize, r: SyncResponse) {
        match r.error {
            ErrorCode::NONE => {}
            ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::ILLEGAL_GENERATION => {
                self.clients[i].generation = -1;
            }
            ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::FENCED_INSTANCE_ID => self.reset(i),
            e => panic!("unexpected SyncGroup error {e:?}"),
        }
    }

    fn step(&mut self, op: &Op) {
        let busy = |c: &Client| c.waiting_join || c.waiting_sync;
        match *op {
            Op::Join { client: i, v9, alt } => {
                if busy(&self.clients[i]) {
                    return;
                }
                let req = JoinRequest {
                    group_instance_id: instance(i),
                    require_known_member_id: instance(i).is_none(),
                    supports_skip_assignment: v9,
                    protocols: protocols(if alt {
                        &["roundrobin", "range"]
                    } else {
                        &["range"]
                    }),
                    client_id: format!("c{i}"),
                    // Just above the session timeout: rebalances time out often.
                    rebalance_timeout_ms: 12_000,
                    ..join_req(GROUP, &self.clients[i].member_id)
                };
                match self.d.join(req) {
                    JoinOutcome::Done(r) => self.on_join(i, r),
                    JoinOutcome::Pending { member_id } => {
                        self.clients[i].member_id = member_id;
                        self.clients[i].waiting_join = true;
                    }
                }
            }
            Op::Sync { client: i } => {
                let c = &self.clients[i];
                if busy(c) || c.member_id.is_empty() || c.generation < 0 {
                    return;
                }
                let mut req = self.d.sync_req(GROUP, c.generation, &c.member_id);
                req.group_instance_id = instance(i);
                for m in c.to_assign.iter().flatten() {
                    req.assignments
                        .push((m.clone(), Bytes::from(format!("{m}@{}", c.generation))));
                }
                match self.d.sync_with(req) {
                    SyncOutcome::Done(r) => self.on_sync(i, r),
                    SyncOutcome::Pending => self.clients[i].waiting_sync = true,
                }
            }
            Op::Heartbeat { client: i } => {
                let c = &self.clients[i];
                if busy(c) || c.member_id.is_empty() {
                    return;
                }
                let (gen, id) = (c.generation, c.member_id.clone());
                match self.d.heartbeat_as(GROUP, gen, &id, instance(i).as_deref()) {
                    ErrorCode::UNKNOWN_MEMBER_ID | ErrorCode::FENCED_INSTANCE_ID => self.reset(i),
                    ErrorCode::REBALANCE_IN_PROGRESS | ErrorCode::ILLEGAL_GENERATION => {
                        self.clients[i].generation = -1;
                    }
                    e => assert_eq!(e, ErrorCode::NONE),
                }
            }
            Op::Leave { client: i } => {
                let c = &self.clients[i];
                if busy(c) || (c.member_id.is_empty() && instance(i).is_none()) {
                    return;
                }
                let (id, inst) = (c.member_id.clone(), instance(i));
                let result = self.d.leave(GROUP, &[(id.as_str(), inst.as_deref())]);
                assert!(result.is_ok(), "{result:?}");
                self.reset(i);
            }
            Op::Restart { client: i } => {
                let c = &self.clients[i];
                if c.waiting_join {
                    self.orphans.insert((true, c.member_id.clone()));
                }
                if c.waiting_sync {
                    self.orphans.insert((false, c.member_id.clone()));
                }
                self.reset(i);
            }
            Op::Advance { ms } => self.d.advance(ms),
        }
        self.deliver();
        self.check();
    }

    /// Hands every reply to the client (or orphaned request) that waits for it.
    fn deliver(&mut self) {
        for (member, mut replies) in std::mem::take(&mut self.d.joins) {
            assert_eq!(
                replies.len(),
                1,
                "JoinGroup replies to {member}: {replies:?}"
            );
            let r = replies.remove(0);
            match self
                .clients
                .iter()
                .position(|c| c.waiting_join && c.member_id == member)
            {
                Some(i) => {
                    self.clients[i].waiting_join = false;
                    self.on_join(i, r);
                }
                None => assert!(
                    self.orphans.remove(&(true, member.clone())),
                    "unrequested {r:?}"
                ),
            }
        }
        for (member, mut replies) in std::mem::take(&mut self.d.syncs) {
            assert_eq!(
                replies.len(),
                1,
                "SyncGroup replies to {member}: {replies:?}"
            );
            let r = replies.remove(0);
            match self
                .clients
                .iter()
                .position(|c| c.waiting_sync && c.member_id == member)
            {
                Some(i) => {
                    self.clients[i].waiting_sync = false;
                    self.on_sync(i, r);
                }
                None => assert!(
                    self.orphans.remove(&(false, member.clone())),
                    "unrequested {r:?}"
                ),
            }
        }
    }
}

fn run(ops: &[Op]) {
    run_with(config(DELAY_MS), ops);
}

fn run_with(config: GroupConfig, ops: &[Op]) {
    let mut sim = Sim {
        d: Driver::new(config),
        clients: vec![
            Client {
                generation: -1,
                ..Client::default()
            };
            CLIENTS
        ],
        orphans: HashSet::new(),
        generation: 0,
    };
    for op in ops {
        sim.step(op);
    }
    sim.check_replay();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_operations_keep_the_invariants(ops in prop::collection::vec(op(), 1..150)) {
        run(&ops);
    }

    /// With `group.max.size` below the number of clients, joins are turned away and members
    /// that rejoin last are dropped.
    #[test]
    fn random_operations_under_a_small_max_size(
        ops in prop::collection::vec(op(), 1..150),
        size_max in 1usize..4,
    ) {
        run_with(GroupConfig { group_size_max: size_max, ..config(DELAY_MS) }, &ops);
    }
}

/// A fixed sequence that goes through every kind of step, so a failure reproduces simply.
#[test]
fn a_scripted_sequence_keeps_the_invariants() {
    let mut ops = Vec::new();
    for round in 0..40usize {
        let client = round % CLIENTS;
        ops.push(Op::Join {
            client,
            v9: round % 2 == 0,
            alt: round % 7 == 0,
        });
        ops.push(Op::Advance {
            ms: [0, 3_000, 500, 6_000][round % 4],
        });
        ops.push(Op::Sync {
            client: (round * 3) % CLIENTS,
        });
        ops.push(Op::Heartbeat {
            client: (round + 1) % CLIENTS,
        });
        if round % 9 == 4 {
            ops.push(Op::Restart {
                client: 3 + round % 2,
            });
        }
        if round % 11 == 5 {
            ops.push(Op::Leave {
                client: round % CLIENTS,
            });
        }
        if round % 13 == 6 {
            ops.push(Op::Advance { ms: 31_000 });
        }
    }
    run(&ops);
}

/// Found by the property test: a member that changed its protocols kept, after a rebuild from the
/// log, the subscription of an earlier record (replay updated only the assignment of a member it
/// already knew).
#[test]
fn replay_takes_a_known_members_new_subscription() {
    run(&[
        Op::Join {
            client: 3,
            v9: false,
            alt: false,
        },
        Op::Advance { ms: 3_000 },
        Op::Join {
            client: 4,
            v9: false,
            alt: false,
        },
        Op::Leave { client: 3 },
        Op::Sync { client: 4 },
        Op::Join {
            client: 4,
            v9: false,
            alt: true,
        },
        Op::Sync { client: 4 },
    ]);
}
