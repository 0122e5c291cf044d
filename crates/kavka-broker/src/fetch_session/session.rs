//! One fetch session: the partitions a fetcher reads, with what it last asked of each and what
//! it was last told, so that its next request names only what changed and the answer carries
//! only what changed (Kafka's `FetchSession` and `CachedPartition`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use crate::replica_manager::{Partition, PartitionOffsets};

/// A topic as a request names it: by id from Fetch v13, by name before.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicKey {
    /// Fetch v13+.
    Id(Uuid),
    /// Fetch v4-12.
    Name(Arc<str>),
}

/// A partition of a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    /// Its topic.
    pub topic: TopicKey,
    /// Its index.
    pub partition: i32,
}

/// What a fetcher asks of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchParams {
    /// The offset to read from.
    pub fetch_offset: i64,
    /// The leader epoch the fetcher knows (KIP-320; -1: not checked).
    pub current_leader_epoch: i32,
    /// The epoch of the last batch it fetched (v12+; -1: none).
    pub last_fetched_epoch: i32,
    /// The fetcher's own log start offset (followers; -1 for consumers).
    pub log_start_offset: i64,
    /// The most bytes of this partition in one answer.
    pub max_bytes: i32,
}

/// A partition whose last answer had nothing to send at the fetcher's position: the partition
/// as hosted, its change count read before that plan (`Partition::changes`) and the offsets
/// answered. While the position and the count stay the same, planning it again would find the
/// same, and a fetch skips it (the fetch's own wait loop keeps one too).
#[derive(Debug, Clone)]
pub struct Quiet {
    pub partition: Arc<Partition>,
    pub changes: u64,
    pub offsets: PartitionOffsets,
}

/// What an answer said of a partition, as far as a session compares answers.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Records were returned.
    pub has_records: bool,
    /// The high watermark sent.
    pub high_watermark: i64,
    /// The log start offset sent.
    pub log_start_offset: i64,
    /// An error code other than NONE was sent.
    pub error: bool,
    /// A diverging epoch was sent (the fetcher must truncate).
    pub diverging: bool,
    /// The partition had nothing to send.
    pub quiet: Option<Quiet>,
}

/// A partition as its session keeps it.
#[derive(Debug, Clone)]
struct Cached {
    /// Its place in the session's order.
    seq: u64,
    /// What the fetcher last asked.
    params: FetchParams,
    /// The high watermark last sent (-1 after an error, so that it is sent again).
    high_watermark: i64,
    /// The log start offset last sent.
    log_start_offset: i64,
    /// Whether the last answer had nothing to send, at `params`.
    quiet: Option<Quiet>,
}

/// The epoch that follows `epoch` (`i32::MAX` wraps to 1; a negative epoch stays final).
pub fn next_epoch(epoch: i32) -> i32 {
    match epoch {
        e if e < 0 => -1,
        i32::MAX => 1,
        e => e + 1,
    }
}

/// A fetch session.
#[derive(Debug)]
pub struct FetchSession {
    /// Its id, unique on this broker, never 0.
    pub id: i32,
    /// Created by a follower: evicted only by another follower's session, or when stale.
    pub privileged: bool,
    /// Created by a Fetch v13+ (topics by id); later requests must match.
    pub uses_topic_ids: bool,
    /// When it was created (ms).
    pub creation_ms: i64,
    /// When a request last used it (ms).
    pub last_used_ms: i64,
    /// The epoch its next incremental request must carry.
    pub epoch: i32,
    /// Its partitions.
    partitions: HashMap<PartitionKey, Cached>,
    /// Its partitions in order: a partition that returned records moves to the end, so that a
    /// response full before the last partition starts with the others next time.
    order: BTreeMap<u64, PartitionKey>,
    /// The next place at the end of `order`.
    next_seq: u64,
}

impl FetchSession {
    /// A session holding the partitions of a full fetch, with what the answer to it said.
    pub fn new(
        id: i32,
        privileged: bool,
        uses_topic_ids: bool,
        now_ms: i64,
        partitions: &[(PartitionKey, FetchParams, Answer)],
    ) -> FetchSession {
        let mut session = FetchSession {
            id,
            privileged,
            uses_topic_ids,
            creation_ms: now_ms,
            last_used_ms: now_ms,
            epoch: next_epoch(0),
            partitions: HashMap::with_capacity(partitions.len()),
            order: BTreeMap::new(),
            next_seq: 0,
        };
        for (key, params, answer) in partitions {
            session.put(key, *params);
            let cached = session.partitions.get_mut(key).expect("just put");
            cached.high_watermark = if answer.error {
                -1
            } else {
                answer.high_watermark
            };
            cached.log_start_offset = answer.log_start_offset;
            cached.quiet = answer.quiet.clone();
        }
        session
    }

    /// How many partitions it holds.
    pub fn len(&self) -> usize {
        self.partitions.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    fn put(&mut self, key: &PartitionKey, params: FetchParams) {
        if let Some(cached) = self.partitions.get_mut(key) {
            if cached.params != params {
                cached.params = params;
                cached.quiet = None;
            }
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key.clone());
        self.partitions.insert(
            key.clone(),
            Cached {
                seq,
                params,
                high_watermark: -1,
                log_start_offset: -1,
                quiet: None,
            },
        );
    }

    /// Takes an incremental request: partitions it names are added or updated, the ones it
    /// forgets removed.
    pub fn update(&mut self, changed: &[(PartitionKey, FetchParams)], forgotten: &[PartitionKey]) {
        for (key, params) in changed {
            self.put(key, *params);
        }
        for key in forgotten {
            if let Some(cached) = self.partitions.remove(key) {
                self.order.remove(&cached.seq);
            }
        }
    }

    /// Every partition with what the fetcher last asked of it, in the session's order.
    #[cfg(test)]
    pub fn fetches(&self) -> Vec<(PartitionKey, FetchParams)> {
        self.fetches_with_quiet().0
    }

    /// Every partition with what the fetcher last asked of it, in the session's order, and
    /// beside it whether the last answer found it quiet at that position.
    pub fn fetches_with_quiet(&self) -> (Vec<(PartitionKey, FetchParams)>, Vec<Option<Quiet>>) {
        let mut fetches = Vec::with_capacity(self.order.len());
        let mut quiet = Vec::with_capacity(self.order.len());
        for key in self.order.values() {
            let cached = &self.partitions[key];
            fetches.push((key.clone(), cached.params));
            quiet.push(cached.quiet.clone());
        }
        (fetches, quiet)
    }

    /// Decides which partitions an incremental answer carries: those with records, a changed
    /// high watermark or log start offset, an error or a diverging epoch (Kafka's
    /// `maybeUpdateResponseData`), and remembers what they are told. Partitions that returned
    /// records move to the end of the order.
    pub fn respond(&mut self, answers: &[(PartitionKey, Answer)]) -> Vec<bool> {
        let mut carried = Vec::with_capacity(answers.len());
        let mut to_end = Vec::new();
        for (key, answer) in answers {
            let Some(cached) = self.partitions.get_mut(key) else {
                carried.push(false);
                continue;
            };
            let mut must = answer.has_records || answer.diverging;
            if cached.high_watermark != answer.high_watermark {
                must = true;
                cached.high_watermark = answer.high_watermark;
            }
            if cached.log_start_offset != answer.log_start_offset {
                must = true;
                cached.log_start_offset = answer.log_start_offset;
            }
            if answer.error {
                must = true;
                cached.high_watermark = -1;
            }
            if answer.has_records {
                to_end.push(key.clone());
            }
            cached.quiet = answer.quiet.clone();
            carried.push(must);
        }
        for key in to_end {
            let seq = self.next_seq;
            self.next_seq += 1;
            let cached = self.partitions.get_mut(&key).expect("present above");
            self.order.remove(&cached.seq);
            cached.seq = seq;
            self.order.insert(seq, key);
        }
        carried
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, partition: i32) -> PartitionKey {
        PartitionKey {
            topic: TopicKey::Name(Arc::from(name)),
            partition,
        }
    }

    fn params(fetch_offset: i64) -> FetchParams {
        FetchParams {
            fetch_offset,
            current_leader_epoch: -1,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            max_bytes: 1024,
        }
    }

    fn answer(high_watermark: i64, has_records: bool) -> Answer {
        Answer {
            has_records,
            high_watermark,
            log_start_offset: 0,
            error: false,
            diverging: false,
            quiet: None,
        }
    }

    #[test]
    fn an_incremental_answer_carries_only_what_changed() {
        let mut s = FetchSession::new(
            7,
            false,
            false,
            0,
            &[
                (key("a", 0), params(0), answer(10, true)),
                (key("a", 1), params(0), answer(5, true)),
            ],
        );
        assert_eq!(s.epoch, 1);
        s.update(&[(key("a", 0), params(10))], &[]);
        let fetches = s.fetches();
        assert_eq!(fetches[0], (key("a", 0), params(10)));
        assert_eq!(fetches[1], (key("a", 1), params(0)));
        // a-0: nothing new; a-1: its high watermark moved.
        let carried = s.respond(&[
            (key("a", 0), answer(10, false)),
            (key("a", 1), answer(6, false)),
        ]);
        assert_eq!(carried, vec![false, true]);
        // An error is always sent, and the partition is sent again once it clears.
        let err = Answer {
            error: true,
            ..answer(6, false)
        };
        assert_eq!(s.respond(&[(key("a", 1), err)]), vec![true]);
        assert_eq!(s.respond(&[(key("a", 1), answer(6, false))]), vec![true]);
        assert_eq!(s.respond(&[(key("a", 1), answer(6, false))]), vec![false]);
        // A diverging epoch is always sent.
        let div = Answer {
            diverging: true,
            ..answer(6, false)
        };
        assert_eq!(s.respond(&[(key("a", 1), div)]), vec![true]);
    }

    #[test]
    fn partitions_with_records_move_to_the_end_and_forgotten_ones_leave() {
        let mut s = FetchSession::new(
            1,
            true,
            false,
            0,
            &[
                (key("a", 0), params(0), answer(0, false)),
                (key("a", 1), params(0), answer(0, false)),
                (key("b", 0), params(0), answer(0, false)),
            ],
        );
        s.respond(&[(key("a", 0), answer(3, true))]);
        let order: Vec<_> = s.fetches().into_iter().map(|(k, _)| k).collect();
        assert_eq!(order, vec![key("a", 1), key("b", 0), key("a", 0)]);
        s.update(&[(key("c", 0), params(4))], &[key("a", 1), key("zz", 9)]);
        let order: Vec<_> = s.fetches().into_iter().map(|(k, _)| k).collect();
        assert_eq!(order, vec![key("b", 0), key("a", 0), key("c", 0)]);
        assert_eq!(s.len(), 3);
        s.update(&[], &[key("b", 0), key("a", 0), key("c", 0)]);
        assert!(s.is_empty());
    }

    #[test]
    fn epochs_wrap_to_one_and_the_final_epoch_stays() {
        assert_eq!(next_epoch(0), 1);
        assert_eq!(next_epoch(41), 42);
        assert_eq!(next_epoch(i32::MAX), 1);
        assert_eq!(next_epoch(-1), -1);
    }
}
