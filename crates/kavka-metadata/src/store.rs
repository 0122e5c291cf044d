//! [`MetadataStore`]: the journal and the image it replays to, kept in step.

use std::path::Path;
use std::sync::Arc;

use crate::error::MetadataError;
use crate::image::MetadataImage;
use crate::journal::MetadataJournal;
use crate::records::MetadataRecord;

/// The node's cluster metadata: a durable journal of records and the image they replay to.
///
/// The image only ever reflects records that are in the journal: [`MetadataStore::commit`]
/// validates a batch on a copy, makes it durable, and only then publishes the copy.
#[derive(Debug)]
pub struct MetadataStore {
    /// Where committed records go.
    journal: MetadataJournal,
    /// The result of replaying every record in `journal`; shared with readers by `Arc` so a
    /// reader keeps a consistent snapshot while commits go on.
    image: Arc<MetadataImage>,
}

impl MetadataStore {
    /// Opens the journal in `dir` (see [`MetadataJournal::open`]) and replays it into a fresh
    /// image. A record that does not apply is a hard error naming its index: the journal is
    /// well framed but inconsistent, which truncation would silently make worse.
    pub fn open(dir: &Path) -> Result<MetadataStore, MetadataError> {
        let (journal, records) = MetadataJournal::open(dir)?;
        let mut image = MetadataImage::new();
        for (index, record) in records.iter().enumerate() {
            image
                .apply(record)
                .map_err(|source| MetadataError::Replay {
                    index: index as u64,
                    source,
                })?;
        }
        tracing::info!(
            path = %journal.path().display(),
            records = records.len(),
            topics = image.topic_count(),
            "metadata journal replayed"
        );
        Ok(MetadataStore {
            journal,
            image: Arc::new(image),
        })
    }

    /// The current image.
    pub fn image(&self) -> &MetadataImage {
        &self.image
    }

    /// The current image as a snapshot a reader can hold across commits.
    pub fn snapshot(&self) -> Arc<MetadataImage> {
        Arc::clone(&self.image)
    }

    /// The journal (its path, size and record count, for diagnostics).
    pub fn journal(&self) -> &MetadataJournal {
        &self.journal
    }

    /// Commits `records` as one batch: all apply and are durable, or nothing changes.
    ///
    /// The batch is applied to a copy of the image first, so an invalid record
    /// ([`MetadataError::Rejected`]) leaves both the image and the journal untouched. Then the
    /// batch is appended and fsynced; only then is the copy published.
    ///
    /// On an I/O error the image is unchanged, but the batch may or may not be found by the next
    /// [`MetadataStore::open`] (the write may have reached the disk before the fsync failed);
    /// the journal then refuses further commits until reopened.
    pub fn commit(&mut self, records: Vec<MetadataRecord>) -> Result<(), MetadataError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut next = MetadataImage::clone(&self.image);
        for (index, record) in records.iter().enumerate() {
            next.apply(record)
                .map_err(|source| MetadataError::Rejected { index, source })?;
        }
        self.journal.append(&records)?;
        self.image = Arc::new(next);
        Ok(())
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
