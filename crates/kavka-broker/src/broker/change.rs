//! Metadata changes: a controller decision, written to the metadata log, then published.
//!
//! With the local log (one voter) the controller's image runs ahead of the published one and
//! the writer publishes its own batch. With a quorum only its leader decides: against the
//! published image once every entry of its log is applied, so the decision sees whatever
//! earlier leaders wrote; the applier publishes the batch like any other, and the writer waits
//! for that before answering.

use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use kavka_metadata::{MetadataError, MetadataImage, MetadataRecord};
use kavka_protocol::ErrorCode;

use super::Broker;
use crate::active_controller::ActiveController;
use crate::controller::Refusal;

/// The Kafka error a failed metadata write is answered with.
fn refusal_of(e: &MetadataError) -> Refusal {
    match e {
        MetadataError::NotLeader { leader } => (
            ErrorCode::NOT_CONTROLLER,
            match leader {
                Some(l) => format!(
                    "this node is not the active controller; node {} is",
                    crate::quorum::node_id(*l)
                ),
                None => "the metadata quorum has no leader at the moment".to_string(),
            },
        ),
        MetadataError::CommitTimeout { .. } => (ErrorCode::REQUEST_TIMED_OUT, e.to_string()),
        e => (ErrorCode::UNKNOWN_SERVER_ERROR, e.to_string()),
    }
}

impl Broker {
    /// Runs a controller decision against the controller's image, writes its records to the
    /// metadata log, then publishes the committed batch. `decide` returns the records (and a
    /// value for the caller) or a refusal; nothing is written on refusal, nor when
    /// `validate_only`.
    pub fn change_metadata<T>(
        &self,
        validate_only: bool,
        decide: impl FnOnce(&MetadataImage) -> Result<(T, Vec<MetadataRecord>), Refusal>,
    ) -> Result<T, Refusal> {
        self.change_metadata_at(validate_only, |image, _| decide(image))
    }

    /// [`Broker::change_metadata`] whose decision is also told the offset it is made at: every
    /// batch committed before is at or below it, the batch it writes above it (a broker epoch).
    pub fn change_metadata_at<T>(
        &self,
        validate_only: bool,
        decide: impl FnOnce(&MetadataImage, u64) -> Result<(T, Vec<MetadataRecord>), Refusal>,
    ) -> Result<T, Refusal> {
        let mut controller = self.controller.lock().expect("controller lock poisoned");
        if self.quorum.is_some() {
            return self.change_replicated(controller, validate_only, decide);
        }
        // Whatever the outcome, answer only once every batch written before is published: a
        // caller told TOPIC_ALREADY_EXISTS (or nothing to do) then finds the topic hosted.
        let settled = |controller| {
            let published = self.published.lock().expect("published lock poisoned");
            drop(controller);
            drop(published);
        };
        let at = controller.log_position().0;
        let (value, records) = match decide(controller.image(), at) {
            Ok(decided) => decided,
            Err(refusal) => {
                settled(controller);
                return Err(refusal);
            }
        };
        if validate_only {
            settled(controller);
            return Ok(value);
        }
        let batch = match controller.write(records) {
            Ok(Some(batch)) => batch,
            Ok(None) => {
                settled(controller);
                return Ok(value);
            }
            Err(e) => {
                tracing::error!(error = %e, "metadata commit failed");
                settled(controller);
                return Err(refusal_of(&e));
            }
        };
        // Taken before the controller lock is let go, so batches are published in the order
        // they were written while the next decision can already be made.
        let mut published = self.published.lock().expect("published lock poisoned");
        drop(controller);
        self.publish(&mut published, &batch);
        Ok(value)
    }

    /// `change_metadata` on the leader of a quorum.
    fn change_replicated<T>(
        &self,
        mut controller: MutexGuard<'_, ActiveController>,
        validate_only: bool,
        decide: impl FnOnce(&MetadataImage, u64) -> Result<(T, Vec<MetadataRecord>), Refusal>,
    ) -> Result<T, Refusal> {
        let timeout = Duration::from_millis(self.config.quorum_request_timeout_ms);
        let through = controller.writable().map_err(|e| refusal_of(&e))?;
        let image = self.wait_published(through, timeout)?;
        controller.reset_image(image);
        let (value, records) = decide(controller.image(), through)?;
        if validate_only {
            return Ok(value);
        }
        match controller.write(records) {
            Ok(Some(batch)) => {
                drop(controller);
                self.wait_published(batch.offset, timeout)?;
                Ok(value)
            }
            Ok(None) => Ok(value),
            Err(e) => {
                tracing::warn!(error = %e, "metadata change not committed");
                Err(refusal_of(&e))
            }
        }
    }

    /// Waits until the published image satisfies `ready` (a change another node committed
    /// reaching this one); false after `timeout`.
    pub(super) fn wait_image(
        &self,
        timeout: Duration,
        ready: impl Fn(&MetadataImage) -> bool,
    ) -> bool {
        self.wait_until(timeout, |_| ready(&self.image()))
    }

    /// Waits until the batch at `offset` is published; the image then.
    fn wait_published(
        &self,
        offset: u64,
        timeout: Duration,
    ) -> Result<std::sync::Arc<MetadataImage>, Refusal> {
        if self.wait_until(timeout, |published| published >= offset) {
            Ok(self.image())
        } else {
            Err((
                ErrorCode::REQUEST_TIMED_OUT,
                format!("metadata offset {offset} not applied within {timeout:?}"),
            ))
        }
    }

    /// Waits, woken at every published batch, until `ready(published offset)`; false after
    /// `timeout`.
    fn wait_until(&self, timeout: Duration, ready: impl Fn(u64) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut published = self.published.lock().expect("published lock poisoned");
        loop {
            if ready(*published) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            published = self
                .published_moved
                .wait_timeout(published, deadline - now)
                .expect("published lock poisoned")
                .0;
        }
    }
}
