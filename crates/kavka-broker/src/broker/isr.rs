//! ISR changes, both sides (Kafka's AlterPartition, key 56).
//!
//! - On the active controller: [`Broker::alter_partition`] decides a leader's requested ISR
//!   changes with `controller::alter_partition` and writes the partition records; each change
//!   is answered with the partition's new state or its error.
//! - On a partition leader: [`Broker::run_isr_checks`] looks at the partitions it leads every
//!   `ISR_CHECK_INTERVAL_MS`: a follower not caught up within `replica.lag.time.max.ms` is
//!   asked out of the ISR, a replica that caught up asked in (the request stays pending, and
//!   counts for the high watermark, until the image shows a new partition epoch). The request
//!   goes to the leader's controller listener, or straight to the function above when this
//!   node is the active controller.

use std::sync::Arc;
use std::time::Duration;

use kavka_protocol::messages::alter_partition_request::{BrokerState, PartitionData, TopicData};
use kavka_protocol::messages::{AlterPartitionRequest, BrokerId};
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

use super::Broker;
use crate::controller::alter_partition::{self, IsrChange, IsrDecision};
use crate::controller::Refusal;
use crate::forward;
use crate::replica_manager::{Partition, Role};

/// How often a leader checks its partitions' ISRs.
const ISR_CHECK_INTERVAL_MS: u64 = 250;
/// Pause after an ISR change the controller could not be asked for (a leader cut off from
/// the quorum keeps asking, not every check).
const ALTER_PARTITION_BACKOFF_MS: u64 = 1_000;
/// AlterPartition version sent (v3: the ISR with broker epochs).
const ALTER_PARTITION_VERSION: i16 = 3;

impl Broker {
    /// On the active controller: applies the ISR changes leader `broker_id` (at
    /// `broker_epoch`) asks for; each change with its outcome.
    pub fn alter_partition(
        &self,
        broker_id: i32,
        broker_epoch: i64,
        changes: Vec<IsrChange>,
    ) -> Result<Vec<IsrDecision>, Refusal> {
        self.change_metadata(false, |image| {
            alter_partition::check_broker(image, broker_id, broker_epoch)?;
            let mut records = Vec::new();
            let decisions = changes
                .into_iter()
                .map(|change| {
                    let decided = alter_partition::alter_isr(image, broker_id, &change).map(
                        |(next, record)| {
                            records.push(record);
                            next
                        },
                    );
                    (change, decided)
                })
                .collect();
            Ok((decisions, records))
        })
    }

    /// Sends ISR changes to the active controller (blocking).
    fn send_alter_partition(&self, changes: Vec<IsrChange>) -> Result<Vec<IsrDecision>, Refusal> {
        let me = self.config.node_id;
        let Some(address) = self.controller_address() else {
            return self.alter_partition(me, self.broker_epoch(), changes);
        };
        let topics = changes
            .iter()
            .map(|c| {
                TopicData::default()
                    .with_topic_id(c.topic_id)
                    .with_partitions(vec![PartitionData::default()
                        .with_partition_index(c.partition)
                        .with_leader_epoch(c.leader_epoch)
                        .with_partition_epoch(c.partition_epoch)
                        .with_new_isr_with_epochs(
                            c.new_isr
                                .iter()
                                .map(|&(id, epoch)| {
                                    BrokerState::default()
                                        .with_broker_id(BrokerId(id))
                                        .with_broker_epoch(epoch)
                                })
                                .collect(),
                        )])
            })
            .collect();
        let request = Request::AlterPartition(
            AlterPartitionRequest::default()
                .with_broker_id(BrokerId(me))
                .with_broker_epoch(self.broker_epoch())
                .with_topics(topics),
        );
        let timeout = Duration::from_millis(self.config.quorum_request_timeout_ms);
        let response = match forward::call(&address, ALTER_PARTITION_VERSION, &request, timeout)? {
            Response::AlterPartition(r) if r.error_code == 0 => r,
            Response::AlterPartition(r) => return Err(super::remote::refused(r.error_code, None)),
            other => {
                return Err((
                    ErrorCode::UNKNOWN_SERVER_ERROR,
                    format!("unexpected answer {other:?}"),
                ))
            }
        };
        // One topic entry per change was sent; answers are matched by topic id and index.
        Ok(changes
            .into_iter()
            .map(|c| {
                let answer = response
                    .topics
                    .iter()
                    .filter(|t| t.topic_id == c.topic_id)
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition_index == c.partition);
                let outcome = match answer {
                    Some(p) if p.error_code == 0 => Ok(kavka_metadata::PartitionImage {
                        replicas: Vec::new(),
                        isr: p.isr.iter().map(|b| b.0).collect(),
                        leader: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        partition_epoch: p.partition_epoch,
                        ..Default::default()
                    }),
                    Some(p) => Err(ErrorCode::from_code(p.error_code)
                        .unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR)),
                    None => Err(ErrorCode::UNKNOWN_SERVER_ERROR),
                };
                (c, outcome)
            })
            .collect())
    }

    /// The ISR changes the partitions this node leads want now.
    fn wanted_isr_changes(&self) -> Vec<(Arc<Partition>, IsrChange)> {
        let lag = Duration::from_millis(self.config.replica_lag_time_max_ms);
        self.replicas
            .all()
            .into_iter()
            .filter(|p| p.is_replicated() && p.role() == Role::Leader)
            .filter_map(|p| {
                let (new_isr, partition_epoch) = p.propose_isr(lag)?;
                let change = IsrChange {
                    topic_id: p.topic_id,
                    partition: p.index,
                    leader_epoch: p.leader_epoch(),
                    partition_epoch,
                    new_isr,
                };
                Some((p, change))
            })
            .collect()
    }

    /// Checks the ISRs of the partitions this node leads, for as long as it runs.
    pub async fn run_isr_checks(self: Arc<Self>) {
        if !self.config.roles.broker {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_millis(ISR_CHECK_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let wanted = self.wanted_isr_changes();
            if wanted.is_empty() {
                continue;
            }
            let (partitions, changes): (Vec<_>, Vec<_>) = wanted.into_iter().unzip();
            for c in &changes {
                tracing::info!(topic_id = %c.topic_id, partition = c.partition,
                    isr = ?c.new_isr.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                    "asking the controller to change the ISR");
            }
            let broker = self.clone();
            let sent =
                tokio::task::spawn_blocking(move || broker.send_alter_partition(changes)).await;
            let outcomes = match sent {
                Ok(Ok(outcomes)) => outcomes,
                Ok(Err((code, why))) => {
                    tracing::warn!(code = code.name(), %why, "ISR change not answered; asking again later");
                    partitions.iter().for_each(|p| p.clear_pending_isr());
                    tokio::time::sleep(Duration::from_millis(ALTER_PARTITION_BACKOFF_MS)).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "ISR change task failed");
                    partitions.iter().for_each(|p| p.clear_pending_isr());
                    continue;
                }
            };
            for (p, (_, outcome)) in partitions.iter().zip(outcomes) {
                if let Err(code) = outcome {
                    tracing::info!(topic = %p.topic, partition = p.index, code = code.name(), "ISR change refused");
                    p.clear_pending_isr();
                }
            }
        }
    }
}
