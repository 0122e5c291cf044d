//! [`MetadataLog`]: the log between the controller, which decides metadata changes, and every
//! node's image, which applies them.
//!
//! The controller turns a request into records and hands them to [`MetadataLog::append`]; the
//! log makes them one [`MetadataBatch`] with the next offset and the current epoch and returns
//! it once it is committed (a single local voter: once durable; a Raft quorum: once a majority
//! stored it). Every node then applies committed batches in offset order. A node starts from
//! the latest snapshot and the committed batches after it ([`MetadataLog::replay`]), and tells
//! the log what it has applied so the log can snapshot and drop its prefix.
//!
//! Implemented in `kavka-quorum`; this crate defines the contract and stays free of I/O.

use std::fmt;

use crate::batch::MetadataBatch;
use crate::error::MetadataError;
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// A snapshot of the image, as of the batch at `offset`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSnapshot {
    /// The offset of the last batch the image contains.
    pub offset: u64,
    /// The epoch of that batch.
    pub epoch: u32,
    /// The image.
    pub image: MetadataImage,
}

/// What a node replays at start: the latest snapshot (if any) and the committed batches after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// The latest snapshot; `None` replays from an empty image.
    pub snapshot: Option<ImageSnapshot>,
    /// Committed batches after the snapshot, in offset order.
    pub batches: Vec<MetadataBatch>,
}

impl Replay {
    /// Builds the image this replay describes, with the offset of its last batch (0 for an
    /// empty log). A record that does not apply is [`MetadataError::Replay`].
    pub fn into_image(self) -> Result<(MetadataImage, u64), MetadataError> {
        let (mut image, mut offset) = match self.snapshot {
            Some(s) => (s.image, s.offset),
            None => (MetadataImage::new(), 0),
        };
        for batch in &self.batches {
            for (index, record) in batch.records.iter().enumerate() {
                image
                    .apply(record)
                    .map_err(|source| MetadataError::Replay {
                        offset: batch.offset,
                        index,
                        source,
                    })?;
            }
            offset = batch.offset;
        }
        Ok((image, offset))
    }
}

/// The replicated metadata log, as the controller and the appliers use it.
pub trait MetadataLog: Send + fmt::Debug {
    /// Appends `records` as one batch at the next offset under the current epoch and returns
    /// the batch once it is committed. On error nothing is committed by this call (a log may
    /// then refuse appends until it is reopened, see [`MetadataError::JournalFailed`]).
    fn append(&mut self, records: Vec<MetadataRecord>) -> Result<MetadataBatch, MetadataError>;

    /// The offset of the last committed batch (0 when none).
    fn committed_offset(&self) -> u64;

    /// The current epoch (the quorum's leader epoch).
    fn epoch(&self) -> u32;

    /// The latest snapshot and the committed batches after it.
    fn replay(&self) -> Result<Replay, MetadataError>;

    /// Tells the log that `image` is the state after the batch at `offset`; the log may
    /// snapshot it and drop the batches it covers.
    fn applied(&mut self, offset: u64, image: &MetadataImage) -> Result<(), MetadataError>;

    /// Whether this node may append now. `Ok(offset)`: it leads, and a decision must be made
    /// on an image holding every batch up to `offset` (a new leader's log may end in batches
    /// of earlier leaders it only now knows committed). [`MetadataError::NotLeader`] otherwise.
    /// A single voter always leads.
    fn writable(&self) -> Result<u64, MetadataError> {
        Ok(self.committed_offset())
    }

    /// The node id of the quorum's leader, if known (a single voter: `None`, it is itself).
    fn leader(&self) -> Option<u64> {
        None
    }
}
