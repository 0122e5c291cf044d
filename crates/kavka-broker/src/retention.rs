//! The retention task: every `log.retention.check.interval.ms` it deletes, in each partition,
//! the whole segments past `retention.ms` or beyond `retention.bytes` (never the active one),
//! moving the log start offset. A second task forgets idempotent producers idle for
//! `producer.id.expiration.ms`, every `producer.id.expiration.check.interval.ms`.

use std::sync::Arc;
use std::time::Duration;

use crate::broker::{now_ms, Broker};

/// One retention pass over every partition.
pub fn run_once(broker: &Broker) {
    let now = now_ms();
    for p in broker.partitions() {
        match p.apply_retention(now) {
            Ok(outcome) if outcome.deleted_segments > 0 => tracing::info!(
                topic = %p.topic,
                partition = p.index,
                deleted_segments = outcome.deleted_segments,
                deleted_bytes = outcome.deleted_bytes,
                log_start_offset = outcome.log_start_offset,
                "retention deleted segments"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
            }
        }
    }
}

/// Forgets, in every partition, the producers idle for `producer.id.expiration.ms`.
pub fn expire_producers_once(broker: &Broker) {
    let now = now_ms();
    let expiration_ms =
        i64::try_from(broker.config().producer_id_expiration_ms).unwrap_or(i64::MAX);
    for p in broker.partitions() {
        match p.expire_producers(now, expiration_ms) {
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!(topic = %p.topic, partition = p.index, expired = n, "idle producers expired")
            }
            Err(e) => {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "producer expiry skipped")
            }
        }
    }
}

/// Runs `pass` off the async workers every `interval_ms`, forever (aborted at shutdown).
async fn every(broker: Arc<Broker>, interval_ms: u64, what: &'static str, pass: fn(&Broker)) {
    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let b = broker.clone();
        if tokio::task::spawn_blocking(move || pass(&b)).await.is_err() {
            tracing::error!("{what} pass panicked");
        }
    }
}

/// Runs retention passes forever (the task is aborted at shutdown).
pub async fn run(broker: Arc<Broker>) {
    let interval_ms = broker.config().log_retention_check_interval_ms;
    every(broker, interval_ms, "retention", run_once).await
}

/// Runs producer expiry passes forever (the task is aborted at shutdown).
pub async fn run_producer_expiration(broker: Arc<Broker>) {
    let interval_ms = broker.config().producer_id_expiration_check_interval_ms;
    every(
        broker,
        interval_ms,
        "producer expiry",
        expire_producers_once,
    )
    .await
}
