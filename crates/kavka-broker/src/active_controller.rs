//! [`ActiveController`]: the only writer of the metadata log. It holds the controller's image
//! (every batch it wrote), checks a decision's records against it, and appends them through the
//! [`MetadataLog`]; what it returns is a committed batch for the appliers.
//!
//! With one local voter the log is a [`kavka_quorum::LocalLog`] and the controller's image is
//! also the committed one, so it tells the log when a snapshot may be taken.

use std::sync::Arc;

use kavka_metadata::{MetadataBatch, MetadataError, MetadataImage, MetadataLog, MetadataRecord};

/// The controller's view of the metadata log.
#[derive(Debug)]
pub struct ActiveController {
    /// The log the controller writes.
    log: Box<dyn MetadataLog>,
    /// The image after every batch written.
    image: Arc<MetadataImage>,
}

impl ActiveController {
    /// The controller over `log`, whose batches replay to `image`.
    pub fn new(log: Box<dyn MetadataLog>, image: Arc<MetadataImage>) -> ActiveController {
        ActiveController { log, image }
    }

    /// The log's committed offset and epoch.
    pub fn log_position(&self) -> (u64, u32) {
        (self.log.committed_offset(), self.log.epoch())
    }

    /// Whether this node may write now, and the offset the image must hold before deciding
    /// (see [`MetadataLog::writable`]).
    pub fn writable(&self) -> Result<u64, MetadataError> {
        self.log.writable()
    }

    /// Decides from `image` from now on (a quorum's leader: the published image, which holds
    /// what other leaders wrote).
    pub fn reset_image(&mut self, image: Arc<MetadataImage>) {
        self.image = image;
    }

    /// The image decisions are checked against.
    pub fn image(&self) -> &Arc<MetadataImage> {
        &self.image
    }

    /// Appends `records` as one batch: all apply and are committed, or nothing changes
    /// ([`MetadataError::Rejected`] for a record that does not apply, checked on a copy before
    /// anything is written). `None` for no records.
    pub fn write(
        &mut self,
        records: Vec<MetadataRecord>,
    ) -> Result<Option<MetadataBatch>, MetadataError> {
        if records.is_empty() {
            return Ok(None);
        }
        let mut next = MetadataImage::clone(&self.image);
        for (index, record) in records.iter().enumerate() {
            next.apply(record)
                .map_err(|source| MetadataError::Rejected { index, source })?;
        }
        let batch = self.log.append(records)?;
        self.image = Arc::new(next);
        // The batch is committed whatever happens to the snapshot: a failed one is retried at
        // the next batch and only costs a longer replay.
        if let Err(e) = self.log.applied(batch.offset, &self.image) {
            tracing::warn!(error = %e, offset = batch.offset, "metadata snapshot failed");
        }
        Ok(Some(batch))
    }
}
