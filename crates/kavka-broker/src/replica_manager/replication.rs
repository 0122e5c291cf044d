//! A partition's replication state: leader or follower, and the high watermark.
//!
//! - A leader knows the ISR and partition epoch from the metadata image, tracks each
//!   follower's log end offset from its fetches (and when it was last caught up, Kafka's
//!   `lastCaughtUpTime`), and moves the high watermark to the smallest log end offset of the
//!   ISR — of the maximal ISR while an expansion it asked for is not committed yet (KIP-497), so
//!   a replica entering the ISR holds every record below the high watermark.
//! - A follower takes the high watermark its leader sends, bounded by its own log end.
//! - A partition with one replica is its own ISR: its high watermark is its log end, read
//!   without taking this state's lock.
//!
//! The high watermark never goes back while a partition keeps its role; a consumer reads only
//! below it (and below the last stable offset for read_committed), and acks=all produce waits
//! until it passes the batch.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What this node is for a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// It leads: produce and consumer fetches come here.
    Leader,
    /// It copies `leader`'s log.
    Follower { leader: i32 },
    /// Nobody leads it (the image names no live leader).
    Leaderless,
}

/// A follower as its leader sees it.
#[derive(Debug, Clone, Copy)]
struct FollowerState {
    /// The offset its last fetch asked for: its log end offset.
    log_end_offset: i64,
    /// The broker epoch its fetches carry (-1: not told).
    broker_epoch: i64,
    /// When it last held everything the leader had (Kafka's `lastCaughtUpTime`).
    caught_up_at: Option<Instant>,
    /// When it last fetched, and the leader's log end offset then.
    last_fetch: Option<(Instant, i64)>,
}

/// The replication state of one partition.
#[derive(Debug)]
pub struct ReplicaState {
    /// This node's id.
    me: i32,
    /// This node's role.
    pub role: Role,
    /// The replicas, from the image.
    pub replicas: Vec<i32>,
    /// The ISR, from the image.
    pub isr: Vec<i32>,
    /// The partition epoch of that ISR.
    pub partition_epoch: i32,
    /// An ISR this leader asked the controller for and has not seen committed yet.
    pub pending_isr: Option<Vec<i32>>,
    /// Followers by id (on a leader).
    followers: HashMap<i32, FollowerState>,
    /// When this node took its current role.
    since: Instant,
    /// The high watermark.
    pub high_watermark: i64,
}

/// The image's view of a partition, as the replica state takes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageState {
    /// The leader (-1: none).
    pub leader: i32,
    /// Replica ids.
    pub replicas: Vec<i32>,
    /// The ISR.
    pub isr: Vec<i32>,
    /// Its partition epoch.
    pub partition_epoch: i32,
}

impl ImageState {
    /// The state of a partition in the metadata image.
    pub fn of(p: &kavka_metadata::PartitionImage) -> Self {
        ImageState {
            leader: p.leader,
            replicas: p.replicas.clone(),
            isr: p.isr.clone(),
            partition_epoch: p.partition_epoch,
        }
    }
}

impl ReplicaState {
    /// The state of a partition newly opened by node `me`, its log spanning
    /// `[log_start_offset, log_end_offset)`. A partition alone in its ISR starts with its whole
    /// log visible; others start at their checkpointed high watermark (within the log) or the
    /// log start, and learn the rest from their peers.
    pub fn new(
        me: i32,
        image: &ImageState,
        (log_start_offset, log_end_offset): (i64, i64),
        checkpointed: Option<i64>,
    ) -> Self {
        let start = checkpointed.map_or(log_start_offset, |hw| {
            hw.clamp(log_start_offset, log_end_offset.max(log_start_offset))
        });
        let mut state = ReplicaState {
            me,
            role: Role::Leaderless,
            replicas: Vec::new(),
            isr: Vec::new(),
            partition_epoch: -1,
            pending_isr: None,
            followers: HashMap::new(),
            since: Instant::now(),
            high_watermark: start,
        };
        state.apply_image(image, log_end_offset);
        if state.isr == [me] {
            state.high_watermark = log_end_offset;
        }
        state
    }

    /// Whether this partition has one replica: it is its own ISR and its high watermark is
    /// its log end.
    pub fn is_solo(&self) -> bool {
        self.replicas.len() <= 1 && self.role == Role::Leader
    }

    /// Takes a new partition state from the image; whether the role changed.
    pub fn apply_image(&mut self, image: &ImageState, log_end_offset: i64) -> bool {
        let role = match image.leader {
            l if l == self.me => Role::Leader,
            -1 => Role::Leaderless,
            l => Role::Follower { leader: l },
        };
        let changed = role != self.role;
        if changed {
            self.since = Instant::now();
            self.followers.clear();
            self.pending_isr = None;
        }
        self.role = role;
        self.replicas = image.replicas.clone();
        if image.partition_epoch != self.partition_epoch {
            // Committed (or replaced by another change): the request is settled either way.
            self.pending_isr = None;
        }
        self.isr = image.isr.clone();
        self.partition_epoch = image.partition_epoch;
        self.high_watermark = self.high_watermark.min(log_end_offset);
        changed
    }

    /// The ISR the high watermark follows: the committed one, with a pending expansion's
    /// members added.
    fn maximal_isr(&self) -> impl Iterator<Item = i32> + '_ {
        let added = self
            .pending_isr
            .iter()
            .flatten()
            .filter(|r| !self.isr.contains(r));
        self.isr.iter().chain(added).copied()
    }

    /// On a leader: moves the high watermark to the smallest log end offset of the maximal
    /// ISR, never back; whether it moved.
    pub fn advance_high_watermark(&mut self, log_end_offset: i64) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        let mut hw = log_end_offset;
        for r in self.maximal_isr() {
            if r == self.me {
                continue;
            }
            // A member not heard from since this node took the lead holds nothing back yet:
            // the high watermark waits for it.
            let leo = self
                .followers
                .get(&r)
                .map_or(self.high_watermark, |f| f.log_end_offset);
            hw = hw.min(leo);
        }
        if hw > self.high_watermark {
            self.high_watermark = hw;
            return true;
        }
        false
    }

    /// On a leader: a fetch from follower `id` asking for `fetch_offset`, when this log ends
    /// at `log_end_offset`; whether it moved what this node knows of the follower's log end
    /// (a follower heard from for the first time counts as moved).
    pub fn record_fetch(
        &mut self,
        id: i32,
        broker_epoch: i64,
        fetch_offset: i64,
        log_end_offset: i64,
        now: Instant,
    ) -> bool {
        // An ISR member counts as caught up when this node took the lead, as in Kafka.
        let caught_up_at = self.isr.contains(&id).then_some(self.since);
        let mut moved = false;
        let f = self.followers.entry(id).or_insert_with(|| {
            moved = true;
            FollowerState {
                log_end_offset: fetch_offset,
                broker_epoch,
                caught_up_at,
                last_fetch: None,
            }
        });
        moved |= f.log_end_offset != fetch_offset;
        f.log_end_offset = fetch_offset;
        f.broker_epoch = broker_epoch;
        if fetch_offset >= log_end_offset {
            f.caught_up_at = Some(now);
        } else if let Some((at, leo_then)) = f.last_fetch {
            if fetch_offset >= leo_then {
                f.caught_up_at = Some(f.caught_up_at.map_or(at, |c| c.max(at)));
            }
        }
        f.last_fetch = Some((now, log_end_offset));
        moved
    }

    /// On a leader with no change pending: the ISR it should ask for, when it differs from
    /// the committed one — members not caught up within `lag_max` out, replicas that hold
    /// the high watermark (and fetched within `lag_max`) in — each with the broker epoch its
    /// fetches carried.
    pub fn wanted_isr(&self, now: Instant, lag_max: Duration) -> Option<Vec<(i32, i64)>> {
        if self.role != Role::Leader || self.pending_isr.is_some() {
            return None;
        }
        let recent = |t: Option<Instant>| t.is_some_and(|t| now.duration_since(t) <= lag_max);
        let mut wanted = Vec::new();
        for &r in &self.replicas {
            if r == self.me {
                wanted.push((r, -1));
                continue;
            }
            let f = self.followers.get(&r);
            let in_isr = self.isr.contains(&r);
            let keep = match f {
                Some(f) if in_isr => recent(f.caught_up_at),
                Some(f) => recent(f.caught_up_at) && f.log_end_offset >= self.high_watermark,
                // Not heard from since this node took the lead: kept for one lag period.
                None => in_isr && now.duration_since(self.since) <= lag_max,
            };
            if keep {
                wanted.push((r, f.map_or(-1, |f| f.broker_epoch)));
            }
        }
        let ids: Vec<i32> = wanted.iter().map(|(r, _)| *r).collect();
        let same = ids.len() == self.isr.len() && ids.iter().all(|r| self.isr.contains(r));
        (!same).then_some(wanted)
    }
}

impl ReplicaState {
    /// On a leader, KIP-392's rack-aware choice for a consumer in `client_rack` reading from
    /// `fetch_offset` (Kafka's `RackAwareReplicaSelector`): `None` (this leader) when it is in
    /// that rack (`rack_of`) or no replica is; else the replica of that rack holding the offset
    /// with the highest log end, the most recently caught up among equals.
    pub fn preferred_read_replica(
        &self,
        fetch_offset: i64,
        client_rack: &str,
        rack_of: impl Fn(i32) -> Option<String>,
    ) -> Option<i32> {
        if self.role != Role::Leader || client_rack.is_empty() {
            return None;
        }
        let in_rack = |id: i32| rack_of(id).as_deref() == Some(client_rack);
        if in_rack(self.me) {
            return None;
        }
        self.followers
            .iter()
            .filter(|(id, f)| {
                self.replicas.contains(id) && f.log_end_offset >= fetch_offset && in_rack(**id)
            })
            .max_by_key(|(id, f)| (f.log_end_offset, f.caught_up_at, -**id))
            .map(|(id, _)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(leader: i32, isr: &[i32]) -> ImageState {
        ImageState {
            leader,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            partition_epoch: 1,
        }
    }

    #[test]
    fn the_high_watermark_is_the_slowest_isr_member() {
        let mut s = ReplicaState::new(1, &image(1, &[1, 2, 3]), (0, 10), None);
        assert_eq!(s.high_watermark, 0);
        let now = Instant::now();
        s.record_fetch(2, 5, 10, 10, now);
        assert!(!s.advance_high_watermark(10), "3 not heard from yet");
        s.record_fetch(3, 5, 4, 10, now);
        assert!(s.advance_high_watermark(10));
        assert_eq!(s.high_watermark, 4);
        s.record_fetch(3, 5, 10, 10, now);
        s.advance_high_watermark(10);
        assert_eq!(s.high_watermark, 10);
        // A follower going back (it truncated) does not move the high watermark back.
        s.record_fetch(3, 5, 8, 12, now);
        s.advance_high_watermark(12);
        assert_eq!(s.high_watermark, 10);
    }

    #[test]
    fn lagging_members_leave_and_caught_up_replicas_join() {
        let lag = Duration::from_millis(100);
        let mut s = ReplicaState::new(1, &image(1, &[1, 2, 3]), (0, 10), None);
        let t0 = Instant::now();
        s.record_fetch(2, 7, 10, 10, t0);
        s.record_fetch(3, 8, 2, 10, t0);
        assert_eq!(s.wanted_isr(t0, lag), None);
        let later = t0 + Duration::from_millis(150);
        s.record_fetch(2, 7, 10, 10, later);
        assert_eq!(s.wanted_isr(later, lag), Some(vec![(1, -1), (2, 7)]));
        // Committed; then 3 catches up and is asked back in.
        s.apply_image(
            &ImageState {
                partition_epoch: 2,
                ..image(1, &[1, 2])
            },
            10,
        );
        s.advance_high_watermark(10);
        s.record_fetch(3, 8, 10, 10, later);
        assert_eq!(
            s.wanted_isr(later, lag),
            Some(vec![(1, -1), (2, 7), (3, 8)])
        );
    }

    #[test]
    fn a_reopened_replica_starts_at_its_checkpointed_high_watermark() {
        let s = ReplicaState::new(1, &image(1, &[1, 2, 3]), (0, 10), Some(7));
        assert_eq!(s.high_watermark, 7);
        let s = ReplicaState::new(2, &image(1, &[1, 2, 3]), (0, 10), Some(12));
        assert_eq!(s.high_watermark, 10, "never past the log end");
        let s = ReplicaState::new(2, &image(1, &[1, 2, 3]), (5, 10), Some(3));
        assert_eq!(s.high_watermark, 5, "never below the log start");
    }

    #[test]
    fn a_consumer_is_sent_to_an_up_to_date_replica_of_its_rack() {
        let mut s = ReplicaState::new(1, &image(1, &[1, 2, 3]), (0, 10), None);
        let now = Instant::now();
        s.record_fetch(2, 1, 10, 10, now);
        s.record_fetch(3, 1, 6, 10, now);
        let rack = |id: i32| Some(format!("r{id}"));
        assert_eq!(s.preferred_read_replica(8, "r2", rack), Some(2));
        assert_eq!(
            s.preferred_read_replica(8, "r3", rack),
            None,
            "3 lacks offset 8"
        );
        assert_eq!(s.preferred_read_replica(5, "r3", rack), Some(3));
        assert_eq!(
            s.preferred_read_replica(5, "r1", rack),
            None,
            "the leader's own rack"
        );
        assert_eq!(s.preferred_read_replica(5, "", rack), None, "no rack given");
        assert_eq!(
            s.preferred_read_replica(5, "r9", rack),
            None,
            "no replica there"
        );
    }

    #[test]
    fn a_pending_expansion_holds_the_high_watermark_back() {
        let mut s = ReplicaState::new(1, &image(1, &[1]), (0, 10), None);
        assert_eq!(s.high_watermark, 10);
        let now = Instant::now();
        s.record_fetch(2, 1, 10, 10, now);
        s.pending_isr = Some(vec![1, 2]);
        assert!(!s.advance_high_watermark(15));
        s.record_fetch(2, 1, 12, 15, now);
        s.advance_high_watermark(15);
        assert_eq!(s.high_watermark, 12);
    }
}
