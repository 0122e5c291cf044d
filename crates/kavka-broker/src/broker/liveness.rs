//! Broker liveness, decided by the active controller: a leader hears from each live follower
//! at every heartbeat and from each live observer (broker-only node) at every fetch, which
//! it holds no longer than half a second, so a broker not heard from for
//! `broker.session.timeout.ms` is fenced (`controller::fencing`: it leads nothing, clients are
//! not sent to it) and unfenced once heard again. The check runs every
//! `broker.heartbeat.interval.ms` or 250 ms, whichever is shorter; a new leader gives every
//! broker a full session first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Broker;
use crate::controller::fencing;
use crate::quorum::raft_id;

/// Longest pause between two liveness checks, whatever `broker.heartbeat.interval.ms` says.
const LIVENESS_CHECK_MS_MAX: u64 = 250;

impl Broker {
    /// Fences and unfences brokers while this node leads the quorum (nothing to do with the
    /// local log).
    pub async fn run_fencing(self: Arc<Self>) {
        let Some(quorum) = &self.quorum else { return };
        let me = self.config.node_id;
        let session = Duration::from_millis(self.config.broker_session_timeout_ms);
        // Brokers are heard far more often than this (every Raft heartbeat, every observer
        // fetch): checking often unfences a restarted broker soon after it is back.
        let mut tick = tokio::time::interval(Duration::from_millis(
            self.config
                .broker_heartbeat_interval_ms
                .min(LIVENESS_CHECK_MS_MAX),
        ));
        // The term this node leads and since when.
        let mut leading: Option<(u64, Instant)> = None;
        loop {
            tick.tick().await;
            let status = quorum.status();
            if status.leader != Some(raft_id(me)) {
                leading = None;
                continue;
            }
            let since = match leading {
                Some((term, at)) if term == status.term => at,
                _ => leading.insert((status.term, Instant::now())).1,
            };
            let image = self.image();
            for b in image.brokers().map(|b| b.broker_id) {
                // Silent, or fenced for its controlled shutdown and not started again.
                let silent = b != me
                    && (self.is_shutting_down(b)
                        || since.elapsed() > session
                            && quorum
                                .heard_from(raft_id(b))
                                .is_none_or(|ago| ago > session));
                let fenced = image.is_fenced(b);
                if silent == fenced {
                    continue;
                }
                let broker = self.clone();
                let changed = tokio::task::spawn_blocking(move || {
                    broker.change_metadata(false, |image| {
                        let records = if silent {
                            fencing::fence_broker(image, b)
                        } else {
                            fencing::unfence_broker(image, b)
                        };
                        Ok(((), records))
                    })
                })
                .await;
                match changed {
                    Ok(Ok(())) if silent => tracing::warn!(
                        broker = b,
                        session_timeout_ms = session.as_millis() as u64,
                        "broker fenced: not heard from within the session timeout; its partitions have no leader"
                    ),
                    Ok(Ok(())) => tracing::info!(broker = b, "broker unfenced: heard from again"),
                    Ok(Err((code, why))) => {
                        tracing::debug!(broker = b, code = code.name(), %why, "fencing change not made")
                    }
                    Err(e) => tracing::error!(error = %e, "fencing task failed"),
                }
            }
        }
    }
}
