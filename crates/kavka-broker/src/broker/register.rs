//! Broker registration: in a quorum of several nodes each broker registers its client
//! endpoints and rack with the active controller (BrokerRegistration with a fresh incarnation
//! id per process start; `heartbeats.rs`), which writes a `RegisterBrokerRecord` with the
//! broker's epoch, so every node's Metadata lists every broker and the controller places
//! partitions on all of them. The task retries until the image holds this incarnation, and
//! again whenever it stops holding it.

use std::sync::Arc;
use std::time::Duration;

use kavka_metadata::{BrokerEndpointRecord, RegisterBrokerRecord};

use super::Broker;

/// Where a node's controller requests go ([`Broker::controller_target`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControllerTarget {
    /// This node answers them.
    Here,
    /// The active controller's controller listener, `host:port`.
    At(String),
    /// No leader is known at the moment (an election runs, or this node has not heard from
    /// the leader yet).
    Unknown,
}
use crate::controller::registration::same_registration;

/// Pause between checks of the image for this broker's registration.
const REGISTRATION_CHECK_MS: u64 = 250;

/// A broker clients can be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    /// Node id.
    pub id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
    /// `broker.rack`.
    pub rack: Option<String>,
}

/// `b`'s endpoint on listener `listener`, if it has that listener.
fn endpoint(b: &RegisterBrokerRecord, listener: &str) -> Option<BrokerEndpoint> {
    let e = b.endpoint(listener)?;
    Some(BrokerEndpoint {
        id: b.broker_id,
        host: e.host.clone(),
        port: u16::try_from(e.port).unwrap_or(0),
        rack: b.rack.clone(),
    })
}

impl Broker {
    /// This process's registration as the image should hold it: an endpoint per client
    /// listener.
    fn registration(&self) -> RegisterBrokerRecord {
        RegisterBrokerRecord {
            broker_id: self.config.node_id,
            incarnation_id: self.incarnation,
            broker_epoch: -1,
            endpoints: self
                .advertised_listeners()
                .into_iter()
                .map(|a| BrokerEndpointRecord {
                    listener: a.name,
                    host: a.host,
                    port: i32::from(a.port),
                })
                .collect(),
            rack: self.config.rack.clone(),
        }
    }

    /// Every live broker of the cluster that has listener `listener`, by node id: the
    /// registered ones not fenced, with this node as it is now (registered or not yet) when it
    /// is a broker. Each with its endpoint on that listener (a client is told the addresses of
    /// the listener it came through, as Kafka does).
    pub fn cluster_brokers(&self, listener: &str) -> Vec<BrokerEndpoint> {
        let me = self.registration();
        let image = self.image();
        let mut brokers: Vec<BrokerEndpoint> = image
            .brokers()
            .filter(|b| b.broker_id != me.broker_id && !image.is_fenced(b.broker_id))
            .chain(self.config.roles.broker.then_some(&me))
            .filter_map(|b| endpoint(b, listener))
            .collect();
        brokers.sort_by_key(|b| b.id);
        brokers
    }

    /// The registered brokers the controller fenced (DescribeCluster v2 lists them on request),
    /// but this node, which [`Broker::cluster_brokers`] lists; on listener `listener`.
    pub fn fenced_brokers(&self, listener: &str) -> Vec<BrokerEndpoint> {
        let image = self.image();
        let me = self.config.roles.broker.then_some(self.config.node_id);
        image
            .brokers()
            .filter(|b| image.is_fenced(b.broker_id) && Some(b.broker_id) != me)
            .filter_map(|b| endpoint(b, listener))
            .collect()
    }

    /// Where this node sends controller requests: nowhere with the local log or when it leads
    /// the metadata quorum, to the leader's controller listener when another node leads.
    pub fn controller_target(&self) -> ControllerTarget {
        let Some(quorum) = &self.quorum else {
            return ControllerTarget::Here;
        };
        match quorum.leader_node() {
            None => ControllerTarget::Unknown,
            Some(id) if id == self.config.node_id => ControllerTarget::Here,
            Some(_) => match quorum.controller_address(self.config.node_id) {
                Some(address) => ControllerTarget::At(address),
                None => ControllerTarget::Unknown,
            },
        }
    }

    /// The address of the active controller when another node is it: its controller
    /// listener, which serves controller requests in the Kafka protocol as well; `None` when
    /// this node decides itself (or no leader is known).
    pub fn controller_address(&self) -> Option<String> {
        self.quorum
            .as_ref()?
            .controller_address(self.config.node_id)
    }

    /// The address of registered broker `id` on the inter-broker listener, `host:port`.
    pub fn broker_address(&self, id: i32) -> Option<String> {
        let image = self.image();
        let e = image
            .broker(id)?
            .endpoint(&self.config.inter_broker_listener)?;
        Some(crate::config::host_port(
            &e.host,
            u16::try_from(e.port).unwrap_or(0),
        ))
    }

    /// Whether client requests can be answered: a broker serves them, as Kafka's does, only
    /// once it has caught up with the metadata quorum (before, its image may be stale: it may
    /// name leaders and ISRs that changed while it was away). Waits up to `max` for that;
    /// true at once with the local log and on a controller-only node.
    pub async fn wait_caught_up(&self, max: Duration) -> bool {
        use std::sync::atomic::Ordering;
        // Every client request asks: once caught up, one atomic load and no lock.
        if !self.config.roles.broker || self.caught_up.load(Ordering::Acquire) {
            return true;
        }
        let reached = self.caught_up_reached.notified();
        tokio::pin!(reached);
        // Registered before the check: a notification between the two is not missed.
        reached.as_mut().enable();
        if self.caught_up.load(Ordering::Acquire) {
            return true;
        }
        let _ = tokio::time::timeout(max, reached).await;
        self.caught_up.load(Ordering::Acquire)
    }

    /// Marks the image caught up once it holds what the quorum had committed when this node
    /// reached it: until then a restarted broker, whose own log may miss changes made while it
    /// was away (it fenced, a partition moved), serves nothing.
    /// Blocking: a voter asks the leader.
    fn check_caught_up(&self) {
        use std::sync::atomic::Ordering;
        let Some(quorum) = &self.quorum else { return };
        let Some(target) = quorum.catch_up_target(self.config.node_id) else {
            return;
        };
        // Held throughout: no batch is published (nor a shard moved) while the coordinators
        // are attached from the image.
        let guard = self.published.lock().expect("published lock poisoned");
        let published = *guard;
        if published >= target {
            self.caught_up.store(true, Ordering::Release);
            self.caught_up_reached.notify_waiters();
            // The coordinators take the internal partitions the image now says this node
            // leads; the timer tasks replay them.
            let image = self.image();
            self.attach_group_coordinator(&image, false);
            self.attach_txn_coordinator(&image, false);
            tracing::info!(
                offset = published,
                "caught up with the metadata quorum: serving the partitions and coordinators this broker leads"
            );
        }
    }

    /// Keeps this broker registered while the node runs (nothing to do with the local log,
    /// a single node being its own cluster, nor on a controller-only node).
    pub async fn run_registration(self: Arc<Self>) {
        let Some(quorum) = &self.quorum else { return };
        if !self.config.roles.broker {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(REGISTRATION_CHECK_MS));
        let mut registered = false;
        loop {
            tick.tick().await;
            if !self.caught_up.load(std::sync::atomic::Ordering::Acquire) {
                let broker = self.clone();
                let _ = tokio::task::spawn_blocking(move || broker.check_caught_up()).await;
            }
            let wanted = self.registration();
            let held = self.image().broker(wanted.broker_id).cloned();
            let held = held.filter(|h| same_registration(h, &wanted));
            if let Some(h) = &held {
                // Also when the answer to the registration was lost.
                self.broker_epoch
                    .store(h.broker_epoch, std::sync::atomic::Ordering::Release);
            }
            if held.is_some() != registered {
                if let Some(h) = &held {
                    tracing::info!(
                        node.id = h.broker_id,
                        broker.epoch = h.broker_epoch,
                        "broker registered with the metadata quorum"
                    );
                }
                registered = held.is_some();
            }
            if held.is_some() || quorum.leader_node().is_none() {
                continue;
            }
            let broker = self.clone();
            let sent = tokio::task::spawn_blocking(move || broker.send_registration(wanted)).await;
            match sent {
                Ok(Ok(epoch)) => self
                    .broker_epoch
                    .store(epoch, std::sync::atomic::Ordering::Release),
                Ok(Err((code, why))) => {
                    tracing::debug!(code = code.name(), %why, "broker registration not answered")
                }
                Err(e) => tracing::error!(error = %e, "registration task failed"),
            }
        }
    }
}
