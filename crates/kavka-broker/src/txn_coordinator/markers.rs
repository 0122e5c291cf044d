//! Writing transaction markers: the WriteTxnMarkers path (used by that API and by this node's
//! transaction coordinator alike), and the task that writes what the coordinator asks for,
//! then completes the transaction. A marker that a partition cannot take yet is retried; one
//! for a deleted partition, or refused as older than the producer's epoch (the producer was
//! fenced meanwhile), is done, as in Kafka. A partition another broker leads gets its marker
//! through WriteTxnMarkers to that broker.

use std::sync::Arc;
use std::time::Duration;

use kavka_coordinator::txn::TxnReply;
use kavka_protocol::ErrorCode;

use crate::broker::{now_ms, Broker};
use crate::controller::CONSUMER_OFFSETS_TOPIC;

/// Pause before retrying markers a partition could not take.
const RETRY_BACKOFF_MS: u64 = 100;

/// One COMMIT/ABORT marker for one partition.
#[derive(Debug, Clone, Copy)]
pub struct Marker<'a> {
    /// The partition's topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The transaction's producer.
    pub producer_id: i64,
    /// Its epoch.
    pub epoch: i16,
    /// COMMIT (true) or ABORT.
    pub commit: bool,
    /// The coordinator's epoch.
    pub coordinator_epoch: i32,
}

/// Writes one COMMIT/ABORT marker to a partition this node hosts; Kafka's error code for it
/// (NOT_LEADER_OR_FOLLOWER when another broker leads it).
pub fn write_marker(broker: &Broker, marker: &Marker<'_>) -> ErrorCode {
    let Marker {
        topic,
        partition,
        producer_id,
        epoch,
        commit,
        coordinator_epoch,
    } = *marker;
    let image = broker.image();
    let resolved = image.topic_by_name(topic);
    let Some(p) = resolved.and_then(|t| broker.partition(&t.name, &t.topic_id, partition)) else {
        return crate::handlers::unhosted(
            resolved,
            partition,
            ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
        );
    };
    match p.append_marker(producer_id, epoch, commit, coordinator_epoch, now_ms()) {
        Ok(_) => {
            if topic == CONSUMER_OFFSETS_TOPIC {
                broker
                    .groups()
                    .marker_written(partition, producer_id, commit);
            }
            ErrorCode::NONE
        }
        Err(e) => {
            tracing::debug!(topic, partition, producer_id, error = %e, "marker refused");
            e.code()
        }
    }
}

/// Writes one marker for this node's coordinator: here when this node hosts the partition,
/// else with WriteTxnMarkers to the broker leading it (as Kafka's coordinator does).
fn write_marker_anywhere(broker: &Broker, marker: &Marker<'_>) -> ErrorCode {
    match write_marker(broker, marker) {
        ErrorCode::NOT_LEADER_OR_FOLLOWER => broker.write_marker_at_leader(marker),
        code => code,
    }
}

/// Writes a request's markers; what is left to retry, if anything.
fn write_all(broker: &Broker, reply: TxnReply) -> Option<TxnReply> {
    let TxnReply::WriteMarkers {
        transactional_id,
        producer_id,
        producer_epoch,
        commit,
        partitions,
    } = reply;
    let mut left = Vec::new();
    for (topic, partition) in partitions {
        let marker = Marker {
            topic: &topic,
            partition,
            producer_id,
            epoch: producer_epoch,
            commit,
            coordinator_epoch: 0,
        };
        let code = write_marker_anywhere(broker, &marker);
        match code {
            ErrorCode::NONE
            | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            | ErrorCode::INVALID_PRODUCER_EPOCH => {}
            other => {
                tracing::warn!(%transactional_id, topic = %topic, partition, error = ?other, "marker not written; retrying");
                left.push((topic, partition));
            }
        }
    }
    if left.is_empty() {
        broker
            .txns()
            .complete(&transactional_id, producer_id, producer_epoch);
        None
    } else {
        Some(TxnReply::WriteMarkers {
            transactional_id,
            producer_id,
            producer_epoch,
            commit,
            partitions: left,
        })
    }
}

/// Writes the markers the transaction coordinator asks for, one request at a time, off the
/// async workers (markers may fsync).
pub async fn run(broker: Arc<Broker>) {
    let Some(mut queue) = broker.txns().take_marker_queue() else {
        return;
    };
    while let Some(reply) = queue.recv().await {
        let b = broker.clone();
        match tokio::task::spawn_blocking(move || write_all(&b, reply)).await {
            Ok(None) => {}
            Ok(Some(left)) => {
                tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                broker.txns().retry_markers(left);
            }
            Err(e) => tracing::error!(error = %e, "writing transaction markers panicked"),
        }
    }
}

/// Loads `__transaction_state` (if it exists) and runs the coordinator's deadlines.
pub async fn run_timers(broker: Arc<Broker>) {
    if broker.txns().is_attached() {
        let b = broker.clone();
        match tokio::task::spawn_blocking(move || b.txns().load()).await {
            Ok(records) => tracing::info!(
                records,
                "transaction coordinator loaded __transaction_state"
            ),
            Err(e) => tracing::error!(error = %e, "loading __transaction_state failed"),
        }
    }
    let mut tick = tokio::time::interval(Duration::from_millis(TICK_INTERVAL_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let b = broker.clone();
        let pass = tokio::task::spawn_blocking(move || {
            // Shards taken since (this node became a partition's leader) are replayed first.
            if b.txns().needs_load() {
                let records = b.txns().load();
                tracing::info!(
                    records,
                    "transaction coordinator loaded the partitions it now leads"
                );
            }
            b.txns().tick()
        });
        if pass.await.is_err() {
            tracing::error!("transaction coordinator timer pass panicked");
        }
    }
}

/// How often transaction timeouts are checked.
const TICK_INTERVAL_MS: u64 = 200;
