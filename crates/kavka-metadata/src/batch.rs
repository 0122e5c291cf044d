//! [`MetadataBatch`]: one entry of the metadata log, and its byte form.
//!
//! ```text
//! frame   = payload_len u32 | crc32c(payload) u32 | payload
//! payload = offset u64 | epoch u32 | record_count u32 | (record_len u32 | encoded MetadataRecord)*
//! ```
//!
//! A batch holds the records of one metadata change, so a change replays whole or not at all.
//! Its offset is its position in the log (the first batch is offset 1, as a Raft log's first
//! index); its epoch is the quorum epoch (Raft term) of the leader that wrote it. A batch may
//! be empty: a new leader's first entry carries no records. This module only converts bytes;
//! the files live in `kavka-quorum`.

use bytes::BufMut;

use crate::records::{DecodeError, MetadataRecord};

/// Bytes of a frame header: payload length and CRC.
pub const FRAME_HEADER_BYTES: usize = 8;

/// Bytes of a payload before its records: offset, epoch, record count.
pub const BATCH_HEADER_BYTES: usize = 16;

/// Largest payload of one frame. A longer frame read back counts as corruption; a batch that
/// would encode longer is refused by [`MetadataBatch::encode_frame`].
pub const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;

/// One entry of the metadata log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBatch {
    /// Position in the log, from 1.
    pub offset: u64,
    /// Epoch of the leader that wrote the batch.
    pub epoch: u32,
    /// The records, applied in order.
    pub records: Vec<MetadataRecord>,
}

/// Why a frame does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Fewer bytes than the frame header announces.
    #[error("torn frame: {needed} bytes needed, {available} available")]
    Torn {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// A length above [`FRAME_BYTES_MAX`].
    #[error("frame length {0} above the limit of {FRAME_BYTES_MAX} bytes")]
    Oversized(u32),
    /// The payload does not match its CRC.
    #[error("CRC mismatch")]
    CrcMismatch,
    /// The CRC matches but the payload does not decode.
    #[error("undecodable batch: {0}")]
    Undecodable(DecodeError),
}

/// The batch too large for one frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("metadata batch of {bytes} bytes exceeds the frame limit of {bytes_max} bytes")]
pub struct BatchTooLarge {
    /// Encoded size of the payload (so far).
    pub bytes: usize,
    /// The limit.
    pub bytes_max: usize,
}

impl MetadataBatch {
    /// Appends the batch's frame to `buf`; on error `buf` is left as it was.
    pub fn encode_frame(&self, buf: &mut Vec<u8>) -> Result<(), BatchTooLarge> {
        let start = buf.len();
        buf.put_bytes(0, FRAME_HEADER_BYTES);
        buf.put_u64(self.offset);
        buf.put_u32(self.epoch);
        buf.put_u32(
            u32::try_from(self.records.len()).expect("a batch has fewer than 2^32 records"),
        );
        for record in &self.records {
            let at = buf.len();
            buf.put_u32(0);
            record.encode(buf);
            let len = buf.len() - at - 4;
            let payload_len = buf.len() - start - FRAME_HEADER_BYTES;
            if payload_len > FRAME_BYTES_MAX {
                buf.truncate(start);
                return Err(BatchTooLarge {
                    bytes: payload_len,
                    bytes_max: FRAME_BYTES_MAX,
                });
            }
            buf[at..at + 4].copy_from_slice(&(len as u32).to_be_bytes());
        }
        let payload = &buf[start + FRAME_HEADER_BYTES..];
        let len = u32::try_from(payload.len()).expect("bounded by FRAME_BYTES_MAX");
        let crc = crc32c::crc32c(payload);
        buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
        buf[start + 4..start + FRAME_HEADER_BYTES].copy_from_slice(&crc.to_be_bytes());
        Ok(())
    }

    /// The batch's frame as a new buffer.
    pub fn to_frame(&self) -> Result<Vec<u8>, BatchTooLarge> {
        let mut buf = Vec::new();
        self.encode_frame(&mut buf)?;
        Ok(buf)
    }

    /// Decodes the frame at the start of `bytes`; returns the batch and the frame's length.
    /// Checks the announced length against the limit and the input before allocating.
    pub fn decode_frame(bytes: &[u8]) -> Result<(MetadataBatch, usize), FrameError> {
        let header = frame_header(bytes)?;
        let end = FRAME_HEADER_BYTES + header.0 as usize;
        let payload = &bytes[FRAME_HEADER_BYTES..end];
        if crc32c::crc32c(payload) != header.1 {
            return Err(FrameError::CrcMismatch);
        }
        let batch = decode_payload(payload).map_err(FrameError::Undecodable)?;
        Ok((batch, end))
    }
}

/// CRC32C (Castagnoli) of `bytes`, the checksum of every frame.
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

/// Length and CRC of the frame at the start of `bytes`, checked against the limit and against
/// the bytes available.
pub fn frame_header(bytes: &[u8]) -> Result<(u32, u32), FrameError> {
    let torn = |needed| FrameError::Torn {
        needed,
        available: bytes.len(),
    };
    let header: [u8; FRAME_HEADER_BYTES] = bytes
        .get(..FRAME_HEADER_BYTES)
        .and_then(|h| h.try_into().ok())
        .ok_or(torn(FRAME_HEADER_BYTES))?;
    let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
    let len = u32::from_be_bytes([l0, l1, l2, l3]);
    if len as usize > FRAME_BYTES_MAX {
        return Err(FrameError::Oversized(len));
    }
    let needed = FRAME_HEADER_BYTES + len as usize;
    if bytes.len() < needed {
        return Err(torn(needed));
    }
    Ok((len, u32::from_be_bytes([c0, c1, c2, c3])))
}

fn decode_payload(payload: &[u8]) -> Result<MetadataBatch, DecodeError> {
    let truncated = |field| DecodeError::Truncated { field };
    let take = |at: usize, n: usize, field| payload.get(at..at + n).ok_or(truncated(field));
    let offset = u64::from_be_bytes(take(0, 8, "batch offset")?.try_into().expect("8 bytes"));
    let epoch = u32::from_be_bytes(take(8, 4, "batch epoch")?.try_into().expect("4 bytes"));
    let count = u32::from_be_bytes(take(12, 4, "batch count")?.try_into().expect("4 bytes"));
    let mut at = BATCH_HEADER_BYTES;
    // Each record takes at least its 4-byte length: bound the allocation by the input.
    let mut records = Vec::with_capacity((count as usize).min(payload.len() / 4));
    for _ in 0..count {
        let len = u32::from_be_bytes(take(at, 4, "record length")?.try_into().expect("4 bytes"));
        at += 4;
        let body = payload
            .get(at..at.saturating_add(len as usize))
            .ok_or(truncated("record"))?;
        records.push(MetadataRecord::decode(body)?);
        at += len as usize;
    }
    if at != payload.len() {
        return Err(DecodeError::TrailingBytes {
            bytes: payload.len() - at,
        });
    }
    Ok(MetadataBatch {
        offset,
        epoch,
        records,
    })
}

#[cfg(test)]
#[path = "batch_tests.rs"]
mod tests;
