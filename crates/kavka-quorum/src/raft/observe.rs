//! A voter answering observers: the leader hands each the committed log after the offset it
//! holds, holding the request until something commits or the observer's wait ends; a voter
//! that does not lead names the leader it knows. A fetch counts as hearing from the observer
//! (its liveness, as a follower's messages are a voter's), and the leader keeps what each
//! observer holds for DescribeQuorum.

use std::time::{Duration, Instant};

use super::super::observer_wire::ObserverResponse;
use super::QuorumLog;

/// Most entry bytes one fetch answer carries (a snapshot travels whole).
const FETCH_BYTES_MAX: usize = 1024 * 1024;

impl QuorumLog {
    /// Answers observer `from`'s fetch of the committed log after `after`, waiting up to
    /// `wait` for a commit when there is nothing yet.
    pub fn observe(&self, from: u64, after: u64, wait: Duration) -> ObserverResponse {
        let deadline = Instant::now() + wait;
        let mut st = self.lock();
        st.heard.insert(from, Instant::now());
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        st.observers.insert(from, (after, now_ms));
        loop {
            if st.failed.is_some() || !st.node.is_leader() {
                let me = st.node.id();
                return ObserverResponse::NotLeader {
                    leader: st.node.leader().filter(|&l| l != me),
                    address: None,
                };
            }
            let items = match st.node.committed_after(after, FETCH_BYTES_MAX) {
                Ok(items) => items,
                Err(e) => {
                    tracing::error!(error = %e, "committed log unreadable for an observer");
                    return ObserverResponse::NotLeader {
                        leader: None,
                        address: None,
                    };
                }
            };
            let now = Instant::now();
            if !items.is_empty() || now >= deadline {
                return ObserverResponse::Fetched {
                    leader: st.node.id(),
                    term: st.node.term(),
                    commit: st.node.commit_index(),
                    items,
                };
            }
            st = self
                .shared
                .progress
                .wait_timeout(st, deadline - now)
                .expect("quorum lock poisoned")
                .0;
        }
    }

    /// The leader's term and commit index (a `Fetched` with no items), or who leads.
    pub fn position(&self) -> ObserverResponse {
        let st = self.lock();
        let me = st.node.id();
        if st.failed.is_some() || !st.node.is_leader() {
            return ObserverResponse::NotLeader {
                leader: st.node.leader().filter(|&l| l != me),
                address: None,
            };
        }
        ObserverResponse::Fetched {
            leader: me,
            term: st.node.term(),
            commit: st.node.commit_index(),
            items: Vec::new(),
        }
    }
}
