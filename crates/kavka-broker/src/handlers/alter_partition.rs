//! AlterPartition (key 56, v2-3): a partition leader asks the active controller to change its
//! ISR (`broker/isr.rs`, decided by `controller/alter_partition.rs`). The whole request is
//! refused with STALE_BROKER_EPOCH for a stale leader; each partition is answered with its new
//! state (leader, leader epoch, ISR, partition epoch) or its error. v2 names the new ISR by id
//! only (any broker epoch accepted), v3 with each member's broker epoch. Forwarded to the
//! active controller like the other controller APIs.

use kavka_protocol::messages::alter_partition_response::{PartitionData, TopicData};
use kavka_protocol::messages::{AlterPartitionRequest, AlterPartitionResponse, BrokerId};

use super::RequestContext;
use crate::controller::alter_partition::IsrChange;

/// Handles AlterPartition.
pub fn handle(ctx: &RequestContext<'_>, request: AlterPartitionRequest) -> AlterPartitionResponse {
    let with_epochs = ctx.version() >= 3;
    let changes: Vec<IsrChange> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| IsrChange {
                topic_id: t.topic_id,
                partition: p.partition_index,
                leader_epoch: p.leader_epoch,
                partition_epoch: p.partition_epoch,
                new_isr: if with_epochs {
                    p.new_isr_with_epochs
                        .iter()
                        .map(|b| (b.broker_id.0, b.broker_epoch))
                        .collect()
                } else {
                    p.new_isr.iter().map(|b| (b.0, -1)).collect()
                },
            })
        })
        .collect();
    let decisions =
        match ctx
            .broker
            .alter_partition(request.broker_id.0, request.broker_epoch, changes)
        {
            Ok(d) => d,
            Err((code, _)) => {
                return AlterPartitionResponse::default().with_error_code(code.code())
            }
        };
    let mut topics: Vec<TopicData> = Vec::new();
    for (change, decided) in decisions {
        let data = match decided {
            Ok(next) => PartitionData::default()
                .with_partition_index(change.partition)
                .with_leader_id(BrokerId(next.leader))
                .with_leader_epoch(next.leader_epoch)
                .with_isr(next.isr.iter().map(|&b| BrokerId(b)).collect())
                .with_partition_epoch(next.partition_epoch),
            Err(code) => PartitionData::default()
                .with_partition_index(change.partition)
                .with_error_code(code.code())
                .with_leader_id(BrokerId(-1)),
        };
        match topics.iter_mut().find(|t| t.topic_id == change.topic_id) {
            Some(t) => t.partitions.push(data),
            None => topics.push(
                TopicData::default()
                    .with_topic_id(change.topic_id)
                    .with_partitions(vec![data]),
            ),
        }
    }
    AlterPartitionResponse::default().with_topics(topics)
}
