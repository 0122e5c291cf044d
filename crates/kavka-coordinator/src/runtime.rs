//! What every coordinator state machine offers the broker's coordinator runtime: operations
//! return [`Effects`] (records to append to the coordinator's internal-topic partition, then
//! replies), state changes only by [`CoordinatorShard::replay`], and time moves only through
//! [`CoordinatorShard::tick`]. The group coordinator implements it today; the transaction
//! coordinator will implement the same traits, so both share one runtime (append, replay,
//! answer; timers; loading a shard from its partition).

use bytes::Bytes;

/// What an operation asks of the runtime: append `records` (one batch) to the shard's
/// partition, replay them, then deliver `replies`.
#[derive(Debug)]
pub struct Effects<R, P> {
    /// Records to append, in order.
    pub records: Vec<R>,
    /// Replies to waiting requests.
    pub replies: Vec<P>,
    /// Append the records as a transactional batch of this producer (id, epoch): they take
    /// effect only when a COMMIT marker for it follows (TxnOffsetCommit).
    pub transactional: Option<(i64, i16)>,
}

impl<R, P> Default for Effects<R, P> {
    fn default() -> Self {
        Effects {
            records: Vec::new(),
            replies: Vec::new(),
            transactional: None,
        }
    }
}

impl<R, P> Effects<R, P> {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.replies.is_empty()
    }

    /// Appends another operation's effects (both must be plain, or of the same producer).
    pub fn extend(&mut self, other: Effects<R, P>) {
        assert!(
            other.records.is_empty()
                || self.records.is_empty()
                || self.transactional == other.transactional,
            "transactional and plain records never share a batch"
        );
        if !other.records.is_empty() {
            self.transactional = other.transactional;
        }
        self.records.extend(other.records);
        self.replies.extend(other.replies);
    }
}

/// A record of a coordinator's internal topic, as key and value bytes (`None`: a tombstone).
pub trait CoordinatorRecord: Sized {
    /// The record's key.
    fn encode_key(&self) -> Bytes;
    /// The record's value, `None` for a tombstone.
    fn encode_value(&self) -> Option<Bytes>;
    /// Decodes a record read back from the partition; `Ok(None)` for a key this coordinator
    /// does not know (to be skipped).
    fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<Option<Self>, String>;
}

/// A coordinator state machine over one partition of its internal topic.
pub trait CoordinatorShard {
    /// Its records.
    type Record: CoordinatorRecord;
    /// Its replies to requests that wait (routed by the runtime's waiters).
    type Reply;
    /// Applies a record that is in the log (appended now, or read back at load).
    fn replay(&mut self, record: &Self::Record, now_ms: i64);
    /// A record in a transactional batch of `producer_id`: pending until its marker.
    fn replay_in_txn(&mut self, record: &Self::Record, producer_id: i64, now_ms: i64) {
        let _ = producer_id;
        self.replay(record, now_ms)
    }
    /// A COMMIT (or ABORT) marker of `producer_id` in the partition.
    fn replay_marker(&mut self, producer_id: i64, commit: bool, now_ms: i64) {
        let _ = (producer_id, commit, now_ms);
    }
    /// The earliest time `tick` has something to do, if any.
    fn next_deadline_ms(&self) -> Option<i64>;
    /// Runs the deadlines that have passed.
    fn tick(&mut self, now_ms: i64) -> Effects<Self::Record, Self::Reply>;
}
