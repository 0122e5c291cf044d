//! Start-up: replaying each `__consumer_offsets` partition into its shard before the shard
//! serves.

use kavka_coordinator::group::records::GroupRecord;
use kavka_coordinator::group::GroupShard;
use kavka_protocol::batch::BatchIter;
use kavka_protocol::records::RecordIter;

use super::GroupCoordinator;
use crate::broker::now_ms;
use crate::replica_manager::Partition;

/// Bytes read at a time when a shard replays its partition.
const LOAD_READ_BYTES: usize = 1024 * 1024;

impl GroupCoordinator {
    /// Replays every shard's partition (blocking; run off the request path). Returns the
    /// records replayed.
    pub fn load(&self) -> usize {
        let shards = self.shards.read().expect("shards lock poisoned").clone();
        let mut total = 0usize;
        for shard in shards {
            let mut state = shard.state.lock().expect("shard lock poisoned");
            match replay_partition(&shard.partition, &mut state.machine) {
                Ok(n) => {
                    total += n;
                    state.loaded = true;
                }
                Err(e) => {
                    tracing::error!(partition = shard.partition.index, error = %e, "cannot load __consumer_offsets partition: its groups are unavailable");
                    state.failed = true;
                }
            }
        }
        total
    }
}

/// Replays a `__consumer_offsets` partition from its start into `machine`.
fn replay_partition(partition: &Partition, machine: &mut GroupShard) -> Result<usize, String> {
    let now = now_ms();
    let mut offset = partition
        .offsets()
        .map_err(|e| format!("{e:?}"))?
        .log_start_offset;
    let mut count = 0usize;
    loop {
        let plan = partition
            .plan_read(offset, LOAD_READ_BYTES, true)
            .map_err(|e| format!("{e:?}"))?;
        if plan.is_empty() {
            return Ok(count);
        }
        let bytes = plan.read(partition).map_err(|e| format!("{e:?}"))?;
        let mut next = offset;
        for batch in BatchIter::new(&bytes) {
            let batch = batch.map_err(|e| e.to_string())?;
            next = batch.next_offset();
            if batch.is_control() {
                continue;
            }
            for record in RecordIter::new(&batch).map_err(|e| e.to_string())? {
                let record = record.map_err(|e| e.to_string())?;
                if record.offset < offset {
                    continue;
                }
                let Some(key) = record.key.as_deref() else {
                    continue;
                };
                match GroupRecord::decode(key, record.value.as_deref()) {
                    Ok(Some(r)) => {
                        machine.replay(&r, now);
                        count += 1;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(partition = partition.index, offset = record.offset, error = %e, "skipping an undecodable __consumer_offsets record")
                    }
                }
            }
        }
        if next <= offset {
            return Ok(count);
        }
        offset = next;
    }
}
