//! Snapshots of the metadata image, as bytes: the image at some log offset, so the log before
//! that offset can be dropped (Kafka's `<offset>-<epoch>.checkpoint`).
//!
//! ```text
//! snapshot = chunk* end
//! chunk    = a MetadataBatch frame (offset and epoch of the snapshot) of at most
//!            SNAPSHOT_CHUNK_BYTES of records from MetadataImage::to_records
//! end      = a MetadataBatch frame with the same offset and epoch and no records
//! ```
//!
//! The end frame tells a whole snapshot from a torn one. Files and their names are
//! `kavka-quorum`'s; this module only converts.

use crate::batch::{FrameError, MetadataBatch, FRAME_BYTES_MAX};
use crate::image::{MetadataImage, ReplayError};

/// Records per chunk are added until the chunk passes this many bytes.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;

/// Why snapshot bytes do not give an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// A chunk does not decode.
    #[error("snapshot chunk at byte {at}: {source}")]
    Frame {
        /// Where the chunk starts.
        at: usize,
        /// Why it does not decode.
        source: FrameError,
    },
    /// The bytes end before the end frame.
    #[error("snapshot has no end frame")]
    NoEnd,
    /// Bytes follow the end frame.
    #[error("{0} bytes after the snapshot's end frame")]
    TrailingBytes(usize),
    /// A chunk with another offset or epoch than the first.
    #[error("snapshot chunk for offset {offset} epoch {epoch} in a snapshot of {expected:?}")]
    Mixed {
        /// The chunk's offset.
        offset: u64,
        /// The chunk's epoch.
        epoch: u32,
        /// The snapshot's offset and epoch.
        expected: (u64, u32),
    },
    /// A record that does not apply.
    #[error("snapshot record {index} does not replay: {source}")]
    Replay {
        /// Index among the snapshot's records.
        index: usize,
        /// Why.
        source: ReplayError,
    },
}

/// The image at `offset` (written by a leader of `epoch`) as snapshot bytes.
pub fn encode_snapshot(offset: u64, epoch: u32, image: &MetadataImage) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chunk = MetadataBatch {
        offset,
        epoch,
        records: Vec::new(),
    };
    let mut chunk_bytes = 0;
    for record in image.to_records() {
        chunk_bytes += record.to_bytes().len() + 4;
        chunk.records.push(record);
        if chunk_bytes >= SNAPSHOT_CHUNK_BYTES {
            push_chunk(&mut out, &mut chunk);
            chunk_bytes = 0;
        }
    }
    if !chunk.records.is_empty() {
        push_chunk(&mut out, &mut chunk);
    }
    // The end frame: the only empty one.
    push_chunk(&mut out, &mut chunk);
    out
}

fn push_chunk(out: &mut Vec<u8>, chunk: &mut MetadataBatch) {
    // One record is far below the frame limit, and a chunk stops soon after SNAPSHOT_CHUNK_BYTES.
    const _: () = assert!(SNAPSHOT_CHUNK_BYTES * 2 < FRAME_BYTES_MAX);
    chunk
        .encode_frame(out)
        .expect("a chunk stays below the frame limit");
    chunk.records.clear();
}

/// Decodes snapshot bytes into the offset, epoch and image they hold.
pub fn decode_snapshot(bytes: &[u8]) -> Result<(u64, u32, MetadataImage), SnapshotError> {
    let mut image = MetadataImage::new();
    let mut at = 0;
    let mut id = None;
    let mut index = 0;
    loop {
        if at == bytes.len() {
            return Err(SnapshotError::NoEnd);
        }
        let (chunk, len) = MetadataBatch::decode_frame(&bytes[at..])
            .map_err(|source| SnapshotError::Frame { at, source })?;
        let expected = *id.get_or_insert((chunk.offset, chunk.epoch));
        if (chunk.offset, chunk.epoch) != expected {
            return Err(SnapshotError::Mixed {
                offset: chunk.offset,
                epoch: chunk.epoch,
                expected,
            });
        }
        at += len;
        if chunk.records.is_empty() {
            if at != bytes.len() {
                return Err(SnapshotError::TrailingBytes(bytes.len() - at));
            }
            return Ok((expected.0, expected.1, image));
        }
        for record in &chunk.records {
            image
                .apply(record)
                .map_err(|source| SnapshotError::Replay { index, source })?;
            index += 1;
        }
    }
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
