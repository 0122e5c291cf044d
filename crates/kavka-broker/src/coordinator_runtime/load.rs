//! Loading: replaying each shard's partition into its state machine before the shard serves.

use kavka_coordinator::runtime::{CoordinatorRecord, CoordinatorShard};
use kavka_protocol::batch::BatchIter;
use kavka_protocol::records::RecordIter;

use std::sync::Arc;

use super::{CoordinatorRuntime, Shard, Waiters};
use crate::broker::now_ms;
use crate::replica_manager::Partition;

/// Bytes read at a time when a shard replays its partition.
const LOAD_READ_BYTES: usize = 1024 * 1024;

impl<S, W> CoordinatorRuntime<S, W>
where
    S: CoordinatorShard + Send + 'static,
    S::Reply: Send + 'static,
    W: Waiters<S::Reply> + 'static,
{
    /// Replays the partition of every shard not loaded yet (blocking; run off the request
    /// path). Returns the records replayed and the shards loaded. A partition that cannot be
    /// read leaves its shard out of service.
    pub fn load(&self) -> (usize, Vec<Arc<Shard<S, W>>>) {
        let mut total = 0usize;
        let mut loaded = Vec::new();
        for shard in self.shards() {
            let mut state = shard.lock();
            if state.loaded || state.failed {
                continue;
            }
            match replay_partition(&shard.partition, &mut state.machine, self.topic) {
                Ok(n) => {
                    total += n;
                    state.loaded = true;
                    drop(state);
                    loaded.push(shard);
                    continue;
                }
                Err(e) => {
                    tracing::error!(topic = self.topic, partition = shard.partition.index, error = %e, "cannot load a coordinator partition: its shard is unavailable");
                    state.failed = true;
                }
            }
        }
        (total, loaded)
    }
}

/// Replays a partition from its start into `machine`.
fn replay_partition<S: CoordinatorShard>(
    partition: &Partition,
    machine: &mut S,
    topic: &str,
) -> Result<usize, String> {
    let now = now_ms();
    let mut offset = partition
        .offsets()
        .map_err(|e| format!("{e:?}"))?
        .log_start_offset;
    let mut count = 0usize;
    loop {
        let plan = partition
            .plan_read(
                offset,
                LOAD_READ_BYTES,
                true,
                crate::replica_manager::Isolation::Log,
            )
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
                if let Some((commit, _)) = kavka_protocol::records::read_marker(&batch) {
                    machine.replay_marker(batch.producer_id(), commit, now);
                }
                continue;
            }
            let in_txn = batch.is_transactional().then(|| batch.producer_id());
            for record in RecordIter::new(&batch).map_err(|e| e.to_string())? {
                let record = record.map_err(|e| e.to_string())?;
                if record.offset < offset {
                    continue;
                }
                let Some(key) = record.key.as_deref() else {
                    continue;
                };
                match S::Record::decode_record(key, record.value.as_deref()) {
                    Ok(Some(r)) => {
                        match in_txn {
                            Some(producer_id) => machine.replay_in_txn(&r, producer_id, now),
                            None => machine.replay(&r, now),
                        }
                        count += 1;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(topic, partition = partition.index, offset = record.offset, error = %e, "skipping an undecodable coordinator record")
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
