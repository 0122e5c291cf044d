//! SyncGroup, Heartbeat and LeaveGroup of the classic rebalance protocol, following Kafka's
//! GroupCoordinator.

use std::collections::HashMap;

use kavka_protocol::ErrorCode;

use super::api::{HeartbeatRequest, LeavingMember, SyncRequest, SyncResponse};
use super::classic::{Group, GroupState};
use super::shard::{Effects, GroupShard, Reply};

/// What a SyncGroup gets at once.
#[derive(Debug)]
pub enum SyncOutcome {
    /// The answer.
    Done(SyncResponse),
    /// The member waits for the leader's assignment; it comes as a [`Reply::Sync`].
    Pending,
}

impl GroupShard {
    /// SyncGroup.
    pub fn sync(&mut self, now_ms: i64, req: SyncRequest) -> (SyncOutcome, Effects) {
        let mut effects = Effects::default();
        let done = |e| {
            (
                SyncOutcome::Done(SyncResponse::error(e)),
                Effects::default(),
            )
        };
        if req.group_id.is_empty() {
            return done(ErrorCode::INVALID_GROUP_ID);
        }
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return done(ErrorCode::UNKNOWN_MEMBER_ID);
        };
        if group.is(GroupState::Dead) {
            return done(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        if group.is_static_member_fenced(&req.member_id, req.group_instance_id.as_deref()) {
            return done(ErrorCode::FENCED_INSTANCE_ID);
        }
        if !group.members.contains_key(&req.member_id) {
            return done(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        if req.generation_id != group.generation_id {
            return done(ErrorCode::ILLEGAL_GENERATION);
        }
        if req
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != group.protocol_type.as_ref())
            || req
                .protocol_name
                .as_ref()
                .is_some_and(|n| Some(n) != group.protocol_name.as_ref())
        {
            return done(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        }
        match group.state {
            GroupState::Empty => done(ErrorCode::UNKNOWN_MEMBER_ID),
            GroupState::PreparingRebalance => done(ErrorCode::REBALANCE_IN_PROGRESS),
            GroupState::Dead => done(ErrorCode::COORDINATOR_NOT_AVAILABLE),
            GroupState::Stable => {
                group.mark_synced(&req.member_id);
                let m = group.members.get_mut(&req.member_id).expect("member");
                m.heartbeat_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
                (
                    SyncOutcome::Done(sync_response(group, &req.member_id)),
                    effects,
                )
            }
            GroupState::CompletingRebalance => {
                group.mark_synced(&req.member_id);
                let m = group.members.get_mut(&req.member_id).expect("member");
                // Waiting for the assignment counts as alive (Kafka: isAwaitingSync satisfies the
                // heartbeat); the session runs again once the SyncGroup is answered.
                m.awaiting_sync = true;
                m.heartbeat_deadline_ms = None;
                if group.leader.as_deref() == Some(req.member_id.as_str()) {
                    let mut assignments: HashMap<String, bytes::Bytes> = HashMap::new();
                    for (id, a) in req.assignments {
                        if group.members.contains_key(&id) {
                            assignments.insert(id, a);
                        }
                    }
                    // The record makes the group Stable with these assignments when replayed;
                    // the waiting members are answered after that.
                    effects.records.push(GroupShard::group_record(
                        &req.group_id,
                        group,
                        &assignments,
                        now_ms,
                    ));
                    for (id, m) in group.members.iter_mut() {
                        if std::mem::take(&mut m.awaiting_sync) {
                            m.heartbeat_deadline_ms =
                                Some(now_ms + i64::from(m.session_timeout_ms));
                            effects.replies.push(Reply::Sync {
                                group_id: req.group_id.clone(),
                                member_id: id.clone(),
                                response: SyncResponse {
                                    error: ErrorCode::NONE,
                                    protocol_type: group.protocol_type.clone(),
                                    protocol_name: group.protocol_name.clone(),
                                    assignment: assignments.get(id).cloned().unwrap_or_default(),
                                },
                            });
                        }
                    }
                }
                (SyncOutcome::Pending, effects)
            }
        }
    }

    /// Heartbeat.
    pub fn heartbeat(&mut self, now_ms: i64, req: &HeartbeatRequest) -> ErrorCode {
        if req.group_id.is_empty() {
            return ErrorCode::INVALID_GROUP_ID;
        }
        let Some(group) = self.groups.get_mut(&req.group_id) else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        if group.is(GroupState::Dead) {
            return ErrorCode::COORDINATOR_NOT_AVAILABLE;
        }
        if group.is_static_member_fenced(&req.member_id, req.group_instance_id.as_deref()) {
            return ErrorCode::FENCED_INSTANCE_ID;
        }
        let state = group.state;
        let generation_id = group.generation_id;
        let Some(m) = group.members.get_mut(&req.member_id) else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        if state == GroupState::Empty {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        }
        if req.generation_id != generation_id {
            return ErrorCode::ILLEGAL_GENERATION;
        }
        if m.heartbeat_deadline_ms.is_some() {
            m.heartbeat_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
        }
        match state {
            GroupState::PreparingRebalance => ErrorCode::REBALANCE_IN_PROGRESS,
            _ => ErrorCode::NONE,
        }
    }

    /// LeaveGroup: the error of each member, or of the whole request.
    pub fn leave(
        &mut self,
        now_ms: i64,
        group_id: &str,
        leaving: &[LeavingMember],
    ) -> (Result<Vec<ErrorCode>, ErrorCode>, Effects) {
        let mut effects = Effects::default();
        if group_id.is_empty() {
            return (Err(ErrorCode::INVALID_GROUP_ID), effects);
        }
        let Some(group) = self.groups.get(group_id) else {
            return (
                Ok(vec![ErrorCode::UNKNOWN_MEMBER_ID; leaving.len()]),
                effects,
            );
        };
        if group.is(GroupState::Dead) {
            return (Err(ErrorCode::COORDINATOR_NOT_AVAILABLE), effects);
        }
        let mut errors = Vec::with_capacity(leaving.len());
        for l in leaving {
            let group = self.groups.get_mut(group_id).expect("group exists");
            let member_id = match &l.group_instance_id {
                Some(instance) => match group.static_members.get(instance) {
                    Some(id) if l.member_id.is_empty() || *id == l.member_id => id.clone(),
                    Some(_) => {
                        errors.push(ErrorCode::FENCED_INSTANCE_ID);
                        continue;
                    }
                    None => {
                        errors.push(ErrorCode::UNKNOWN_MEMBER_ID);
                        continue;
                    }
                },
                None => l.member_id.clone(),
            };
            if group.pending_members.remove(&member_id).is_some() {
                errors.push(ErrorCode::NONE);
                self.try_complete_join(group_id, now_ms, &mut effects);
                continue;
            }
            if !self.groups[group_id].members.contains_key(&member_id) {
                errors.push(ErrorCode::UNKNOWN_MEMBER_ID);
                continue;
            }
            self.remove_member_and_update(group_id, &member_id, now_ms, &mut effects);
            errors.push(ErrorCode::NONE);
        }
        (Ok(errors), effects)
    }
}

/// The SyncGroup answer of a member of a Stable group.
fn sync_response(group: &Group, member_id: &str) -> SyncResponse {
    SyncResponse {
        error: ErrorCode::NONE,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        assignment: group.members[member_id].assignment.clone(),
    }
}
