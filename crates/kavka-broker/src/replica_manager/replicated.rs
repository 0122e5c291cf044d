//! A partition's replication, with its log: the leader's view of its followers and the high
//! watermark, the follower's append and truncation. The replication state's lock and the
//! log's lock are never held together; the high watermark is computed from a log end read
//! just before, and only ever moves forward on a leader, so a race only delays it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kavka_protocol::ErrorCode;
use kavka_storage::AppendInfo;

use super::{AppendWake, ImageState, Partition, PartitionError, ReplicaState, Role};

impl Partition {
    fn replication(&self) -> std::sync::MutexGuard<'_, ReplicaState> {
        self.replication
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The high watermark, `None` when it is the log end (one replica).
    pub(super) fn high_watermark(&self) -> Option<i64> {
        if self.solo.load(Ordering::Acquire) {
            return None;
        }
        Some(self.replication().high_watermark)
    }

    /// On the leader: its leader epoch starts at the log end (see
    /// `PartitionLog::start_leader_epoch`). Nothing on a follower.
    pub fn start_leader_epoch(&self) -> Result<(), PartitionError> {
        if self.role() != Role::Leader {
            return Ok(());
        }
        let epoch = self.leader_epoch();
        self.with_log(|log| log.start_leader_epoch(epoch))?;
        // The epochs a diverging fetch is answered with changed.
        self.fetches.touch();
        Ok(())
    }

    /// This node's role for the partition.
    pub fn role(&self) -> Role {
        self.replication().role.clone()
    }

    /// The ISR and partition epoch this node knows, and an ISR change it asked for.
    pub fn isr_state(&self) -> (Vec<i32>, i32, Option<Vec<i32>>) {
        let r = self.replication();
        (r.isr.clone(), r.partition_epoch, r.pending_isr.clone())
    }

    fn log_end_offset(&self) -> Result<i64, PartitionError> {
        self.with_log(|log| Ok(log.log_end_offset()))
    }

    /// After an append on the leader that ended the log at `log_end_offset` (or before: a
    /// later append moves the high watermark again): followers' fetches are woken, and the
    /// waiters of the high watermark if it moved (always with one replica, else when the ISR
    /// is this node alone). The log's lock is not taken again.
    pub(super) fn appended(&self, log_end_offset: i64) {
        let wake = self.appended_unwoken(log_end_offset);
        self.wake(wake);
    }

    /// [`Partition::appended`] without the wake-up, which it returns.
    pub(super) fn appended_unwoken(&self, log_end_offset: i64) -> AppendWake {
        if self.solo.load(Ordering::Acquire) {
            return AppendWake::All;
        }
        if self.replication().advance_high_watermark(log_end_offset) {
            AppendWake::All
        } else {
            AppendWake::Followers
        }
    }

    /// Wakes whom an append left to wake.
    pub fn wake(&self, wake: AppendWake) {
        match wake {
            AppendWake::Nothing => {}
            AppendWake::Followers => self.fetches.wake_appended(),
            AppendWake::All => self.fetches.wake(),
        }
    }

    /// Takes a new partition state from the metadata image (leader, replicas, ISR, epochs);
    /// whether this node's role changed.
    pub fn apply_image(&self, image: &ImageState) -> bool {
        let leo = self.log_end_offset().unwrap_or(0);
        let mut r = self.replication();
        let changed = r.apply_image(image, leo);
        r.advance_high_watermark(leo);
        self.solo.store(r.is_solo(), Ordering::Release);
        drop(r);
        self.fetches.wake();
        changed
    }

    /// On the leader: follower `id` (broker epoch `broker_epoch`) fetches from
    /// `fetch_offset`, which is its log end. Moves the high watermark when it can.
    pub fn record_follower_fetch(
        &self,
        id: i32,
        broker_epoch: i64,
        fetch_offset: i64,
        now: Instant,
    ) -> Result<(), PartitionError> {
        let leo = self.log_end_offset()?;
        let mut r = self.replication();
        if r.role != Role::Leader || !r.replicas.contains(&id) {
            return Err(PartitionError::NotReplica);
        }
        // The high watermark follows the followers' log ends: it can only move when one did.
        let moved = r.record_fetch(id, broker_epoch, fetch_offset, leo, now)
            && r.advance_high_watermark(leo);
        drop(r);
        if moved {
            self.fetches.wake_high_watermark();
        }
        Ok(())
    }

    /// On the leader: the ISR to ask the controller for, if it should change (see
    /// [`ReplicaState::wanted_isr`]), with the partition epoch it is asked against; it is
    /// then pending until the image shows a new partition epoch.
    pub fn propose_isr(&self, lag_max: Duration) -> Option<(Vec<(i32, i64)>, i32)> {
        let mut r = self.replication();
        let wanted = r.wanted_isr(Instant::now(), lag_max)?;
        r.pending_isr = Some(wanted.iter().map(|(id, _)| *id).collect());
        Some((wanted, r.partition_epoch))
    }

    /// Forgets an ISR change the controller refused (it is asked again at the next check).
    pub fn clear_pending_isr(&self) {
        let leo = self.log_end_offset().ok();
        let mut r = self.replication();
        r.pending_isr = None;
        // A member the refused change added may have held the high watermark back.
        let moved = leo.is_some_and(|leo| r.advance_high_watermark(leo));
        drop(r);
        if moved {
            self.fetches.wake_high_watermark();
        }
    }

    /// On a follower: appends batches as its leader stored them, then takes the leader's
    /// high watermark (bounded by this log's end).
    pub fn append_as_follower(
        &self,
        batches: &[u8],
        leader_high_watermark: i64,
        now_ms: i64,
    ) -> Result<Option<AppendInfo>, PartitionError> {
        let appended = if batches.is_empty() {
            None
        } else {
            Some(self.with_log(|log| log.append_as_follower(batches, now_ms))?)
        };
        let leo = self.log_end_offset()?;
        let mut r = self.replication();
        let mut moved = false;
        if matches!(r.role, Role::Follower { .. }) {
            let hw = leader_high_watermark.min(leo);
            moved = hw != r.high_watermark;
            r.high_watermark = hw;
        }
        drop(r);
        // Consumers reading from this follower (KIP-392) see what the leader committed.
        if moved {
            self.fetches.wake_high_watermark();
        }
        Ok(appended)
    }

    /// On a follower: removes everything from `offset` on (its log diverged from the
    /// leader's); the new log end.
    pub fn truncate_to(&self, offset: i64) -> Result<i64, PartitionError> {
        let end = self.with_log(|log| log.truncate_to(offset))?;
        let mut r = self.replication();
        r.high_watermark = r.high_watermark.min(end);
        drop(r);
        self.fetches.wake();
        Ok(end)
    }

    /// On a follower whose log ends below its leader's log start: drops its log and starts
    /// empty at `offset` (the leader's log start).
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), PartitionError> {
        self.with_log(|log| log.truncate_fully_and_start_at(offset))?;
        let mut r = self.replication();
        r.high_watermark = r.high_watermark.max(offset);
        drop(r);
        self.fetches.wake();
        Ok(())
    }

    /// Whether acks=all must wait for followers (more than one replica).
    pub fn is_replicated(&self) -> bool {
        !self.solo.load(Ordering::Acquire)
    }

    /// Members of the committed ISR (one on a partition of one replica).
    pub fn isr_size(&self) -> usize {
        if self.solo.load(Ordering::Acquire) {
            return 1;
        }
        self.replication().isr.len()
    }

    /// Where an acks=all append ending before `required` stands: `None` while the high
    /// watermark is below it; then NONE, or NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR
    /// shrank below `min_insync` meanwhile; NOT_LEADER_OR_FOLLOWER once this node stopped
    /// leading.
    pub fn acks_all_state(&self, required: i64, min_insync: i32) -> Option<ErrorCode> {
        let r = self.replication();
        if r.role != Role::Leader {
            return Some(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        if r.high_watermark < required && !self.solo.load(Ordering::Acquire) {
            return None;
        }
        if (r.isr.len() as i64) < i64::from(min_insync) {
            return Some(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND);
        }
        Some(ErrorCode::NONE)
    }

    /// On the leader: the replica a consumer in `client_rack` reading from `fetch_offset`
    /// should read from instead (KIP-392), if any; see
    /// [`ReplicaState::preferred_read_replica`].
    pub fn preferred_read_replica(
        &self,
        fetch_offset: i64,
        client_rack: &str,
        rack_of: impl Fn(i32) -> Option<String>,
    ) -> Option<i32> {
        self.replication()
            .preferred_read_replica(fetch_offset, client_rack, rack_of)
    }

    /// The follower's position: its log end, and the epoch of its last batch (-1: none).
    pub fn fetch_position(&self) -> Result<(i64, i32), PartitionError> {
        self.with_log(|log| {
            Ok((
                log.log_end_offset(),
                log.leader_epochs().latest_epoch().unwrap_or(-1),
            ))
        })
    }
}
