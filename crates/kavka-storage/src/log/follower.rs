//! The follower's append (replication): batches as the leader stored them, their offsets,
//! leader epochs and timestamps kept, written with one write. The leader already checked the
//! producers, so nothing is refused for a sequence; the producer state, transaction markers
//! (aborted transactions) and leader epochs are recorded from the batches as recovery would.
//! Offsets must rise from the log end (a compacted leader's batches may skip offsets).

use kavka_protocol::batch::{BatchHeader, BatchIter};
use kavka_protocol::records::read_marker;

use super::{AppendInfo, PartitionLog};
use crate::error::StorageError;
use crate::producer_state::ProducerBatch;

impl PartitionLog {
    /// Appends batches a leader assigned; see the module. The first batch must start at or
    /// after the log end offset, and each batch after the one before it.
    pub fn append_as_follower(
        &mut self,
        batches: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.check_usable()?;
        let record_count = self.validate_append(batches)?;
        let mut next = self.log_end_offset();
        let mut first_offset = None;
        let mut headers = Vec::new();
        for view in BatchIter::new(batches) {
            let header = BatchHeader::parse(view?.as_bytes())?;
            if header.base_offset < next {
                return Err(StorageError::OffsetsOutOfOrder {
                    offset: header.base_offset,
                    expected_min: next,
                });
            }
            first_offset.get_or_insert(header.base_offset);
            next = header.next_offset();
            headers.push(header);
        }
        let base_offset = first_offset.expect("validated payloads hold a batch");
        let last_offset = next - 1;
        let reason =
            self.active()
                .roll_reason(batches.len() as u64, last_offset, now_ms, &self.config);
        if let Some(reason) = reason {
            self.roll(reason)?;
        }
        for header in &headers {
            self.record_epoch(header.partition_leader_epoch, header.base_offset)?;
        }
        let active = self
            .segments
            .last_mut()
            .expect("a log always has an active segment");
        active.append(batches, now_ms, &self.config)?;
        self.record_replicated(batches, &headers)?;
        self.finish_append(
            record_count,
            base_offset,
            last_offset,
            None,
            batches.len(),
            now_ms,
        )
    }

    /// Records the producers and transaction markers of replicated batches just written.
    fn record_replicated(
        &mut self,
        batches: &[u8],
        headers: &[BatchHeader],
    ) -> Result<(), StorageError> {
        for (view, header) in BatchIter::new(batches).zip(headers) {
            if header.producer_id < 0 {
                continue;
            }
            if header.attributes & kavka_protocol::batch::attributes::CONTROL == 0 {
                if let Some(producer) = ProducerBatch::from_header(header) {
                    self.producers.record(&producer);
                }
                continue;
            }
            let Some((commit, coordinator_epoch)) = view.ok().as_ref().and_then(read_marker) else {
                continue;
            };
            self.record_stored_marker(header, commit, coordinator_epoch, true)?;
        }
        Ok(())
    }
}
