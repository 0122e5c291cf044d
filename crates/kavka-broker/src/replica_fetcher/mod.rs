//! Followers copy their leaders (Kafka's replica fetcher threads). One task per leader this
//! node follows partitions of sends Fetch v15 (its replica id and broker epoch in the replica
//! state) for all of them, each from its log end with the epoch of its last batch, and:
//! - appends the batches the leader returns as they are (same offsets and leader epochs:
//!   `Partition::append_as_follower`) and takes the leader's high watermark;
//! - when the leader answers a diverging epoch (this log holds records the leader's does not:
//!   it led, or followed a leader, whose last writes were never committed), truncates to where
//!   the two logs agree and fetches again from there;
//! - backs off `replica.fetch.backoff.ms` after a failure: the whole task when the exchange
//!   with the leader failed, only the partition when the leader refused that partition (as
//!   Kafka's fetcher delays the partitions in error): a partition the leader does not know
//!   yet, while a new topic's metadata spreads, must not hold back the others' replication,
//!   and with it every acks=all produce on this leader; a partition whose leader changes is
//!   picked up by the new leader's task.
//!
//! Each task keeps a fetch session with its leader (`session.rs`, KIP-227): after the first
//! full fetch it names only the partitions whose position moved, and the leader answers only
//! for partitions with news, so partitions that see no writes cost next to nothing.
//!
//! The supervisor ([`run`]) starts a task when a partition starts following a leader no task
//! fetches from; a task ends when no partition follows its leader any more.

mod peer;
mod session;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kavka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
};
use kavka_protocol::messages::fetch_response::PartitionData;
use kavka_protocol::messages::{BrokerId, FetchRequest};
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

use crate::broker::{now_ms, Broker};
use crate::fetch_session::FetchParams;
use crate::replica_manager::{Partition, Role};
use peer::Peer;
use session::{Key, Planned, SessionHandler};

/// Fetch version a follower sends (v15: replica state with the broker epoch).
const FETCH_VERSION: i16 = 15;
/// How often the supervisor looks for leaders to fetch from.
const SUPERVISE_INTERVAL_MS: u64 = 100;
/// The pause of a fetcher whose every partition is held back by the follower throttle.
const THROTTLED_PAUSE_MS: u64 = 100;
/// Time allowed for a leader's answer beyond the fetch's own wait.
const ANSWER_TIMEOUT_MS: u64 = 30_000;

/// Starts and ends the fetcher tasks, for as long as the node runs.
pub async fn run(broker: Arc<Broker>) {
    if !broker.config().roles.broker {
        return;
    }
    let mut tasks: HashMap<i32, tokio::task::JoinHandle<()>> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(SUPERVISE_INTERVAL_MS));
    loop {
        tick.tick().await;
        tasks.retain(|_, t| !t.is_finished());
        for p in broker.partitions() {
            if let Role::Follower { leader } = p.role() {
                tasks
                    .entry(leader)
                    .or_insert_with(|| tokio::spawn(fetch_from(broker.clone(), leader)));
            }
        }
    }
}

/// The partitions this node follows `leader` for.
fn following(broker: &Broker, leader: i32) -> Vec<Arc<Partition>> {
    broker
        .partitions()
        .into_iter()
        .filter(|p| p.role() == Role::Follower { leader })
        .collect()
}

/// Whether this node's fetches of `p` are under the follower's replication throttle: a rate
/// is set, the topic's `follower.replication.throttled.replicas` lists this node, and it is
/// out of the ISR.
fn throttled(broker: &Broker, image: &kavka_metadata::MetadataImage, p: &Partition) -> bool {
    if broker.replication_quotas().1.rate().is_none() {
        return false;
    }
    let me = broker.config().node_id;
    let listed = image
        .topic_configs(&p.topic)
        .and_then(|c| c.get("follower.replication.throttled.replicas"))
        .is_some_and(|list| crate::replica_manager::quota::lists(list, p.index, me));
    listed && !p.isr_state().0.contains(&me)
}

/// Every followed partition with its position: its log end and the epoch of its last batch.
/// A throttled partition is left out while the follower's throttle is exceeded, and one the
/// leader refused until its back-off ends (the session forgets it until it is asked for
/// again).
fn positions(
    broker: &Broker,
    partitions: &[Arc<Partition>],
    backing_off: &HashMap<Key, Instant>,
) -> Vec<(Key, FetchParams)> {
    let max_bytes = i32::try_from(broker.config().replica_fetch_max_bytes).unwrap_or(i32::MAX);
    let image = broker.image();
    let now = u64::try_from(now_ms()).unwrap_or(0);
    let exceeded = broker.replication_quotas().1.is_exceeded(now);
    let instant = Instant::now();
    partitions
        .iter()
        .filter(|p| !(exceeded && throttled(broker, &image, p)))
        .filter(|p| {
            backing_off
                .get(&(p.topic_id, p.index))
                .is_none_or(|until| *until <= instant)
        })
        .filter_map(|p| {
            let (log_end, last_epoch) = p.fetch_position().ok()?;
            let params = FetchParams {
                fetch_offset: log_end,
                current_leader_epoch: p.leader_epoch(),
                last_fetched_epoch: last_epoch,
                log_start_offset: -1,
                max_bytes,
            };
            Some(((p.topic_id, p.index), params))
        })
        .collect()
}

/// The Fetch request of `planned`.
fn fetch_request(broker: &Broker, planned: &Planned) -> FetchRequest {
    let config = broker.config();
    let mut topics: Vec<FetchTopic> = Vec::new();
    for &((topic_id, index), params) in &planned.partitions {
        let fetch = FetchPartition::default()
            .with_partition(index)
            .with_current_leader_epoch(params.current_leader_epoch)
            .with_fetch_offset(params.fetch_offset)
            .with_last_fetched_epoch(params.last_fetched_epoch)
            .with_log_start_offset(params.log_start_offset)
            .with_partition_max_bytes(params.max_bytes);
        match topics.iter_mut().find(|t| t.topic_id == topic_id) {
            Some(t) => t.partitions.push(fetch),
            None => topics.push(
                FetchTopic::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![fetch]),
            ),
        }
    }
    let mut forgotten: Vec<ForgottenTopic> = Vec::new();
    for &(topic_id, index) in &planned.forgotten {
        match forgotten.iter_mut().find(|t| t.topic_id == topic_id) {
            Some(t) => t.partitions.push(index),
            None => forgotten.push(
                ForgottenTopic::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![index]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(config.node_id))
                .with_replica_epoch(broker.broker_epoch()),
        )
        .with_max_wait_ms(i32::try_from(config.replica_fetch_wait_max_ms).unwrap_or(i32::MAX))
        .with_min_bytes(1)
        .with_max_bytes(i32::try_from(config.replica_fetch_response_max_bytes).unwrap_or(i32::MAX))
        .with_isolation_level(0)
        .with_session_id(planned.session_id)
        .with_session_epoch(planned.epoch)
        .with_topics(topics)
        .with_forgotten_topics_data(forgotten)
}

/// Fetches from `leader` while partitions follow it.
async fn fetch_from(broker: Arc<Broker>, leader: i32) {
    let backoff = Duration::from_millis(broker.config().replica_fetch_backoff_ms);
    let timeout =
        Duration::from_millis(broker.config().replica_fetch_wait_max_ms + ANSWER_TIMEOUT_MS);
    let mut peer: Option<Peer> = None;
    let mut session = SessionHandler::default();
    // Partitions the leader refused, until when they are left out.
    let mut backing_off: HashMap<Key, Instant> = HashMap::new();
    tracing::info!(leader, "replica fetcher started");
    loop {
        let partitions = following(&broker, leader);
        if partitions.is_empty() {
            tracing::info!(
                leader,
                "replica fetcher stopped: no partition follows this leader"
            );
            return;
        }
        let Some(address) = broker.broker_address(leader) else {
            tokio::time::sleep(backoff).await;
            continue;
        };
        if peer.as_ref().is_some_and(|p| p.address != address) {
            peer = None;
        }
        if peer.is_none() {
            match Peer::connect(&address, timeout).await {
                Ok(p) => peer = Some(p),
                Err(e) => {
                    tracing::debug!(leader, %address, error = %e, "cannot reach the leader");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        let now = Instant::now();
        backing_off.retain(|_, until| *until > now);
        let wanted = positions(&broker, &partitions, &backing_off);
        if wanted.is_empty() {
            // Every partition is held back by the throttle, backing off or unreadable: wait a
            // little.
            tokio::time::sleep(Duration::from_millis(THROTTLED_PAUSE_MS)).await;
            continue;
        }
        let planned = session.plan(wanted);
        let request = Request::Fetch(fetch_request(&broker, &planned));
        let conn = peer.as_mut().expect("connected above");
        let response = match conn.call(FETCH_VERSION, &request, timeout).await {
            Ok(Response::Fetch(r)) => r,
            Ok(other) => {
                tracing::warn!(leader, "unexpected answer to a replica fetch: {other:?}");
                peer = None;
                session.reset();
                tokio::time::sleep(backoff).await;
                continue;
            }
            Err(e) => {
                tracing::debug!(leader, error = %e, "replica fetch failed");
                peer = None;
                session.reset();
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let code =
            ErrorCode::from_code(response.error_code).unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR);
        if !session.answered(planned, code, response.session_id) {
            tokio::time::sleep(backoff).await;
            continue;
        }
        for topic in &response.responses {
            for data in &topic.partitions {
                let Some(p) = partitions
                    .iter()
                    .find(|p| p.topic_id == topic.topic_id && p.index == data.partition_index)
                else {
                    continue;
                };
                if p.role() != (Role::Follower { leader }) {
                    continue;
                }
                if throttled(&broker, &broker.image(), p) {
                    let bytes = data.records.as_ref().map_or(0, |r| r.len() as u64);
                    let now = u64::try_from(now_ms()).unwrap_or(0);
                    broker.replication_quotas().1.record(bytes, now);
                }
                if !take(p, data) {
                    backing_off.insert((p.topic_id, p.index), Instant::now() + backoff);
                }
            }
        }
    }
}

/// Takes one partition's answer; false when it failed (the partition backs off).
fn take(p: &Partition, data: &PartitionData) -> bool {
    let code = ErrorCode::from_code(data.error_code).unwrap_or(ErrorCode::UNKNOWN_SERVER_ERROR);
    if code == ErrorCode::OFFSET_OUT_OF_RANGE {
        return below_leaders_start(p, data.log_start_offset);
    }
    if code != ErrorCode::NONE {
        tracing::debug!(topic = %p.topic, partition = p.index, code = code.name(), "replica fetch refused");
        return false;
    }
    let diverging = &data.diverging_epoch;
    if diverging.epoch >= 0 && diverging.end_offset >= 0 {
        return truncate_diverged(p, diverging.epoch, diverging.end_offset);
    }
    let records = data.records.as_deref().unwrap_or(&[]);
    match p.append_as_follower(records, data.high_watermark, now_ms()) {
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "cannot append the leader's batches");
            false
        }
    }
}

/// A fetch offset the leader no longer has: when this log ends below the leader's log start
/// (retention or DeleteRecords moved it while this replica was away, or this replica is new),
/// it restarts empty there (Kafka's `truncateFullyAndStartAt`); false otherwise (the task backs
/// off and asks again).
fn below_leaders_start(p: &Partition, leader_log_start: i64) -> bool {
    let Ok((log_end, _)) = p.fetch_position() else {
        return false;
    };
    if leader_log_start <= log_end {
        tracing::warn!(topic = %p.topic, partition = p.index, log_end, leader_log_start, "fetch offset out of range on the leader");
        return false;
    }
    match p.truncate_fully_and_start_at(leader_log_start) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "cannot restart the log at the leader's start");
            false
        }
    }
}

/// Truncates a log that diverged from its leader's: to the end of the leader's `epoch`
/// (`end_offset`), or this log's end of that epoch if sooner.
fn truncate_diverged(p: &Partition, epoch: i32, end_offset: i64) -> bool {
    let own_end = match p.end_offset_for_epoch(epoch) {
        Ok((found, end, _)) if found >= 0 && end >= 0 => end,
        Ok(_) => end_offset,
        Err(e) => {
            tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "cannot read the epochs");
            return false;
        }
    };
    let target = own_end.min(end_offset);
    match p.truncate_to(target) {
        Ok(end) => {
            tracing::info!(topic = %p.topic, partition = p.index, epoch, offset = end,
                "truncated a diverged log to the leader's");
            true
        }
        Err(e) => {
            tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "cannot truncate");
            false
        }
    }
}
