//! The rebalance of the classic protocol, following Kafka's GroupCoordinator: starting it,
//! completing its join phase, removing members that left or expired, and the deadlines that
//! drive it.

use std::collections::HashMap;

use kavka_protocol::ErrorCode;

use super::api::{JoinMember, JoinResponse, SyncResponse};
use super::classic::{Group, GroupState, JoinTimer};
use super::shard::{Effects, GroupShard, Reply};

impl GroupShard {
    pub(super) fn maybe_prepare_rebalance(
        &mut self,
        group_id: &str,
        now_ms: i64,
        effects: &mut Effects,
    ) {
        let state = self.groups[group_id].state;
        if matches!(
            state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(group_id, now_ms, effects);
        }
    }

    /// Starts a rebalance: followers waiting for an assignment are told to rejoin.
    pub(super) fn prepare_rebalance(&mut self, group_id: &str, now_ms: i64, effects: &mut Effects) {
        let initial_delay_ms = self.config.initial_rebalance_delay_ms;
        let group = self.groups.get_mut(group_id).expect("group exists");
        if group.is(GroupState::CompletingRebalance) {
            for (id, m) in group.members.iter_mut() {
                m.assignment = bytes::Bytes::new();
                if std::mem::take(&mut m.awaiting_sync) {
                    if !m.awaiting_join {
                        m.heartbeat_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
                    }
                    effects.replies.push(Reply::Sync {
                        group_id: group_id.to_string(),
                        member_id: id.clone(),
                        response: SyncResponse::error(ErrorCode::REBALANCE_IN_PROGRESS),
                    });
                }
            }
        }
        // A rebalance cancels the SyncGroups awaited (Kafka's removeSyncExpiration).
        group.clear_pending_sync();
        let rebalance_timeout_ms = group.rebalance_timeout_ms();
        group.join_timer = Some(if group.is(GroupState::Empty) {
            JoinTimer::Initial {
                deadline_ms: now_ms + initial_delay_ms,
                remaining_ms: (rebalance_timeout_ms - initial_delay_ms).max(0),
            }
        } else {
            JoinTimer::Regular {
                deadline_ms: now_ms + rebalance_timeout_ms,
            }
        });
        group.new_member_added = false;
        group.transition(GroupState::PreparingRebalance, now_ms);
    }

    /// Completes the join phase once every member has rejoined (not during an initial delay).
    pub(super) fn try_complete_join(&mut self, group_id: &str, now_ms: i64, effects: &mut Effects) {
        let group = &self.groups[group_id];
        let ready = group.is(GroupState::PreparingRebalance)
            && match group.join_timer {
                Some(JoinTimer::Regular { .. }) => group.all_members_joined(),
                Some(JoinTimer::Initial { deadline_ms, .. }) => deadline_ms <= now_ms,
                None => false,
            };
        if ready {
            self.complete_join(group_id, now_ms, effects);
        }
    }

    /// Ends the join phase: dynamic members that did not rejoin are removed (static ones stay
    /// until their session ends, as in Kafka), the next generation starts, and every waiting
    /// JoinGroup is answered (the leader, one of those that rejoined, with the member list).
    fn complete_join(&mut self, group_id: &str, now_ms: i64, effects: &mut Effects) {
        let group = self.groups.get_mut(group_id).expect("group exists");
        let gone: Vec<String> = group
            .members
            .iter()
            .filter(|(_, m)| !m.awaiting_join && m.group_instance_id.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            group.remove_member(&id);
        }
        if !group.members.is_empty() && !group.members.values().any(|m| m.awaiting_join) {
            // Only static members that have not rejoined are left: wait another rebalance
            // timeout (their sessions end meanwhile if they are gone), as Kafka does.
            group.join_timer = Some(JoinTimer::Regular {
                deadline_ms: now_ms + group.rebalance_timeout_ms(),
            });
            return;
        }
        group.pending_members.clear();
        group.join_timer = None;
        group.generation_id += 1;
        if group.members.is_empty() {
            group.protocol_name = None;
            group.leader = None;
            group.transition(GroupState::Empty, now_ms);
            effects.records.push(GroupShard::group_record(
                group_id,
                group,
                &HashMap::new(),
                now_ms,
            ));
            return;
        }
        group.protocol_name = group.select_protocol();
        let leader_rejoined = group
            .leader
            .as_ref()
            .and_then(|l| group.members.get(l))
            .is_some_and(|m| m.awaiting_join);
        if !leader_rejoined {
            group.leader = group
                .members
                .iter()
                .find(|(_, m)| m.awaiting_join)
                .map(|(id, _)| id.clone());
        }
        group.transition(GroupState::CompletingRebalance, now_ms);
        // Every member must send SyncGroup within the rebalance timeout, also once the leader's
        // has made the group Stable (Kafka's schedulePendingSync).
        group.pending_sync = group.members.keys().cloned().collect();
        group.sync_deadline_ms = Some(now_ms + group.rebalance_timeout_ms());
        let ids: Vec<String> = group.members.keys().cloned().collect();
        for id in ids {
            let response = join_response(group, &id, false);
            let m = group.members.get_mut(&id).expect("member");
            let waiting = std::mem::take(&mut m.awaiting_join);
            m.heartbeat_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
            if waiting {
                effects.replies.push(Reply::Join {
                    group_id: group_id.to_string(),
                    member_id: id,
                    response,
                });
            }
        }
    }

    /// Removes a member (left or expired) and rebalances the others.
    pub(super) fn remove_member_and_update(
        &mut self,
        group_id: &str,
        member_id: &str,
        now_ms: i64,
        effects: &mut Effects,
    ) {
        let group = self.groups.get_mut(group_id).expect("group exists");
        let Some(member) = group.remove_member(member_id) else {
            return;
        };
        if member.awaiting_join {
            effects.replies.push(Reply::Join {
                group_id: group_id.to_string(),
                member_id: member_id.to_string(),
                response: JoinResponse::error(ErrorCode::UNKNOWN_MEMBER_ID, member_id),
            });
        }
        if member.awaiting_sync {
            effects.replies.push(Reply::Sync {
                group_id: group_id.to_string(),
                member_id: member_id.to_string(),
                response: SyncResponse::error(ErrorCode::UNKNOWN_MEMBER_ID),
            });
        }
        match group.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(group_id, now_ms, effects);
                self.try_complete_join(group_id, now_ms, effects);
            }
            GroupState::PreparingRebalance => self.try_complete_join(group_id, now_ms, effects),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Runs the deadlines of one group that have passed.
    pub(crate) fn expire(&mut self, group_id: &str, now_ms: i64) -> Effects {
        let mut effects = Effects::default();
        let group = self.groups.get_mut(group_id).expect("group exists");
        group
            .pending_members
            .retain(|_, deadline| *deadline > now_ms);
        let expired: Vec<String> = group
            .members
            .iter()
            .filter(|(_, m)| m.heartbeat_deadline_ms.is_some_and(|d| d <= now_ms))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove_member_and_update(group_id, &id, now_ms, &mut effects);
        }
        let group = self.groups.get_mut(group_id).expect("group exists");
        if matches!(
            group.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) && group.sync_deadline_ms.is_some_and(|d| d <= now_ms)
        {
            // Members that never sent SyncGroup for this generation are removed (they wait on
            // no request) and the others rejoin (Kafka's expirePendingSync).
            for id in std::mem::take(&mut group.pending_sync) {
                group.remove_member(&id);
            }
            self.prepare_rebalance(group_id, now_ms, &mut effects);
            self.try_complete_join(group_id, now_ms, &mut effects);
        }
        let group = self.groups.get_mut(group_id).expect("group exists");
        match group.join_timer {
            Some(JoinTimer::Initial {
                deadline_ms,
                remaining_ms,
            }) if deadline_ms <= now_ms => {
                if group.new_member_added && remaining_ms > 0 {
                    let delay_ms = self.config.initial_rebalance_delay_ms.min(remaining_ms);
                    group.new_member_added = false;
                    group.join_timer = Some(JoinTimer::Initial {
                        deadline_ms: now_ms + delay_ms,
                        remaining_ms: remaining_ms - delay_ms,
                    });
                } else {
                    self.complete_join(group_id, now_ms, &mut effects);
                }
            }
            Some(JoinTimer::Regular { deadline_ms }) if deadline_ms <= now_ms => {
                self.complete_join(group_id, now_ms, &mut effects);
            }
            _ => self.try_complete_join(group_id, now_ms, &mut effects),
        }
        effects
    }
}

/// The JoinGroup answer of `member_id` for the current generation; the leader gets the members
/// (unless `skip` says it keeps the assignment, when it gets them too, to watch metadata).
pub(super) fn join_response(group: &Group, member_id: &str, _skip: bool) -> JoinResponse {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let is_leader = group.leader.as_deref() == Some(member_id);
    JoinResponse {
        error: ErrorCode::NONE,
        generation_id: group.generation_id,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        leader: group.leader.clone().unwrap_or_default(),
        skip_assignment: false,
        member_id: member_id.to_string(),
        members: if is_leader {
            group
                .members
                .iter()
                .map(|(id, m)| JoinMember {
                    member_id: id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    metadata: m.metadata(&protocol),
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}
