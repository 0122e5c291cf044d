//! The invariants the random sequences of `shard_random_tests` check after every step, and the
//! rebuild of the group from the log at the end.

use std::collections::HashSet;

use super::super::super::classic::Group;
use super::super::super::{GroupShard, GroupState};
use super::super::{config, DELAY_MS};
use super::{Sim, GROUP};

impl Sim {
    pub(super) fn check(&mut self) {
        let Some(g) = self.d.shard.groups.get(GROUP) else {
            return;
        };
        assert!(g.generation_id >= self.generation, "generation went back");
        self.generation = g.generation_id;
        assert_eq!(g.leader.is_some(), !g.members.is_empty(), "{g:?}");
        if let Some(l) = &g.leader {
            assert!(g.members.contains_key(l), "leader {l} is not a member");
        }
        let awaiting = |f: fn(&Group, &str) -> bool| -> HashSet<String> {
            g.members.keys().filter(|id| f(g, id)).cloned().collect()
        };
        let awaiting_join = awaiting(|g, id| g.members[id].awaiting_join);
        let awaiting_sync = awaiting(|g, id| g.members[id].awaiting_sync);
        // The pending-sync timer runs exactly while some member of the generation has not sent
        // SyncGroup; those are members that wait on nothing.
        assert_eq!(
            g.sync_deadline_ms.is_some(),
            !g.pending_sync.is_empty(),
            "{g:?}"
        );
        for id in &g.pending_sync {
            let m = &g.members[id];
            assert!(!m.awaiting_join && !m.awaiting_sync, "{id}: {g:?}");
        }
        match g.state {
            GroupState::Empty => {
                assert!(g.members.is_empty() && g.join_timer.is_none());
                assert!(g.pending_sync.is_empty());
            }
            GroupState::PreparingRebalance => {
                assert!(g.join_timer.is_some() && g.pending_sync.is_empty());
                assert!(awaiting_sync.is_empty());
            }
            GroupState::CompletingRebalance => {
                assert!(g.join_timer.is_none() && awaiting_join.is_empty());
                // Each member has either sent SyncGroup (and waits) or not yet; the leader has
                // not (its SyncGroup makes the group Stable).
                let pending: HashSet<String> = g.pending_sync.iter().cloned().collect();
                assert!(pending.is_disjoint(&awaiting_sync), "{g:?}");
                assert_eq!(pending.len() + awaiting_sync.len(), g.members.len());
                assert!(pending.contains(g.leader.as_ref().expect("a leader")));
            }
            GroupState::Stable => {
                assert!(g.join_timer.is_none());
                assert!(
                    awaiting_join.is_empty() && awaiting_sync.is_empty(),
                    "{g:?}"
                );
            }
            GroupState::Dead => panic!("dead group"),
        }
        for (instance, id) in &g.static_members {
            assert_eq!(g.members[id].group_instance_id.as_ref(), Some(instance));
        }
        for (id, m) in &g.members {
            if let Some(instance) = &m.group_instance_id {
                assert_eq!(g.static_members.get(instance), Some(id));
            }
            // Every member that does not wait on a request is on a session clock.
            let waits = m.awaiting_join || m.awaiting_sync;
            assert_eq!(
                m.heartbeat_deadline_ms.is_none(),
                waits,
                "member {id}: {m:?}"
            );
        }
        // Exactly the requests that wait in the state machine are unanswered.
        let waiting = |join: bool| -> HashSet<String> {
            let clients =
                self.clients
                    .iter()
                    .filter(|c| if join { c.waiting_join } else { c.waiting_sync });
            let orphans = self
                .orphans
                .iter()
                .filter(|(j, _)| *j == join)
                .map(|(_, id)| id.clone());
            clients
                .map(|c| c.member_id.clone())
                .chain(orphans)
                .collect()
        };
        assert_eq!(waiting(true), awaiting_join, "JoinGroups waiting");
        assert_eq!(waiting(false), awaiting_sync, "SyncGroups waiting");
    }

    /// The log rebuilds the group as it was last stored.
    pub(super) fn check_replay(&self) {
        let mut rebuilt = GroupShard::new(config(DELAY_MS), "r".into());
        for r in &self.d.log {
            rebuilt.replay(r, self.d.now);
        }
        let Some(live) = self.d.shard.groups.get(GROUP) else {
            return;
        };
        match (live.state, rebuilt.groups.get(GROUP)) {
            (GroupState::Stable, Some(r)) => {
                assert_eq!(self.d.shard.describe(GROUP), rebuilt.describe(GROUP));
                assert_eq!(
                    (live.generation_id, &live.leader),
                    (r.generation_id, &r.leader)
                );
                assert_eq!(live.static_members, r.static_members);
            }
            (GroupState::Empty, Some(r)) => {
                assert_eq!(
                    (r.state, r.generation_id),
                    (GroupState::Empty, live.generation_id)
                );
            }
            (GroupState::Empty, None) => assert_eq!(live.generation_id, 0),
            (GroupState::Stable, None) => panic!("a Stable group without a record"),
            _ => {}
        }
    }
}
