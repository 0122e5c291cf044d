//! Producer ids for InitProducerId. The controller hands out blocks of
//! [`PRODUCER_ID_BLOCK_SIZE`] ids as `ProducerIdsRecord`s in the metadata log (Kafka's
//! `ProducerIdControlManager`); the broker gives ids from its current block one by one and asks
//! for a new block when it is used up. A block is committed before any id of it is given out,
//! and the image's `next_producer_id` only moves forward, so no id is ever given out twice, even
//! across restarts (ids left in a block at a restart are skipped).

use std::sync::Mutex;

use kavka_metadata::{MetadataImage, MetadataRecord, ProducerIdsRecord};
use kavka_protocol::ErrorCode;

use crate::controller::Refusal;

/// Ids per block, as Kafka's.
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// The controller's decision: the next block (`[first, end)`) and the record that takes it.
pub fn allocate_block(
    image: &MetadataImage,
    broker_id: i32,
) -> Result<((i64, i64), Vec<MetadataRecord>), Refusal> {
    let first = image.next_producer_id();
    let end = first.checked_add(PRODUCER_ID_BLOCK_SIZE).ok_or((
        ErrorCode::UNKNOWN_SERVER_ERROR,
        "producer ids exhausted".to_string(),
    ))?;
    let record = MetadataRecord::ProducerIds(ProducerIdsRecord {
        broker_id,
        broker_epoch: -1,
        next_producer_id: end,
    });
    Ok(((first, end), vec![record]))
}

/// The broker's current block: ids `next..end` are still free.
#[derive(Debug, Default)]
pub struct ProducerIdManager {
    /// (next id to give, end of the block); empty (0, 0) before the first block.
    block: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    /// A fresh producer id; `new_block` commits and returns a new block when the current one is
    /// used up (called with the manager's lock held, so one block is asked for at a time).
    pub fn next_id(
        &self,
        new_block: impl FnOnce() -> Result<(i64, i64), Refusal>,
    ) -> Result<i64, Refusal> {
        let mut block = self.block.lock().expect("producer id lock poisoned");
        if block.0 >= block.1 {
            let (first, end) = new_block()?;
            assert!(first < end, "an allocated producer id block is never empty");
            *block = (first, end);
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_committed_blocks_and_never_repeat() {
        let mut image = MetadataImage::new();
        let manager = ProducerIdManager::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2_500 {
            let id = manager
                .next_id(|| {
                    let (block, records) = allocate_block(&image, 1)?;
                    for r in &records {
                        image.apply(r).unwrap();
                    }
                    Ok(block)
                })
                .unwrap();
            assert!(seen.insert(id), "id {id} given twice");
        }
        assert_eq!(image.next_producer_id(), 3 * PRODUCER_ID_BLOCK_SIZE);
        // A restarted broker (new manager, same image) starts at the next block.
        let restarted = ProducerIdManager::default();
        let id = restarted
            .next_id(|| allocate_block(&image, 1).map(|(b, _)| b))
            .unwrap();
        assert_eq!(id, 3 * PRODUCER_ID_BLOCK_SIZE);
    }
}
