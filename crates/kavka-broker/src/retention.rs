//! The retention task: every `log.retention.check.interval.ms` it deletes, in each partition,
//! the whole segments past `retention.ms` or beyond `retention.bytes` (never the active one),
//! moving the log start offset.

use std::sync::Arc;
use std::time::Duration;

use crate::broker::{now_ms, Broker};

/// One retention pass over every partition.
pub fn run_once(broker: &Broker) {
    let now = now_ms();
    for p in broker.replicas.all() {
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

/// Runs retention passes forever (the task is aborted at shutdown).
pub async fn run(broker: Arc<Broker>) {
    let interval = Duration::from_millis(broker.config.log_retention_check_interval_ms);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let b = broker.clone();
        if tokio::task::spawn_blocking(move || run_once(&b))
            .await
            .is_err()
        {
            tracing::error!("retention pass panicked");
        }
    }
}
