//! Controlled shutdown: a broker stopping on SIGTERM asks the active controller to fence it
//! at once (a BrokerHeartbeat with `want_shut_down`, as a KRaft broker does; `heartbeats.rs`),
//! so clients stop being sent to it and
//! its partitions lose their leader now rather than a session timeout later. The controller
//! fences it (`controller::fencing`) and keeps it fenced, even while it is still heard, until
//! it registers with a new incarnation (its next start). The broker waits until its own image
//! shows it fenced, for at most [`SHUTDOWN_WAIT_MS_MAX`] (or its session timeout if shorter),
//! then goes on closing: a controller that cannot be reached only delays the stop, and with no
//! leader known (the controllers stopped first) there is nobody to ask.

use std::time::{Duration, Instant};

use uuid::Uuid;

use super::Broker;
use crate::controller::fencing;

/// Longest a broker waits for the controller to fence it before it stops anyway.
const SHUTDOWN_WAIT_MS_MAX: u64 = 5_000;
/// Pause between attempts.
const RETRY_MS: u64 = 100;

impl Broker {
    /// On the active controller: fences broker `id`, whose registration must be of
    /// `incarnation`, for its controlled shutdown.
    pub fn fence_for_shutdown(&self, id: i32, incarnation: Uuid) -> Result<(), String> {
        let image = self.image();
        match image.broker(id) {
            Some(b) if b.incarnation_id == incarnation => {}
            Some(_) => return Err(format!("broker {id} has registered again since")),
            None => return Err(format!("broker {id} is not registered")),
        }
        self.leaving
            .lock()
            .expect("leaving lock poisoned")
            .insert(id, incarnation);
        self.change_metadata(false, |image| Ok(((), fencing::fence_broker(image, id))))
            .map_err(|(code, why)| format!("{}: {why}", code.name()))?;
        tracing::info!(broker = id, "broker fenced for its controlled shutdown");
        Ok(())
    }

    /// Whether broker `id`'s current registration asked for its controlled shutdown.
    pub fn is_shutting_down(&self, id: i32) -> bool {
        let image = self.image();
        let Some(b) = image.broker(id) else {
            return false;
        };
        self.leaving.lock().expect("leaving lock poisoned").get(&id) == Some(&b.incarnation_id)
    }

    /// This node's controlled shutdown, when it is a broker of a quorum (blocking).
    pub fn controlled_shutdown(&self) {
        let Some(quorum) = &self.quorum else { return };
        let me = self.config.node_id;
        if !self.config.roles.broker || self.image().broker(me).is_none() || self.broker_epoch() < 0
        {
            return;
        }
        let wait = SHUTDOWN_WAIT_MS_MAX.min(self.config.broker_session_timeout_ms);
        let deadline = Instant::now() + Duration::from_millis(wait);
        let mut last_error = String::new();
        loop {
            if self.image().is_fenced(me) {
                tracing::info!("controlled shutdown: fenced by the controller");
                return;
            }
            let asked = match quorum.leader_node() {
                // Answered `should_shut_down` once fenced; this node then waits for its own
                // image to show it (above), so nothing is being applied while it closes.
                Some(_) => self
                    .send_heartbeat(true)
                    .map(|_| ())
                    .map_err(|(code, why)| format!("{}: {why}", code.name())),
                None => {
                    tracing::warn!(
                        "controlled shutdown skipped: no controller leads the quorum to ask"
                    );
                    return;
                }
            };
            if let Err(e) = asked {
                last_error = e;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    reason = %last_error,
                    "controlled shutdown not confirmed: the controller fences this broker after its session timeout"
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(RETRY_MS));
        }
    }
}
