//! Transactional offset commits (TxnOffsetCommit, KIP-98): a consume-transform-produce
//! producer commits its input offsets inside its transaction. The offset records are appended
//! as a transactional batch of that producer and held as pending; the transaction's COMMIT
//! marker in the partition makes them committed, an ABORT drops them. While some are pending
//! for a partition, OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT.

use kavka_protocol::ErrorCode;

use super::api::CommitRequest;
use super::records::GroupRecord;
use super::shard::{Effects, GroupShard};

impl GroupShard {
    /// TxnOffsetCommit: checked as an OffsetCommit (generation and member when given), the
    /// records to append in `producer_id`'s transaction (`epoch`).
    pub fn txn_commit_offsets(
        &mut self,
        now_ms: i64,
        req: &CommitRequest,
        producer_id: i64,
        epoch: i16,
    ) -> (Vec<ErrorCode>, Effects) {
        let (errors, mut effects) = self.commit_offsets(now_ms, req);
        if !effects.records.is_empty() {
            effects.transactional = Some((producer_id, epoch));
        }
        (errors, effects)
    }

    /// A record of a transactional batch (appended now or read back): pending.
    pub(crate) fn replay_pending(&mut self, record: &GroupRecord, producer_id: i64) {
        if matches!(record, GroupRecord::Offset { .. }) {
            self.pending_txn
                .entry(producer_id)
                .or_default()
                .push(record.clone());
        }
    }

    /// `producer_id`'s transaction ended in this partition: its pending offsets are committed
    /// (COMMIT) or dropped (ABORT).
    pub fn complete_txn(&mut self, producer_id: i64, commit: bool, now_ms: i64) {
        let Some(records) = self.pending_txn.remove(&producer_id) else {
            return;
        };
        if commit {
            for r in &records {
                self.replay(r, now_ms);
            }
        }
    }

    /// Whether a transaction holds a pending offset of this group and partition.
    pub fn has_pending_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        self.pending_txn.values().flatten().any(|r| {
            matches!(r, GroupRecord::Offset { key, .. }
                if key.group == group_id && key.topic == topic && key.partition == partition)
        })
    }
}
