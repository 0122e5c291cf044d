//! The log's idempotent-producer bookkeeping: checking produced batches against the producer
//! state, recording appended ones, snapshots (taken at roll and close), the rebuild at open, and
//! expiry. Only batch headers are read.

use kavka_protocol::batch::BatchHeader;

use super::{AppendInfo, PartitionLog};
use crate::config::TimestampType;
use crate::error::StorageError;
use crate::header::HeaderWalker;
use crate::producer_snapshot;
use crate::producer_state::{ProducerBatch, ProducerCheck, ProducerStateManager};

/// Outcome of checking one batch.
pub(super) enum CheckedBatch {
    /// Already in the log.
    Duplicate(AppendInfo),
    /// Append; the producer part to record after the write, if any.
    Append(Option<ProducerBatch>),
}

impl PartitionLog {
    /// The producer state (for DescribeProducers and tests).
    pub fn producer_state(&self) -> &ProducerStateManager {
        &self.producers
    }

    /// What a duplicate batch is answered with: the original's offsets.
    fn duplicate_info(&self, original: crate::producer_state::BatchMetadata) -> AppendInfo {
        let log_append_time_ms = match self.config.message_timestamp_type {
            TimestampType::LogAppendTime => original.timestamp_ms,
            TimestampType::CreateTime => -1,
        };
        AppendInfo {
            base_offset: original.first_offset,
            last_offset: original.last_offset,
            log_append_time_ms,
            record_count: original.last_offset - original.first_offset + 1,
            bytes: 0,
            duplicate: true,
        }
    }

    /// Checks one validated batch's producer against the state.
    pub(super) fn check_producer_batch(
        &self,
        batch: &[u8],
        record_count: i64,
    ) -> Result<CheckedBatch, StorageError> {
        let header = BatchHeader::parse(batch)?;
        let Some(producer) = ProducerBatch::from_header(&header) else {
            return Ok(CheckedBatch::Append(None));
        };
        debug_assert_eq!(record_count, i64::from(header.last_offset_delta) + 1);
        match self
            .producers
            .check(&producer)
            .map_err(StorageError::Producer)?
        {
            ProducerCheck::Duplicate(original) => {
                Ok(CheckedBatch::Duplicate(self.duplicate_info(original)))
            }
            ProducerCheck::Append => Ok(CheckedBatch::Append(Some(producer))),
        }
    }

    /// Records an appended batch's producer, with the offsets and timestamp it was given.
    pub(super) fn record_producer(
        &mut self,
        mut producer: ProducerBatch,
        base_offset: i64,
        log_append_time_ms: Option<i64>,
    ) {
        let delta = producer.last_offset - producer.first_offset;
        producer.first_offset = base_offset;
        producer.last_offset = base_offset + delta;
        if let Some(stamped) = log_append_time_ms {
            producer.timestamp_ms = stamped;
        }
        self.producers.record(&producer);
    }

    /// At open: the latest readable snapshot not past the log end (later ones describe data
    /// that recovery removed, and are deleted), then the batch headers after it. With no
    /// snapshot the whole log is replayed.
    pub(super) fn load_producer_state(&mut self) -> Result<(), StorageError> {
        let log_end_offset = self.log_end_offset();
        let mut offsets = producer_snapshot::list(&self.dir)?;
        let mut from = None;
        while let Some(offset) = offsets.pop() {
            if offset > log_end_offset {
                producer_snapshot::delete(&self.dir, offset)?;
                self.dir_unsynced = true;
                continue;
            }
            match producer_snapshot::read(&self.dir, offset)? {
                Some(state) => {
                    self.producers = state;
                    from = Some(offset);
                    break;
                }
                None => {
                    producer_snapshot::delete(&self.dir, offset)?;
                    self.dir_unsynced = true;
                }
            }
        }
        let from = from.unwrap_or_else(|| self.segments[0].base_offset());
        let entries_on_disk = self.load_aborted(from)?;
        self.replay_producers(from)?;
        self.store_aborted(entries_on_disk)
    }

    /// Records the producer of every batch ending at or after `from`, and the transactions
    /// its markers end.
    fn replay_producers(&mut self, from: i64) -> Result<(), StorageError> {
        if from >= self.log_end_offset() {
            return Ok(());
        }
        // Markers need their batch read (and `&mut self`): collect positions first, in order.
        let mut found: Vec<(usize, u64, BatchHeader)> = Vec::new();
        let first = self.segment_index(from);
        for (index, segment) in self.segments.iter().enumerate().skip(first) {
            let mut walker =
                HeaderWalker::new(segment.file(), segment.log_path(), 0, segment.size_bytes());
            while let Some((position, header)) = walker.next_header()? {
                if header.last_offset() >= from && header.producer_id >= 0 {
                    found.push((index, position, header));
                }
            }
        }
        for (index, position, header) in found {
            if header.attributes & kavka_protocol::batch::attributes::CONTROL != 0 {
                self.replay_marker(index, position, &header)?;
            } else if let Some(producer) = ProducerBatch::from_header(&header) {
                self.producers.record(&producer);
            }
        }
        Ok(())
    }

    /// Forgets producers idle for `expiration_ms` (`producer.id.expiration.ms`); returns how many.
    pub fn expire_producers(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        self.producers.expire(now_ms, expiration_ms)
    }

    /// Deletes the snapshots below `offset` (the first segment's base, after retention): the
    /// state they hold is in every later snapshot.
    pub(super) fn delete_snapshots_below(&mut self, offset: i64) -> Result<(), StorageError> {
        for snapshot in producer_snapshot::list(&self.dir)? {
            if snapshot >= offset {
                break;
            }
            producer_snapshot::delete(&self.dir, snapshot)?;
            self.dir_unsynced = true;
        }
        Ok(())
    }
}
