//! The coordinator's background work: the shards' deadlines (session, rebalance and sync
//! timeouts) and the expiry of old committed offsets, after the start-up load.

use std::sync::Arc;

use super::GroupCoordinator;

/// How often the shards' deadlines are checked (session and rebalance timeouts are this precise).
const TICK_INTERVAL_MS: u64 = 50;

impl GroupCoordinator {
    /// Runs the deadlines that have passed in every shard (blocking).
    pub fn tick(&self) {
        self.runtime.tick();
    }

    /// A transaction marker was written to `__consumer_offsets` partition `index`: the
    /// transaction's pending offsets there are committed or dropped.
    pub fn marker_written(&self, index: i32, producer_id: i64, commit: bool) {
        if let Ok(index) = usize::try_from(index) {
            self.runtime.marker_written(index, producer_id, commit);
        }
    }

    /// Deletes every group's committed offsets of a deleted topic (blocking).
    pub fn delete_topic_offsets(&self, topic: &str) {
        let records = self
            .runtime
            .for_each_shard(|machine, _| machine.delete_topic_offsets(topic));
        if records > 0 {
            tracing::info!(
                topic,
                offsets = records,
                "deleted the committed offsets of a deleted topic"
            );
        }
    }

    /// Expires old offsets in every shard (blocking).
    pub fn expire_offsets(&self) {
        let records = self
            .runtime
            .for_each_shard(|machine, now| machine.expire_offsets(now));
        if records > 0 {
            tracing::info!(records, "expired committed offsets");
        }
    }
}

/// The coordinator's background work: replays the partitions of an existing
/// `__consumer_offsets` (requests get COORDINATOR_LOAD_IN_PROGRESS until then), then runs the
/// shards' deadlines every [`TICK_INTERVAL_MS`] and expires old offsets every
/// `offsets.retention.check.interval.ms`.
pub async fn run_timers(broker: Arc<crate::broker::Broker>) {
    if broker.groups().is_attached() {
        let b = broker.clone();
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || b.groups().load()).await {
            Ok(records) => tracing::info!(
                records,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "group coordinator loaded __consumer_offsets"
            ),
            Err(e) => tracing::error!(error = %e, "loading __consumer_offsets failed"),
        }
    }
    let expire_every =
        std::time::Duration::from_millis(broker.config().offsets_retention_check_interval_ms);
    let mut last_expiry = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(TICK_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let expire = last_expiry.elapsed() >= expire_every;
        if expire {
            last_expiry = tokio::time::Instant::now();
        }
        // Deadlines and expiry append (and may fsync): off the async workers.
        let b = broker.clone();
        let pass = tokio::task::spawn_blocking(move || {
            // Shards taken since (this node became a partition's leader) are replayed first.
            if b.groups().needs_load() {
                let records = b.groups().load();
                tracing::info!(
                    records,
                    "group coordinator loaded the partitions it now leads"
                );
            }
            b.groups().tick();
            if expire {
                b.groups().expire_offsets();
            }
        });
        if pass.await.is_err() {
            tracing::error!("group coordinator timer pass panicked");
        }
    }
}
