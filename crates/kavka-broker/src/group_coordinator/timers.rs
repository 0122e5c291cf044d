//! The coordinator's background work: the shards' deadlines (session, rebalance and sync
//! timeouts) and the expiry of old committed offsets, after the start-up load.

use std::sync::Arc;

use super::{check_serving, GroupCoordinator};
use crate::broker::now_ms;

/// How often the shards' deadlines are checked (session and rebalance timeouts are this precise).
const TICK_INTERVAL_MS: u64 = 50;

impl GroupCoordinator {
    /// Runs the deadlines that have passed in every shard.
    pub fn tick(&self) {
        let now = now_ms();
        let shards = self.shards.read().expect("shards lock poisoned").clone();
        for shard in shards {
            let mut state = shard.state.lock().expect("shard lock poisoned");
            if check_serving(&state).is_err()
                || state.machine.next_deadline_ms().is_none_or(|d| d > now)
            {
                continue;
            }
            let effects = state.machine.tick(now);
            let _ = state.apply(&shard.partition, &self.appends, effects);
        }
    }

    /// Expires old offsets in every shard.
    pub fn expire_offsets(&self) {
        let now = now_ms();
        let shards = self.shards.read().expect("shards lock poisoned").clone();
        for shard in shards {
            let mut state = shard.state.lock().expect("shard lock poisoned");
            if check_serving(&state).is_err() {
                continue;
            }
            let effects = state.machine.expire_offsets(now);
            if !effects.is_empty() {
                tracing::info!(
                    partition = shard.partition.index,
                    records = effects.records.len(),
                    "expired committed offsets"
                );
                let _ = state.apply(&shard.partition, &self.appends, effects);
            }
        }
    }
}

/// The coordinator's background work: replays the partitions of an existing
/// `__consumer_offsets` (requests get COORDINATOR_LOAD_IN_PROGRESS until then), then runs the
/// shards' deadlines every [`TICK_INTERVAL_MS`] and expires old offsets every
/// `offsets.retention.check.interval.ms`.
pub async fn run_timers(broker: Arc<crate::broker::Broker>) {
    if broker.groups.is_attached() {
        let b = broker.clone();
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || b.groups.load()).await {
            Ok(records) => tracing::info!(
                records,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "group coordinator loaded __consumer_offsets"
            ),
            Err(e) => tracing::error!(error = %e, "loading __consumer_offsets failed"),
        }
    }
    let expire_every =
        std::time::Duration::from_millis(broker.config.offsets_retention_check_interval_ms);
    let mut last_expiry = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(TICK_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        broker.groups.tick();
        if last_expiry.elapsed() >= expire_every {
            last_expiry = tokio::time::Instant::now();
            broker.groups.expire_offsets();
        }
    }
}
