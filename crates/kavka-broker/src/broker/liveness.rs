//! Broker liveness, decided by the active controller: it hears from each broker at every
//! BrokerHeartbeat (`heartbeats.rs`), and also from each live follower at every Raft heartbeat
//! and from each live observer (broker-only node) at every fetch, which it holds no longer
//! than half a second. A broker not heard from for `broker.session.timeout.ms` is fenced
//! (`controller::fencing`: it leads nothing, clients are not sent to it) and unfenced once
//! heard again and caught up (it holds every metadata batch committed when it was heard
//! again, as its heartbeats, Raft progress or fetches show, and its last heartbeat did not
//! ask to stay fenced). The check runs every `broker.heartbeat.interval.ms` or 250 ms,
//! whichever is shorter; a new leader gives every broker a full session first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Broker;
use crate::controller::fencing;
use crate::quorum::raft_id;

/// The last metadata offset voter or observer `id` is known to hold, as the leader sees it.
fn position(status: &kavka_quorum::raft::QuorumStatus, id: u64) -> Option<u64> {
    status
        .progress
        .iter()
        .find(|&&(v, _)| v == id)
        .map(|&(_, matched)| matched)
        .or_else(|| status.observers.iter().find(|o| o.0 == id).map(|o| o.1))
}

/// The later of two optional values.
fn later<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    a.into_iter().chain(b).max()
}

/// Whether a broker's fencing changes now: a silent unfenced broker is fenced; a fenced one
/// heard again is unfenced once the offset it holds (`held`) reaches `target`, what was
/// committed when it was heard again.
fn should_change(silent: bool, fenced: bool, held: Option<u64>, target: Option<u64>) -> bool {
    match (silent, fenced) {
        (true, false) => true,
        (false, true) => held
            .zip(target)
            .is_some_and(|(held, target)| held >= target),
        _ => false,
    }
}

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
        // Per fenced broker heard again: the commit index it must reach to be unfenced.
        let mut catch_up: HashMap<i32, u64> = HashMap::new();
        let balance_every = Duration::from_secs(self.config.leader_imbalance_check_interval_s);
        let mut balanced_at = Instant::now();
        loop {
            tick.tick().await;
            let status = quorum.status();
            if status.leader != Some(raft_id(me)) {
                leading = None;
                continue;
            }
            let since = match leading {
                Some((term, at)) if term == status.term => at,
                _ => {
                    catch_up.clear();
                    balanced_at = Instant::now();
                    leading.insert((status.term, Instant::now())).1
                }
            };
            let image = self.image();
            for b in image.brokers().map(|b| b.broker_id) {
                let heartbeat = self.last_heartbeat(b);
                // How long since the broker was last heard: the shorter of its heartbeats'
                // and its Raft traffic's silence.
                let quiet = [
                    quorum.heard_from(raft_id(b)),
                    heartbeat.map(|h| h.at.elapsed()),
                ]
                .into_iter()
                .flatten()
                .min();
                // Silent, or fenced for its controlled shutdown and not started again.
                let silent = b != me
                    && (self.is_shutting_down(b)
                        || since.elapsed() > session && quiet.is_none_or(|ago| ago > session));
                let fenced = image.is_fenced(b);
                if silent == fenced {
                    catch_up.remove(&b);
                    continue;
                }
                // Heard again while fenced: the commit index it must reach first.
                let target = fenced.then(|| *catch_up.entry(b).or_insert(status.commit));
                let held = later(position(&status, raft_id(b)), heartbeat.map(|h| h.offset));
                if heartbeat.is_some_and(|h| h.want_fence) && !silent
                    || !should_change(silent, fenced, held, target)
                {
                    continue;
                }
                catch_up.remove(&b);
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
            let broker = self.clone();
            let _ = tokio::task::spawn_blocking(move || broker.elect_unclean_leaders()).await;
            // A new leader waits one interval too: brokers come back meanwhile.
            if self.config.auto_leader_rebalance && balanced_at.elapsed() >= balance_every {
                balanced_at = Instant::now();
                let broker = self.clone();
                let _ = tokio::task::spawn_blocking(move || broker.balance_leaders()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::should_change;

    #[test]
    fn a_broker_is_unfenced_only_once_caught_up() {
        assert!(should_change(true, false, None, None), "silent: fenced");
        assert!(!should_change(true, true, None, None), "already fenced");
        assert!(
            !should_change(false, false, Some(3), None),
            "alive and unfenced"
        );
        assert!(
            !should_change(false, true, None, Some(9)),
            "position unknown yet"
        );
        assert!(
            !should_change(false, true, Some(8), Some(9)),
            "still behind"
        );
        assert!(should_change(false, true, Some(9), Some(9)), "caught up");
        assert!(should_change(false, true, Some(12), Some(9)));
    }
}
