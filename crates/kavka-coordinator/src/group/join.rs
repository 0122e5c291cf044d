//! JoinGroup of the classic rebalance protocol, following Kafka's GroupCoordinator: unknown,
//! known and static members joining, and the rebalance a join starts.

use std::collections::HashMap;

use kavka_protocol::ErrorCode;

use super::api::{JoinRequest, JoinResponse, SyncResponse};
use super::classic::{Group, GroupState, Member};
use super::rebalance::join_response;
use super::records::{self, fits_record};
use super::shard::{Effects, GroupShard, Reply};

/// Longest client id or group instance id a member id is built from (leaving room for the
/// suffix within a record string).
const MEMBER_ID_BASE_BYTES_MAX: usize = records::MAX_STRING_BYTES - 64;

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
        let done_unknown = |e| {
            (
                JoinOutcome::Done(JoinResponse::error(e, "")),
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
        if !group.accepts_joining(&req.member_id, self.config.group_size_max) {
            // As Kafka, the id is forgotten: a member that had not rejoined leaves the group
            // (without a rebalance of its own), a member id handed out is no longer pending.
            group.pending_members.remove(&req.member_id);
            group.remove_member(&req.member_id);
            return done_unknown(ErrorCode::GROUP_MAX_SIZE_REACHED);
        }
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
        let group = self
            .groups
            .get_mut(&req.group_id)
            .expect("group just looked up");
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
        // A SyncGroup still awaited of the old id is awaited of the new one, by the same deadline.
        let pending_sync = group
            .pending_sync
            .contains(&old_id)
            .then_some(group.sync_deadline_ms);
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
        if let Some(deadline) = pending_sync {
            group.pending_sync.insert(new_id.clone());
            group.sync_deadline_ms = deadline;
        }
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
}
