//! Fetch (key 1): serves stored batches as they are on disk. Consumers read below the high
//! watermark; read_committed fetches stop at the last stable offset and carry the aborted
//! transactions their data overlaps. A follower (a replica id: v15+ in its replica state)
//! reads the whole log, and its fetch offset tells the leader its log end, which moves the
//! high watermark (`replica_manager/replicated.rs`). A fetch that finds fewer than
//! `min_bytes` waits (woken by a change of a partition it reads: `purgatory`) until it has them
//! or `max_wait_ms` passes.
//!
//! A fetch (v12+) naming the leader epoch of the last batch it fetched is checked against the
//! log's epochs first (KIP-320; the follower truncation of KIP-595 later): when that epoch ends
//! on this log before the fetch offset, or this log has an older epoch there, the answer is the
//! diverging epoch (`epoch`, `end_offset`) and no records, for the fetcher to go back to; an
//! epoch the log cannot place is OFFSET_OUT_OF_RANGE.
//!
//! Fetch sessions (KIP-227, v7+: `fetch_session`): a full fetch with session epoch 0 opens a
//! session when the cache has room; an incremental fetch reads every partition of its session
//! (updated by the request) and its answer carries only the partitions with news. Planning is
//! in `fetch_plan.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kavka_protocol::messages::fetch_response::FetchableTopicResponse;
use kavka_protocol::messages::{FetchRequest, FetchResponse};

use super::fetch_plan::{plan, Item, Planned, Reader};
use super::fetch_quiet::Hints;
use super::RequestContext;
use crate::broker::now_ms;
use crate::fetch_session::{
    Answer, FetchContext, FetchParams, PartitionKey, SessionRequest, TopicKey,
};
use crate::purgatory::DelayedFetch;
use crate::replica_manager::{Partition, ReadPlan};

/// Upper bound on `max_wait_ms`, so that a hostile value cannot park a connection for days.
const MAX_WAIT_MS_MAX: i32 = 5 * 60 * 1000;

/// The data of a completed fetch, per topic and partition, still in the segment files: the
/// connection sends it with `sendfile` (or reads it, when it cannot).
pub type FetchReads = Vec<Vec<Option<(Arc<Partition>, ReadPlan)>>>;

/// The partitions a request names, with what it asks of each, in its order.
fn requested(request: &FetchRequest, by_id: bool) -> Vec<Item> {
    let mut items = Vec::new();
    for topic in &request.topics {
        let key = topic_key(by_id, &topic.topic_id, topic.topic.0.as_str());
        for p in &topic.partitions {
            let params = FetchParams {
                fetch_offset: p.fetch_offset,
                current_leader_epoch: p.current_leader_epoch,
                last_fetched_epoch: p.last_fetched_epoch,
                log_start_offset: p.log_start_offset,
                max_bytes: p.partition_max_bytes,
            };
            let key = PartitionKey {
                topic: key.clone(),
                partition: p.partition,
            };
            items.push((key, params));
        }
    }
    items
}

fn topic_key(by_id: bool, id: &uuid::Uuid, name: &str) -> TopicKey {
    if by_id {
        TopicKey::Id(*id)
    } else {
        TopicKey::Name(Arc::from(name))
    }
}

/// The partitions an incremental request removes from its session.
fn forgotten(request: &FetchRequest, by_id: bool) -> Vec<PartitionKey> {
    request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            let key = topic_key(by_id, &t.topic_id, t.topic.0.as_str());
            t.partitions.iter().map(move |&partition| PartitionKey {
                topic: key.clone(),
                partition,
            })
        })
        .collect()
}

/// What a session compares of a planned partition.
fn answer(p: &Planned) -> Answer {
    Answer {
        has_records: p.read.as_ref().is_some_and(|(_, r)| !r.is_empty()),
        high_watermark: p.data.high_watermark,
        log_start_offset: p.data.log_start_offset,
        error: p.data.error_code != 0,
        diverging: p.data.diverging_epoch.epoch >= 0,
        quiet: p.quiet.clone(),
    }
}

/// Builds the response topics from the planned partitions that are carried (consecutive
/// partitions of one topic share a topic entry; records left out where a read is planned) and
/// the reads.
fn complete(
    items: Vec<Item>,
    planned: Vec<Planned>,
    carried: Option<Vec<bool>>,
) -> (Vec<FetchableTopicResponse>, FetchReads) {
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    let mut reads: FetchReads = Vec::new();
    let mut last: Option<TopicKey> = None;
    for (i, ((key, _), p)) in items.into_iter().zip(planned).enumerate() {
        if carried.as_ref().is_some_and(|c| !c[i]) {
            continue;
        }
        if last.as_ref() != Some(&key.topic) {
            let topic = FetchableTopicResponse::default();
            topics.push(match &key.topic {
                TopicKey::Id(id) => topic.with_topic_id(*id),
                TopicKey::Name(name) => topic.with_topic(super::topic_name(name)),
            });
            reads.push(Vec::new());
            last = Some(key.topic);
        }
        let (topic, topic_reads) = (topics.last_mut().unwrap(), reads.last_mut().unwrap());
        match p.read {
            Some((partition, read)) if !read.is_empty() => {
                topic_reads.push(Some((partition, read)));
                topic.partitions.push(p.data);
            }
            _ => {
                topic_reads.push(None);
                topic
                    .partitions
                    .push(p.data.with_records(Some(Bytes::new())));
            }
        }
    }
    (topics, reads)
}

/// Kafka's `BrokerTopicMetrics` of a fetch: each partition it answers, with the bytes it
/// sends (replication bytes for a follower) or as failed.
fn count_fetch(
    m: &crate::observe::Metrics,
    image: &kavka_metadata::MetadataImage,
    items: &[Item],
    planned: &[Planned],
    follower: bool,
) {
    for ((key, _), p) in items.iter().zip(planned) {
        let failed = p.data.error_code != 0;
        if let Some((partition, read)) = &p.read {
            let t = partition.topic_metrics(m);
            t.fetched(read.len() as u64, follower, failed);
            continue;
        }
        // Nothing read: the topic's counters by name (a lookup, as for no data there is no
        // partition in hand).
        let topic = match &key.topic {
            TopicKey::Name(name) => Some(&**name),
            TopicKey::Id(id) => image.topic_by_id(id).map(|t| t.name.as_str()),
        };
        if let Some(topic) = topic {
            m.topic(topic).fetched(0, follower, failed);
        }
    }
}

/// Reads planned data into the response itself (for paths that cannot send from files).
pub fn read_into(response: &mut FetchResponse, reads: FetchReads) {
    for (topic, topic_reads) in response.responses.iter_mut().zip(reads) {
        for (part, read) in topic.partitions.iter_mut().zip(topic_reads) {
            if let Some((partition, plan)) = read {
                match plan.read(&partition) {
                    Ok(bytes) => part.records = Some(bytes),
                    Err(e) => {
                        part.error_code = e.code().code();
                        part.records = Some(Bytes::new());
                    }
                }
            }
        }
    }
}

/// Handles Fetch: the response, and the data still to be sent from the segment files.
pub async fn handle(
    ctx: &RequestContext<'_>,
    request: FetchRequest,
) -> (FetchResponse, FetchReads) {
    let version = ctx.version();
    let by_id = version >= 13;
    let reader = Reader::of(version, &request);
    let response = FetchResponse::default().with_session_id(0);
    let mut items = requested(&request, by_id);
    let sessions = ctx.broker.fetch_sessions();
    let mut context = if version >= 7 {
        let session = SessionRequest {
            session_id: request.session_id,
            epoch: request.session_epoch,
            privileged: reader.replica_id >= 0,
            uses_topic_ids: by_id,
        };
        let forgotten = forgotten(&request, by_id);
        let (context, fetches) = sessions.context(session, &items, &forgotten, now_ms());
        if let Some(fetches) = fetches {
            items = fetches;
        }
        context
    } else {
        FetchContext::Sessionless
    };
    if let FetchContext::Error { code, session_id } = context {
        let response = response
            .with_error_code(code.code())
            .with_session_id(session_id);
        return (response, Vec::new());
    }
    let max_wait = Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS_MAX) as u64);
    let deadline = Instant::now() + max_wait;
    // As Kafka: the response is bounded by fetch.max.bytes whatever the client asks, and
    // min_bytes never asks for more than max_bytes.
    let max_bytes = usize::try_from(request.max_bytes)
        .unwrap_or(0)
        .min(ctx.broker.config().fetch_max_bytes);
    let min_bytes = usize::try_from(request.min_bytes)
        .unwrap_or(0)
        .min(max_bytes);
    // Partitions the session's last answer, or the previous pass of this fetch, found with
    // nothing to send are skipped while they stay unchanged.
    let mut hints = Hints {
        quiet: match &mut context {
            FetchContext::Incremental { quiet, .. } => std::mem::take(quiet),
            _ => Vec::new(),
        },
        watched: false,
    };
    let delayed = DelayedFetch::new();
    let planned = loop {
        let image = ctx.broker.image();
        let (planned, gathered, failed) =
            plan(ctx, &items, &reader, &image, max_bytes, &delayed, &hints);
        let now = Instant::now();
        if gathered >= min_bytes || failed || now >= deadline || items.is_empty() {
            break planned;
        }
        hints = Hints {
            quiet: planned.iter().map(|p| p.quiet.clone()).collect(),
            watched: true,
        };
        drop(planned);
        delayed.wait(deadline - now).await;
    };
    let (session_id, carried) = match context {
        FetchContext::Full {
            privileged,
            uses_topic_ids,
        } => {
            let answered: Vec<_> = items
                .iter()
                .zip(&planned)
                .map(|((key, params), p)| (key.clone(), *params, answer(p)))
                .collect();
            let id = sessions.open(privileged, uses_topic_ids, &answered, now_ms());
            (id, None)
        }
        FetchContext::Incremental { session, epoch, .. } => {
            let answers: Vec<_> = items
                .iter()
                .zip(&planned)
                .map(|((key, _), p)| (key.clone(), answer(p)))
                .collect();
            match sessions.respond(&session, epoch, &answers) {
                Ok((id, carried)) => (id, Some(carried)),
                Err((code, id)) => {
                    let response = response.with_error_code(code.code()).with_session_id(id);
                    return (response, Vec::new());
                }
            }
        }
        FetchContext::Sessionless | FetchContext::Error { .. } => (0, None),
    };
    if let Some(m) = ctx.broker.metrics() {
        count_fetch(
            m,
            &ctx.broker.image(),
            &items,
            &planned,
            reader.replica_id >= 0,
        );
    }
    let (topics, reads) = complete(items, planned, carried);
    (
        response.with_session_id(session_id).with_responses(topics),
        reads,
    )
}
