//! BrokerRegistration (key 62) and BrokerHeartbeat (key 63), Kafka's KRaft broker lifecycle,
//! both sides.
//!
//! - On the active controller: a registration is checked against the cluster id and decided
//!   by `controller::registration` (a broker epoch, the `RegisterBrokerRecord` written);
//!   a heartbeat with the broker's current epoch is remembered (when, the metadata offset its
//!   broker holds, whether it wants to stay fenced) for `liveness.rs`, and one that says
//!   `want_shut_down` fences the broker for its controlled shutdown (`shutdown.rs`).
//! - On a broker: the registration task sends its registration until the image holds it
//!   (`register.rs`), and a heartbeat goes every `broker.heartbeat.interval.ms` once it has a
//!   broker epoch. Both go as Kafka requests to the leader's controller listener, or straight
//!   to the functions above when this node leads.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kavka_metadata::RegisterBrokerRecord;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::broker_registration_request::Listener;
use kavka_protocol::messages::{BrokerHeartbeatRequest, BrokerId, BrokerRegistrationRequest};
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

use super::Broker;
use crate::controller::registration;
use crate::controller::Refusal;
use crate::forward;

/// BrokerRegistration version sent (v4: with the previous broker epoch).
const REGISTRATION_VERSION: i16 = 4;
/// BrokerHeartbeat version sent.
const HEARTBEAT_VERSION: i16 = 1;
/// Kafka's `security_protocol` id of PLAINTEXT, the only one until security.
const PLAINTEXT_PROTOCOL_ID: i16 = 0;

/// The last heartbeat the active controller had from a broker.
#[derive(Debug, Clone, Copy)]
pub(super) struct Heartbeat {
    /// When it came.
    pub at: Instant,
    /// The metadata offset the broker's image held.
    pub offset: u64,
    /// Whether the broker asked to stay fenced (it has not caught up yet).
    pub want_fence: bool,
}

/// What the controller answers a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// The broker's image holds its own registration.
    pub is_caught_up: bool,
    /// The broker is fenced.
    pub is_fenced: bool,
    /// Its controlled shutdown is done: it may stop.
    pub should_shut_down: bool,
}

impl Broker {
    /// Refuses what only the quorum's leader may answer, on another node.
    fn check_leads(&self) -> Result<(), Refusal> {
        match &self.quorum {
            Some(q) if q.leader_node() != Some(self.config.node_id) => Err((
                ErrorCode::NOT_CONTROLLER,
                "this node is not the active controller".into(),
            )),
            _ => Ok(()),
        }
    }

    /// On the active controller: registers a broker of cluster `cluster_id`; its broker epoch.
    pub fn register_broker(
        &self,
        cluster_id: &str,
        wanted: RegisterBrokerRecord,
    ) -> Result<i64, Refusal> {
        if cluster_id != self.cluster_id() {
            return Err((
                ErrorCode::INCONSISTENT_CLUSTER_ID,
                format!(
                    "broker {} is of cluster {cluster_id}, this one is {}",
                    wanted.broker_id,
                    self.cluster_id()
                ),
            ));
        }
        let id = wanted.broker_id;
        let epoch = self.change_metadata_at(false, |image, at| {
            registration::register_broker(image, wanted, at as i64 + 1)
        })?;
        tracing::debug!(broker = id, broker_epoch = epoch, "broker registration");
        Ok(epoch)
    }

    /// On the active controller: a heartbeat of broker `id` at `broker_epoch`, its image at
    /// metadata offset `offset`.
    pub fn broker_heartbeat(
        &self,
        id: i32,
        broker_epoch: i64,
        offset: i64,
        want_fence: bool,
        want_shut_down: bool,
    ) -> Result<HeartbeatReply, Refusal> {
        self.check_leads()?;
        let incarnation = {
            let image = self.image();
            registration::check_epoch(&image, id, broker_epoch)?.incarnation_id
        };
        let heartbeat = Heartbeat {
            at: Instant::now(),
            offset: u64::try_from(offset).unwrap_or(0),
            want_fence,
        };
        self.heartbeats
            .lock()
            .expect("heartbeats lock poisoned")
            .insert(id, heartbeat);
        if want_shut_down && !self.is_shutting_down(id) {
            self.fence_for_shutdown(id, incarnation)
                .map_err(|why| (ErrorCode::REQUEST_TIMED_OUT, why))?;
        }
        let is_fenced = self.image().is_fenced(id);
        Ok(HeartbeatReply {
            is_caught_up: offset >= broker_epoch,
            is_fenced,
            should_shut_down: want_shut_down && is_fenced,
        })
    }

    /// The last heartbeat broker `id` sent this controller.
    pub(super) fn last_heartbeat(&self, id: i32) -> Option<Heartbeat> {
        self.heartbeats
            .lock()
            .expect("heartbeats lock poisoned")
            .get(&id)
            .copied()
    }

    /// This broker's epoch, once registered (-1 before).
    pub fn broker_epoch(&self) -> i64 {
        self.broker_epoch.load(Ordering::Acquire)
    }

    /// Sends this broker's registration to the active controller (blocking); its epoch.
    pub(super) fn send_registration(&self, wanted: RegisterBrokerRecord) -> Result<i64, Refusal> {
        let Some(address) = self.controller_address() else {
            return self.register_broker(self.cluster_id(), wanted);
        };
        let request = BrokerRegistrationRequest::default()
            .with_broker_id(BrokerId(wanted.broker_id))
            .with_cluster_id(StrBytes::from_string(self.cluster_id().to_string()))
            .with_incarnation_id(wanted.incarnation_id)
            .with_listeners(
                wanted
                    .endpoints
                    .iter()
                    .map(|e| {
                        Listener::default()
                            .with_name(StrBytes::from_string(e.listener.clone()))
                            .with_host(StrBytes::from_string(e.host.clone()))
                            .with_port(u16::try_from(e.port).unwrap_or(0))
                            .with_security_protocol(PLAINTEXT_PROTOCOL_ID)
                    })
                    .collect(),
            )
            .with_rack(wanted.rack.clone().map(StrBytes::from_string))
            .with_previous_broker_epoch(self.broker_epoch());
        let timeout = Duration::from_millis(self.config.quorum_request_timeout_ms);
        let request = Request::BrokerRegistration(request);
        match forward::call(&address, REGISTRATION_VERSION, &request, timeout)? {
            Response::BrokerRegistration(r) if r.error_code == 0 => Ok(r.broker_epoch),
            Response::BrokerRegistration(r) => Err(super::remote::refused(r.error_code, None)),
            other => Err((
                ErrorCode::UNKNOWN_SERVER_ERROR,
                format!("unexpected answer {other:?}"),
            )),
        }
    }

    /// Sends one heartbeat to the active controller (blocking).
    pub(super) fn send_heartbeat(&self, want_shut_down: bool) -> Result<HeartbeatReply, Refusal> {
        let epoch = self.broker_epoch();
        if epoch < 0 {
            return Err((
                ErrorCode::BROKER_ID_NOT_REGISTERED,
                "this broker has not registered yet".into(),
            ));
        }
        let offset = i64::try_from(*self.published.lock().expect("published lock poisoned"))
            .unwrap_or(i64::MAX);
        let want_fence = !self.caught_up.load(Ordering::Acquire);
        let me = self.config.node_id;
        let Some(address) = self.controller_address() else {
            return self.broker_heartbeat(me, epoch, offset, want_fence, want_shut_down);
        };
        let request = Request::BrokerHeartbeat(
            BrokerHeartbeatRequest::default()
                .with_broker_id(BrokerId(me))
                .with_broker_epoch(epoch)
                .with_current_metadata_offset(offset)
                .with_want_fence(want_fence)
                .with_want_shut_down(want_shut_down),
        );
        let timeout = Duration::from_millis(self.config.quorum_request_timeout_ms);
        match forward::call(&address, HEARTBEAT_VERSION, &request, timeout)? {
            Response::BrokerHeartbeat(r) if r.error_code == 0 => Ok(HeartbeatReply {
                is_caught_up: r.is_caught_up,
                is_fenced: r.is_fenced,
                should_shut_down: r.should_shut_down,
            }),
            Response::BrokerHeartbeat(r) => Err(super::remote::refused(r.error_code, None)),
            other => Err((
                ErrorCode::UNKNOWN_SERVER_ERROR,
                format!("unexpected answer {other:?}"),
            )),
        }
    }

    /// Heartbeats to the active controller every `broker.heartbeat.interval.ms` while this
    /// node is a registered broker of a quorum.
    pub async fn run_heartbeats(self: Arc<Self>) {
        if self.quorum.is_none() || !self.config.roles.broker {
            return;
        }
        let interval = self.config.broker_heartbeat_interval_ms.max(1);
        let mut tick = tokio::time::interval(Duration::from_millis(interval));
        loop {
            tick.tick().await;
            if self.broker_epoch() < 0 {
                continue;
            }
            let broker = self.clone();
            match tokio::task::spawn_blocking(move || broker.send_heartbeat(false)).await {
                Ok(Err((code, why))) => {
                    tracing::debug!(code = code.name(), %why, "broker heartbeat not answered")
                }
                Ok(Ok(_)) => {}
                Err(e) => tracing::error!(error = %e, "heartbeat task failed"),
            }
        }
    }
}
