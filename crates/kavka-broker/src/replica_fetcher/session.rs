//! A follower's side of its fetch session with one leader (Kafka's `FetchSessionHandler`): the
//! first fetch is full and asks for a session (epoch 0); while the leader keeps it, each fetch
//! names only the partitions whose position changed since the leader last took them, and
//! forgets the ones this node stopped following. Any failure starts over with a full fetch
//! that closes the old session.

use std::collections::HashMap;

use kavka_protocol::ErrorCode;
use uuid::Uuid;

use crate::fetch_session::{next_epoch, FetchParams, INITIAL_EPOCH};

/// A followed partition: topic id and index.
pub type Key = (Uuid, i32);

/// The session with one leader.
#[derive(Debug, Default)]
pub struct SessionHandler {
    /// The session the leader opened (0: none, the next fetch is full).
    id: i32,
    /// A session to close with the next full fetch (after a failure).
    closing: i32,
    /// The epoch of the next incremental fetch.
    epoch: i32,
    /// What the leader holds for each partition of the session.
    held: HashMap<Key, FetchParams>,
}

/// One fetch to send, and what the session becomes if it is answered.
#[derive(Debug)]
pub struct Planned {
    /// `session_id` to send.
    pub session_id: i32,
    /// `session_epoch` to send.
    pub epoch: i32,
    /// The partitions to name.
    pub partitions: Vec<(Key, FetchParams)>,
    /// The partitions to forget.
    pub forgotten: Vec<Key>,
    /// Whether it is a full fetch.
    full: bool,
    /// The session's partitions once answered.
    next: HashMap<Key, FetchParams>,
}

impl SessionHandler {
    /// The fetch for `wanted`, every partition followed with its position.
    pub fn plan(&self, wanted: Vec<(Key, FetchParams)>) -> Planned {
        let next: HashMap<Key, FetchParams> = wanted.iter().copied().collect();
        if self.id == 0 {
            return Planned {
                session_id: self.closing,
                epoch: INITIAL_EPOCH,
                partitions: wanted,
                forgotten: Vec::new(),
                full: true,
                next,
            };
        }
        let partitions = wanted
            .into_iter()
            .filter(|(k, p)| self.held.get(k) != Some(p))
            .collect();
        let forgotten = self
            .held
            .keys()
            .filter(|k| !next.contains_key(k))
            .copied()
            .collect();
        Planned {
            session_id: self.id,
            epoch: self.epoch,
            partitions,
            forgotten,
            full: false,
            next,
        }
    }

    /// Takes the leader's answer to `planned` (its top-level error and session id); whether
    /// its partitions are to be taken.
    pub fn answered(&mut self, planned: Planned, error: ErrorCode, session_id: i32) -> bool {
        if error != ErrorCode::NONE {
            tracing::debug!(
                session = self.id,
                code = error.name(),
                "fetch session refused: starting over"
            );
            self.reset();
            return false;
        }
        self.closing = 0;
        if session_id == 0 {
            // Not opened (no slot) or closed: the next fetch is full again.
            self.id = 0;
            self.held.clear();
            return true;
        }
        if planned.full {
            self.id = session_id;
            self.epoch = next_epoch(INITIAL_EPOCH);
        } else {
            self.epoch = next_epoch(self.epoch);
        }
        self.held = planned.next;
        true
    }

    /// After a failed exchange: the next fetch is full and closes this session.
    pub fn reset(&mut self) {
        if self.id != 0 {
            self.closing = self.id;
        }
        self.id = 0;
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: i64) -> FetchParams {
        FetchParams {
            fetch_offset: offset,
            current_leader_epoch: 3,
            last_fetched_epoch: 3,
            log_start_offset: -1,
            max_bytes: 1024,
        }
    }

    fn key(p: i32) -> Key {
        (Uuid::from_u128(1), p)
    }

    #[test]
    fn only_moved_partitions_are_named_once_a_session_is_open() {
        let mut h = SessionHandler::default();
        let first = h.plan(vec![(key(0), at(0)), (key(1), at(0))]);
        assert_eq!(
            (first.session_id, first.epoch, first.partitions.len()),
            (0, 0, 2)
        );
        assert!(h.answered(first, ErrorCode::NONE, 42));

        let second = h.plan(vec![(key(0), at(5)), (key(1), at(0)), (key(2), at(0))]);
        assert_eq!((second.session_id, second.epoch), (42, 1));
        assert_eq!(second.partitions, vec![(key(0), at(5)), (key(2), at(0))]);
        assert!(second.forgotten.is_empty());
        assert!(h.answered(second, ErrorCode::NONE, 42));

        let third = h.plan(vec![(key(0), at(5)), (key(2), at(0))]);
        assert_eq!(third.epoch, 2);
        assert!(third.partitions.is_empty());
        assert_eq!(third.forgotten, vec![key(1)]);
    }

    #[test]
    fn a_refusal_or_a_failure_starts_over_closing_the_old_session() {
        let mut h = SessionHandler::default();
        let first = h.plan(vec![(key(0), at(0))]);
        h.answered(first, ErrorCode::NONE, 9);
        let second = h.plan(vec![(key(0), at(1))]);
        assert!(!h.answered(second, ErrorCode::INVALID_FETCH_SESSION_EPOCH, 9));
        let again = h.plan(vec![(key(0), at(1))]);
        assert_eq!(
            (again.session_id, again.epoch),
            (9, INITIAL_EPOCH),
            "closes 9"
        );
        assert_eq!(again.partitions.len(), 1);
        // No slot on the leader: stays sessionless, every fetch full.
        assert!(h.answered(again, ErrorCode::NONE, 0));
        let full = h.plan(vec![(key(0), at(1))]);
        assert_eq!((full.session_id, full.epoch), (0, INITIAL_EPOCH));
        h.reset();
        assert_eq!(h.plan(vec![]).session_id, 0, "nothing to close");
    }
}
