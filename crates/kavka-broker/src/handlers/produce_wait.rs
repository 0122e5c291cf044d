//! acks=all on replicated partitions (Kafka's delayed produce): once a produce's batches are
//! appended on the leader, its answer waits until each partition's high watermark passes its
//! batch — every ISR member holds it — or the request's `timeout_ms` passes
//! (REQUEST_TIMED_OUT). The wait is keyed by partition: a partition wakes its waiting
//! produces when its high watermark moves, its ISR or leadership changes. A partition whose
//! ISR fell below `min.insync.replicas` meanwhile answers NOT_ENOUGH_REPLICAS_AFTER_APPEND;
//! one this node stopped leading, NOT_LEADER_OR_FOLLOWER. Partitions with one replica never
//! wait.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;

use super::Outcome;
use crate::purgatory::{DelayedFetch, WaitFor};
use crate::replica_manager::Partition;

/// Upper bound on a produce's `timeout_ms`, so a hostile value cannot park a request for days.
const PRODUCE_TIMEOUT_MS_MAX: i32 = 5 * 60 * 1000;

/// One partition's answer waiting for replication.
#[derive(Debug)]
pub struct Wait {
    /// Position of the topic in the response.
    pub topic: usize,
    /// Position of the partition in that topic's answers.
    pub partition: usize,
    /// The partition.
    pub target: Arc<Partition>,
    /// The high watermark that acknowledges the batch (its last offset + 1).
    pub required: i64,
}

/// Completes a produce's answer once its waits are settled.
pub async fn complete(outcome: Outcome, mut waits: Vec<Wait>, timeout_ms: i32) -> Outcome {
    let Outcome::Respond(Response::Produce(mut response)) = outcome else {
        return outcome;
    };
    let timeout = Duration::from_millis(timeout_ms.clamp(0, PRODUCE_TIMEOUT_MS_MAX) as u64);
    let deadline = Instant::now() + timeout;
    let delayed = DelayedFetch::new();
    loop {
        waits.retain(|w| {
            // Before its state is read: a change from now on wakes this produce.
            w.target.watch(&delayed, WaitFor::HighWatermark);
            let min_insync = w.target.policy().min_insync_replicas;
            match w.target.acks_all_state(w.required, min_insync) {
                None => true,
                Some(code) => {
                    settle(&mut response, w, code);
                    false
                }
            }
        });
        let now = Instant::now();
        if waits.is_empty() {
            break;
        }
        if now >= deadline {
            for w in &waits {
                settle(&mut response, w, ErrorCode::REQUEST_TIMED_OUT);
            }
            break;
        }
        delayed.wait(deadline - now).await;
    }
    Outcome::Respond(Response::Produce(response))
}

fn settle(response: &mut kavka_protocol::messages::ProduceResponse, w: &Wait, code: ErrorCode) {
    if code == ErrorCode::NONE {
        return;
    }
    if let Some(p) = response
        .responses
        .get_mut(w.topic)
        .and_then(|t| t.partition_responses.get_mut(w.partition))
    {
        p.error_code = code.code();
        p.base_offset = -1;
        p.log_append_time_ms = -1;
    }
}
