//! The classic rebalance protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup and the timers
//! that drive a rebalance, following Kafka's GroupCoordinator.

use std::collections::HashMap;

use kavka_protocol::ErrorCode;

use super::api::{
    HeartbeatRequest, JoinMember, JoinRequest, JoinResponse, LeavingMember, SyncRequest,
    SyncResponse,
};
use super::classic::{Group, GroupState, JoinTimer, Member};
use super::records;
use super::shard::{Effects, GroupShard, Reply};

/// Longest client id or group instance id a member id is built from (leaving room for the
/// suffix within a record string).
const MEMBER_ID_BASE_BYTES_MAX: usize = records::MAX_STRING_BYTES - 64;

/// Whether a string fits a `__consumer_offsets` record.
pub(crate) fn fits_record(s: &str) -> bool {
    s.len() <= records::MAX_STRING_BYTES
}

/// What a JoinGroup gets at once.
#[derive(Debug)]
pub enum JoinOutcome {
    /// The answer.
    Done(JoinResponse),
    /// The member (this id) waits for the rebalance; its answer comes as a [`Reply::Join`]
    /// (possibly in the effects of this very call).
    Pending {
        /// The member id the reply will be addressed to.
        member_id: String,
    },
}

/// What a SyncGroup gets at once.
#[derive(Debug)]
pub enum SyncOutcome {
    /// The answer.
    Done(SyncResponse),
    /// The member waits for the leader's assignment; it comes as a [`Reply::Sync`].
    Pending,
}

impl GroupShard {
    /// JoinGroup.
    pub fn join(&mut self, now_ms: i64, req: JoinRequest) -> (JoinOutcome, Effects) {
        let mut effects = Effects::default();
        let done = |e| {
            (
                JoinOutcome::Done(JoinResponse::error(e, &req.member_id)),
                Effects::default(),
            )
        };
        if req.group_id.is_empty() || !fits_record(&req.group_id) {
            return done(ErrorCode::INVALID_GROUP_ID);
        }
        // Every string the member sends ends up in a GroupMetadata record, whose strings are
        // int16-length-prefixed (the member id adds a suffix to the client or instance id).
        let strings_fit = [&req.client_id, &req.client_host, &req.protocol_type]
            .into_iter()
            .chain(req.group_instance_id.as_ref())
            .chain(req.protocols.iter().map(|(name, _)| name))
            .all(|s| fits_record(s) && s.len() <= MEMBER_ID_BASE_BYTES_MAX)
            && fits_record(&req.member_id);
        if !strings_fit {
            return done(ErrorCode::INVALID_REQUEST);
        }
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            return done(ErrorCode::INVALID_SESSION_TIMEOUT);
        }
        let unknown = req.member_id.is_empty();
        if !unknown && !self.groups.contains_key(&req.group_id) {
            return done(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        let group = self
            .groups
            .entry(req.group_id.clone())
            .or_insert_with(|| Group::new(now_ms));
        if group.is(GroupState::Dead) {
            return done(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        if !group.supports(&req.protocol_type, &req.protocols) {
            return done(ErrorCode::INCONSISTENT_GROUP_PROTOCOL);
        }
        let outcome = if unknown {
            self.join_unknown(now_ms, req, &mut effects)
        } else {
            self.join_known(now_ms, req, &mut effects)
        };
        (outcome, effects)
    }

    fn join_unknown(
        &mut self,
        now_ms: i64,
        req: JoinRequest,
        effects: &mut Effects,
    ) -> JoinOutcome {
        let base = req
            .group_instance_id
            .clone()
            .unwrap_or_else(|| req.client_id.clone());
        let new_id = self.new_member_id(&base);
        let size_max = self.config.group_size_max;
        let group = self
            .groups
            .get_mut(&req.group_id)
            .expect("group just looked up");
        if group.members.len() + group.pending_members.len() >= size_max
            && !req
                .group_instance_id
                .as_ref()
                .is_some_and(|i| group.static_members.contains_key(i))
        {
            return JoinOutcome::Done(JoinResponse::error(ErrorCode::GROUP_MAX_SIZE_REACHED, ""));
        }
        if let Some(instance) = &req.group_instance_id {
            if let Some(old_id) = group.static_members.get(instance).cloned() {
                return self.replace_static_member(now_ms, req, old_id, new_id, effects);
            }
        } else if req.require_known_member_id {
            let deadline = now_ms + i64::from(req.session_timeout_ms);
            group.pending_members.insert(new_id.clone(), deadline);
            return JoinOutcome::Done(JoinResponse::error(ErrorCode::MEMBER_ID_REQUIRED, &new_id));
        }
        self.add_member_and_rebalance(now_ms, &req, new_id.clone(), effects);
        JoinOutcome::Pending { member_id: new_id }
    }

    fn join_known(&mut self, now_ms: i64, req: JoinRequest, effects: &mut Effects) -> JoinOutcome {
        let group = self
            .groups
            .get_mut(&req.group_id)
            .expect("group just looked up");
        let member_id = req.member_id.clone();
        if group.is_static_member_fenced(&member_id, req.group_instance_id.as_deref()) {
            return JoinOutcome::Done(JoinResponse::error(
                ErrorCode::FENCED_INSTANCE_ID,
                &member_id,
            ));
        }
        if group.pending_members.remove(&member_id).is_some() {
            self.add_member_and_rebalance(now_ms, &req, member_id.clone(), effects);
            return JoinOutcome::Pending { member_id };
        }
        let Some(member) = group.members.get(&member_id) else {
            return JoinOutcome::Done(JoinResponse::error(
                ErrorCode::UNKNOWN_MEMBER_ID,
                &member_id,
            ));
        };
        let same = member.same_protocols(&req.protocols);
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        match group.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(now_ms, &req, effects);
                JoinOutcome::Pending { member_id }
            }
            GroupState::CompletingRebalance if same => {
                // The join response was lost: answer again with the current generation.
                JoinOutcome::Done(join_response(group, &member_id, false))
            }
            GroupState::Stable if same && !is_leader => {
                JoinOutcome::Done(join_response(group, &member_id, false))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(now_ms, &req, effects);
                JoinOutcome::Pending { member_id }
            }
            GroupState::Empty | GroupState::Dead => JoinOutcome::Done(JoinResponse::error(
                ErrorCode::UNKNOWN_MEMBER_ID,
                &member_id,
            )),
        }
    }

    /// A static member rejoining with no member id takes a new id; the old id is fenced.
    fn replace_static_member(
        &mut self,
        now_ms: i64,
        req: JoinRequest,
        old_id: String,
        new_id: String,
        effects: &mut Effects,
    ) -> JoinOutcome {
        let group_id = req.group_id.clone();
        let group = self.groups.get_mut(&group_id).expect("group exists");
        let was_leader = group.leader.as_deref() == Some(old_id.as_str());
        let mut member = group
            .remove_member(&old_id)
            .expect("static member is a member");
        if member.awaiting_join {
            effects.replies.push(Reply::Join {
                group_id: group_id.clone(),
                member_id: old_id.clone(),
                response: JoinResponse::error(ErrorCode::FENCED_INSTANCE_ID, &old_id),
            });
        }
        if member.awaiting_sync {
            effects.replies.push(Reply::Sync {
                group_id: group_id.clone(),
                member_id: old_id.clone(),
                response: SyncResponse::error(ErrorCode::FENCED_INSTANCE_ID),
            });
        }
        let old_protocols = std::mem::replace(&mut member.protocols, req.protocols.clone());
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.awaiting_sync = false;
        member.heartbeat_deadline_ms = Some(now_ms + i64::from(req.session_timeout_ms));
        group.add_member(new_id.clone(), member);
        if was_leader {
            group.leader = Some(new_id.clone());
        }
        match group.state {
            GroupState::Stable => {
                let protocol_kept = group.protocol_name.as_deref().is_some_and(|p| {
                    old_protocols.iter().any(|(n, _)| n == p)
                        && req.protocols.iter().any(|(n, _)| n == p)
                }) && group.select_protocol() == group.protocol_name;
                if protocol_kept {
                    // Same protocol: the member takes its place without a rebalance; the stored
                    // group names the new member id.
                    let assignments: HashMap<String, bytes::Bytes> = group
                        .members
                        .iter()
                        .map(|(id, m)| (id.clone(), m.assignment.clone()))
                        .collect();
                    effects.records.push(GroupShard::group_record(
                        &group_id,
                        group,
                        &assignments,
                        now_ms,
                    ));
                    let mut response = join_response(group, &new_id, was_leader);
                    if req.supports_skip_assignment {
                        response.skip_assignment = was_leader;
                    } else if was_leader {
                        // A leader that cannot be told to skip the assignment would assign
                        // again, which a Stable group does not propagate: as Kafka, it is given
                        // the old leader id (so it acts as a follower) and no members.
                        response.leader = old_id;
                        response.members.clear();
                    }
                    return JoinOutcome::Done(response);
                }
                let m = group.members.get_mut(&new_id).expect("just added");
                m.awaiting_join = true;
                m.heartbeat_deadline_ms = None;
                self.prepare_rebalance(&group_id, now_ms, effects);
            }
            GroupState::CompletingRebalance => {
                let m = group.members.get_mut(&new_id).expect("just added");
                m.awaiting_join = true;
                m.heartbeat_deadline_ms = None;
                self.prepare_rebalance(&group_id, now_ms, effects);
            }
            GroupState::PreparingRebalance => {
                let m = group.members.get_mut(&new_id).expect("just added");
                m.awaiting_join = true;
                m.heartbeat_deadline_ms = None;
                self.try_complete_join(&group_id, now_ms, effects);
            }
            GroupState::Empty | GroupState::Dead => {
                unreachable!("a group with a static member is not empty")
            }
        }
        JoinOutcome::Pending { member_id: new_id }
    }

    fn add_member_and_rebalance(
        &mut self,
        now_ms: i64,
        req: &JoinRequest,
        member_id: String,
        effects: &mut Effects,
    ) {
        let group = self.groups.get_mut(&req.group_id).expect("group exists");
        if group.members.is_empty() {
            group.protocol_type = Some(req.protocol_type.clone());
        }
        group.add_member(
            member_id,
            Member {
                group_instance_id: req.group_instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                session_timeout_ms: req.session_timeout_ms,
                rebalance_timeout_ms: req.rebalance_timeout_ms,
                protocols: req.protocols.clone(),
                assignment: bytes::Bytes::new(),
                awaiting_join: true,
                awaiting_sync: false,
                heartbeat_deadline_ms: None,
            },
        );
        if group.is(GroupState::PreparingRebalance) {
            group.new_member_added = true;
        }
        self.maybe_prepare_rebalance(&req.group_id, now_ms, effects);
        self.try_complete_join(&req.group_id, now_ms, effects);
    }

    fn update_member_and_rebalance(
        &mut self,
        now_ms: i64,
        req: &JoinRequest,
        effects: &mut Effects,
    ) {
        let group = self.groups.get_mut(&req.group_id).expect("group exists");
        let m = group
            .members
            .get_mut(&req.member_id)
            .expect("member exists");
        m.protocols = req.protocols.clone();
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.awaiting_join = true;
        m.heartbeat_deadline_ms = None;
        self.maybe_prepare_rebalance(&req.group_id, now_ms, effects);
        self.try_complete_join(&req.group_id, now_ms, effects);
    }

    fn maybe_prepare_rebalance(&mut self, group_id: &str, now_ms: i64, effects: &mut Effects) {
        let state = self.groups[group_id].state;
        if matches!(
            state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(group_id, now_ms, effects);
        }
    }

    /// Starts a rebalance: followers waiting for an assignment are told to rejoin.
    fn prepare_rebalance(&mut self, group_id: &str, now_ms: i64, effects: &mut Effects) {
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
        group.sync_deadline_ms = None;
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
    fn try_complete_join(&mut self, group_id: &str, now_ms: i64, effects: &mut Effects) {
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
                let m = group.members.get_mut(&req.member_id).expect("member");
                m.heartbeat_deadline_ms = Some(now_ms + i64::from(m.session_timeout_ms));
                (
                    SyncOutcome::Done(sync_response(group, &req.member_id)),
                    effects,
                )
            }
            GroupState::CompletingRebalance => {
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
                    group.sync_deadline_ms = None;
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

    /// Removes a member (left or expired) and rebalances the others.
    fn remove_member_and_update(
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
        if group.is(GroupState::CompletingRebalance)
            && group.sync_deadline_ms.is_some_and(|d| d <= now_ms)
        {
            // Members that never sent SyncGroup are removed; the others rejoin.
            let late: Vec<String> = group
                .members
                .iter()
                .filter(|(_, m)| !m.awaiting_sync)
                .map(|(id, _)| id.clone())
                .collect();
            for id in late {
                self.remove_member_and_update(group_id, &id, now_ms, &mut effects);
            }
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
fn join_response(group: &Group, member_id: &str, _skip: bool) -> JoinResponse {
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

/// The SyncGroup answer of a member of a Stable group.
fn sync_response(group: &Group, member_id: &str) -> SyncResponse {
    SyncResponse {
        error: ErrorCode::NONE,
        protocol_type: group.protocol_type.clone(),
        protocol_name: group.protocol_name.clone(),
        assignment: group.members[member_id].assignment.clone(),
    }
}
