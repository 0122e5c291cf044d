//! Zero-copy view of the v2 record batch header (magic 2), the unit the broker stores and serves.
//!
//! The broker never decodes individual records on the produce or fetch path: it validates the
//! 61-byte header and the CRC32C of each batch, rewrites the base offset (outside the CRC) and,
//! for `LogAppendTime` topics, the max timestamp (inside the CRC, so the CRC is recomputed).
//!
//! Layout (big-endian):
//! ```text
//!  0 baseOffset i64        8 batchLength i32       12 partitionLeaderEpoch i32
//! 16 magic i8             17 crc u32              21 attributes i16
//! 23 lastOffsetDelta i32  27 baseTimestamp i64    35 maxTimestamp i64
//! 43 producerId i64       51 producerEpoch i16    53 baseSequence i32
//! 57 recordCount i32      61 records...
//! ```
//! `batchLength` counts the bytes after the length field, so a batch occupies `12 + batchLength`
//! bytes; the CRC covers bytes 21.. (attributes to the end).

use thiserror::Error;

/// Size of the fixed v2 batch header in bytes.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before `batchLength` ends: baseOffset + batchLength.
pub const BATCH_LOG_OVERHEAD_BYTES: usize = 12;
/// Smallest encoding of one record (seven one-byte fields).
pub const RECORD_BYTES_MIN: usize = 7;
/// Smallest legal value of `batchLength` (a header with no records).
pub const BATCH_LENGTH_MIN: usize = BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD_BYTES;

const OFF_BASE_OFFSET: usize = 0;
const OFF_BATCH_LENGTH: usize = 8;
const OFF_LEADER_EPOCH: usize = 12;
const OFF_MAGIC: usize = 16;
const OFF_CRC: usize = 17;
const OFF_ATTRIBUTES: usize = 21;
const OFF_LAST_OFFSET_DELTA: usize = 23;
const OFF_BASE_TIMESTAMP: usize = 27;
const OFF_MAX_TIMESTAMP: usize = 35;
const OFF_PRODUCER_ID: usize = 43;
const OFF_PRODUCER_EPOCH: usize = 51;
const OFF_BASE_SEQUENCE: usize = 53;
const OFF_RECORD_COUNT: usize = 57;

/// Attribute bits of a v2 batch.
pub mod attributes {
    /// Mask of the compression codec bits.
    pub const COMPRESSION_MASK: i16 = 0x07;
    /// Set when the batch's timestamps are LogAppendTime.
    pub const TIMESTAMP_TYPE_LOG_APPEND: i16 = 0x08;
    /// Set for batches of a transactional producer.
    pub const TRANSACTIONAL: i16 = 0x10;
    /// Set for control batches (transaction markers).
    pub const CONTROL: i16 = 0x20;
    /// Set when the batch carries a delete horizon (compaction).
    pub const DELETE_HORIZON: i16 = 0x40;
}

/// Compression codec named by a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy (raw or xerial-framed).
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The codec for attribute bits 0-2, `None` for the reserved values 5-7.
    pub fn from_attributes(attributes: i16) -> Option<Compression> {
        match attributes & attributes::COMPRESSION_MASK {
            0 => Some(Compression::None),
            1 => Some(Compression::Gzip),
            2 => Some(Compression::Snappy),
            3 => Some(Compression::Lz4),
            4 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The attribute bits for this codec.
    pub fn attribute_bits(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Kafka's name of the codec (`compression.type` values).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

/// Why a batch (or a sequence of batches) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// Fewer bytes than a header, or than `batchLength` announces.
    #[error("record batch truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// `batchLength` is smaller than a header.
    #[error("record batch length {0} is invalid")]
    InvalidLength(i32),
    /// Magic byte other than 2.
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// Stored CRC does not match the CRC32C of the batch.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC computed over the bytes.
        computed: u32,
    },
    /// Header fields that contradict each other (empty batch, bad delta, bad codec).
    #[error("invalid record batch: {0}")]
    Invalid(&'static str),
}

/// The fixed header fields of a v2 batch, parsed from its first 61 bytes: the records need not
/// be in memory (the storage layer walks segment files header by header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Size of the whole batch (`12 + batchLength`).
    pub size_bytes: usize,
    /// Leader epoch stamped by the broker.
    pub partition_leader_epoch: i32,
    /// CRC32C stored in the header.
    pub crc: u32,
    /// Attribute bits.
    pub attributes: i16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Producer id, -1 when not idempotent.
    pub producer_id: i64,
    /// Producer epoch.
    pub producer_epoch: i16,
    /// Sequence number of the first record.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// Parses the header at the start of `buf` (at least 61 bytes), checking the length field
    /// and the magic byte. The CRC is not checked: it covers the records.
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::Truncated {
                needed: BATCH_HEADER_BYTES,
                available: buf.len(),
            });
        }
        let size_bytes = batch_size(buf)?;
        let magic = buf[OFF_MAGIC] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, OFF_BASE_OFFSET),
            size_bytes,
            partition_leader_epoch: be_i32(buf, OFF_LEADER_EPOCH),
            crc: be_u32(buf, OFF_CRC),
            attributes: be_i16(buf, OFF_ATTRIBUTES),
            last_offset_delta: be_i32(buf, OFF_LAST_OFFSET_DELTA),
            base_timestamp: be_i64(buf, OFF_BASE_TIMESTAMP),
            max_timestamp: be_i64(buf, OFF_MAX_TIMESTAMP),
            producer_id: be_i64(buf, OFF_PRODUCER_ID),
            producer_epoch: be_i16(buf, OFF_PRODUCER_EPOCH),
            base_sequence: be_i32(buf, OFF_BASE_SEQUENCE),
            record_count: be_i32(buf, OFF_RECORD_COUNT),
        })
    }

    /// Offset of the last record (saturating, so that a garbage header cannot overflow).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset after the last record.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Whether the timestamps are LogAppendTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & attributes::TIMESTAMP_TYPE_LOG_APPEND != 0
    }

    /// Offset of the record carrying `max_timestamp`, as far as the header tells without decoding
    /// records: the first record when all records share the batch timestamp (LogAppendTime),
    /// when there is one record, or when the first record's timestamp is the max; otherwise the
    /// last record (Kafka's "shallow" offset of the max timestamp).
    pub fn offset_of_max_timestamp(&self) -> i64 {
        if self.is_log_append_time()
            || self.last_offset_delta == 0
            || self.base_timestamp == self.max_timestamp
        {
            self.base_offset
        } else {
            self.last_offset()
        }
    }
}

/// Start of the bytes the CRC32C covers (attributes to the end of the batch).
pub const CRC_START: usize = OFF_ATTRIBUTES;

/// A borrowed view of one v2 batch: the header fields plus the whole batch bytes.
#[derive(Debug, Clone, Copy)]
pub struct BatchView<'a> {
    bytes: &'a [u8],
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// Total size in bytes of the batch starting at `buf[0]`, read from its length field, after
/// checking that the length is sane. Needs at least 17 bytes (through the magic byte).
pub fn batch_size(buf: &[u8]) -> Result<usize, BatchError> {
    if buf.len() < OFF_MAGIC + 1 {
        return Err(BatchError::Truncated {
            needed: BATCH_HEADER_BYTES,
            available: buf.len(),
        });
    }
    let length = be_i32(buf, OFF_BATCH_LENGTH);
    if length < 0 || (length as usize) < BATCH_LENGTH_MIN {
        return Err(BatchError::InvalidLength(length));
    }
    Ok(BATCH_LOG_OVERHEAD_BYTES + length as usize)
}

impl<'a> BatchView<'a> {
    /// Parses the header of the batch at the start of `buf` without checking the CRC. `buf` may
    /// extend past the batch; the view covers exactly the batch.
    pub fn parse(buf: &'a [u8]) -> Result<BatchView<'a>, BatchError> {
        let size = batch_size(buf)?;
        let magic = buf[OFF_MAGIC] as i8;
        if magic != 2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        if buf.len() < size {
            return Err(BatchError::Truncated {
                needed: size,
                available: buf.len(),
            });
        }
        Ok(BatchView {
            bytes: &buf[..size],
        })
    }

    /// Parses and checks the CRC and the header's internal consistency: everything the broker
    /// validates before accepting a produced batch.
    pub fn parse_validated(buf: &'a [u8]) -> Result<BatchView<'a>, BatchError> {
        let view = BatchView::parse(buf)?;
        view.verify_crc()?;
        if view.record_count() <= 0 {
            return Err(BatchError::Invalid("batch has no records"));
        }
        if i64::from(view.last_offset_delta()) != i64::from(view.record_count()) - 1 {
            return Err(BatchError::Invalid(
                "last offset delta does not match record count",
            ));
        }
        match view.compression() {
            None => return Err(BatchError::Invalid("unknown compression codec")),
            // Uncompressed, each record takes at least RECORD_BYTES_MIN bytes: a count the
            // bytes cannot hold is a lie, caught without decoding.
            Some(Compression::None)
                if view.record_count() as usize > view.records_bytes().len() / RECORD_BYTES_MIN =>
            {
                return Err(BatchError::Invalid(
                    "record count exceeds what the batch can hold",
                ))
            }
            Some(_) => {}
        }
        Ok(view)
    }

    /// Checks the CRC32C over attributes..end.
    pub fn verify_crc(&self) -> Result<(), BatchError> {
        let stored = self.crc();
        let computed = crc32c::crc32c(&self.bytes[OFF_ATTRIBUTES..]);
        if stored == computed {
            Ok(())
        } else {
            Err(BatchError::CrcMismatch { stored, computed })
        }
    }

    /// The whole batch.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Size of the whole batch in bytes.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }
    /// The records section (after the 61-byte header).
    pub fn records_bytes(&self) -> &'a [u8] {
        &self.bytes[BATCH_HEADER_BYTES.min(self.bytes.len())..]
    }
    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        be_i64(self.bytes, OFF_BASE_OFFSET)
    }
    /// Offset of the last record (base + last offset delta).
    pub fn last_offset(&self) -> i64 {
        self.base_offset() + i64::from(self.last_offset_delta())
    }
    /// Offset after the last record.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }
    /// Leader epoch stamped by the broker.
    pub fn partition_leader_epoch(&self) -> i32 {
        be_i32(self.bytes, OFF_LEADER_EPOCH)
    }
    /// Magic byte (always 2 for a parsed view).
    pub fn magic(&self) -> i8 {
        self.bytes[OFF_MAGIC] as i8
    }
    /// CRC stored in the header.
    pub fn crc(&self) -> u32 {
        be_u32(self.bytes, OFF_CRC)
    }
    /// Raw attribute bits.
    pub fn attributes(&self) -> i16 {
        be_i16(self.bytes, OFF_ATTRIBUTES)
    }
    /// Compression codec, `None` if the bits name no known codec.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_attributes(self.attributes())
    }
    /// Whether the timestamps are LogAppendTime.
    pub fn is_log_append_time(&self) -> bool {
        self.attributes() & attributes::TIMESTAMP_TYPE_LOG_APPEND != 0
    }
    /// Whether this batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & attributes::TRANSACTIONAL != 0
    }
    /// Whether this is a control batch.
    pub fn is_control(&self) -> bool {
        self.attributes() & attributes::CONTROL != 0
    }
    /// Last offset delta.
    pub fn last_offset_delta(&self) -> i32 {
        be_i32(self.bytes, OFF_LAST_OFFSET_DELTA)
    }
    /// Timestamp of the first record (CreateTime batches).
    pub fn base_timestamp(&self) -> i64 {
        be_i64(self.bytes, OFF_BASE_TIMESTAMP)
    }
    /// Largest timestamp in the batch.
    pub fn max_timestamp(&self) -> i64 {
        be_i64(self.bytes, OFF_MAX_TIMESTAMP)
    }
    /// Producer id, -1 when not idempotent.
    pub fn producer_id(&self) -> i64 {
        be_i64(self.bytes, OFF_PRODUCER_ID)
    }
    /// Producer epoch.
    pub fn producer_epoch(&self) -> i16 {
        be_i16(self.bytes, OFF_PRODUCER_EPOCH)
    }
    /// Sequence number of the first record.
    pub fn base_sequence(&self) -> i32 {
        be_i32(self.bytes, OFF_BASE_SEQUENCE)
    }
    /// Number of records.
    pub fn record_count(&self) -> i32 {
        be_i32(self.bytes, OFF_RECORD_COUNT)
    }
}

/// Iterates over the batches laid end to end in a records blob (a produce payload, a segment
/// slice). Stops with an error at the first malformed batch; a fetch response may end with a
/// partial batch, which [`BatchIter::remainder`] reports.
#[derive(Debug, Clone)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    position: usize,
}

impl<'a> BatchIter<'a> {
    /// Iterates over `buf`.
    pub fn new(buf: &'a [u8]) -> BatchIter<'a> {
        BatchIter { buf, position: 0 }
    }
    /// Byte position of the next batch.
    pub fn position(&self) -> usize {
        self.position
    }
    /// Bytes not yet consumed.
    pub fn remainder(&self) -> &'a [u8] {
        &self.buf[self.position..]
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = Result<BatchView<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.buf.len() {
            return None;
        }
        match BatchView::parse(&self.buf[self.position..]) {
            Ok(view) => {
                self.position += view.size();
                Some(Ok(view))
            }
            Err(e) => {
                // Stay put: the caller decides whether the tail is an error or a partial batch.
                Some(Err(e))
            }
        }
    }
}

/// Writes a new base offset into the batch at `batch[0..]`. The base offset lies outside the CRC.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) {
    batch[OFF_BASE_OFFSET..OFF_BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Writes the partition leader epoch (outside the CRC).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[OFF_LEADER_EPOCH..OFF_LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Turns the batch into a LogAppendTime batch stamped `timestamp_ms`: sets the timestamp-type
/// bit and `maxTimestamp`, then recomputes the CRC (both fields are inside it).
pub fn set_log_append_time(batch: &mut [u8], timestamp_ms: i64) {
    let attrs = be_i16(batch, OFF_ATTRIBUTES) | attributes::TIMESTAMP_TYPE_LOG_APPEND;
    batch[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    batch[OFF_MAX_TIMESTAMP..OFF_MAX_TIMESTAMP + 8].copy_from_slice(&timestamp_ms.to_be_bytes());
    let crc = crc32c::crc32c(&batch[OFF_ATTRIBUTES..]);
    batch[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Offsets and timestamps gathered from a validated set of batches, before offsets are assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSetSummary {
    /// Number of batches.
    pub batch_count: usize,
    /// Total records over all batches (sum of `lastOffsetDelta + 1`).
    pub record_count: i64,
    /// Largest `maxTimestamp` among the batches, -1 when none.
    pub max_timestamp: i64,
    /// Size in bytes of the largest batch.
    pub largest_batch_bytes: usize,
}

/// Validates every batch of a produce payload (header, CRC, consistency) and checks that the
/// batches fill `buf` exactly. Records are not decoded.
pub fn validate_batches(buf: &[u8]) -> Result<BatchSetSummary, BatchError> {
    let mut summary = BatchSetSummary {
        batch_count: 0,
        record_count: 0,
        max_timestamp: -1,
        largest_batch_bytes: 0,
    };
    let mut position = 0;
    while position < buf.len() {
        let view = BatchView::parse_validated(&buf[position..])?;
        summary.batch_count += 1;
        summary.record_count += i64::from(view.last_offset_delta()) + 1;
        summary.max_timestamp = summary.max_timestamp.max(view.max_timestamp());
        summary.largest_batch_bytes = summary.largest_batch_bytes.max(view.size());
        position += view.size();
    }
    if summary.batch_count == 0 {
        return Err(BatchError::Invalid("no record batch"));
    }
    Ok(summary)
}

/// The header of `batch` (one validated batch) as it will be stored: base offset `first_offset`,
/// the leader epoch and, when `log_append_time_ms` is set, LogAppendTime with the CRC
/// recomputed over the new header fields and the unchanged records. The records themselves are
/// not touched, so they can be written from where they are.
pub fn assigned_header(
    batch: &[u8],
    first_offset: i64,
    leader_epoch: i32,
    log_append_time_ms: Option<i64>,
) -> [u8; BATCH_HEADER_BYTES] {
    let mut header = [0u8; BATCH_HEADER_BYTES];
    header.copy_from_slice(&batch[..BATCH_HEADER_BYTES]);
    set_base_offset(&mut header, first_offset);
    set_partition_leader_epoch(&mut header, leader_epoch);
    if let Some(ts) = log_append_time_ms {
        let attrs = be_i16(&header, OFF_ATTRIBUTES) | attributes::TIMESTAMP_TYPE_LOG_APPEND;
        header[OFF_ATTRIBUTES..OFF_ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
        header[OFF_MAX_TIMESTAMP..OFF_MAX_TIMESTAMP + 8].copy_from_slice(&ts.to_be_bytes());
        let crc = crc32c::crc32c_append(
            crc32c::crc32c(&header[OFF_ATTRIBUTES..]),
            &batch[BATCH_HEADER_BYTES..],
        );
        header[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_be_bytes());
    }
    header
}

/// Assigns consecutive offsets from `first_offset` to the batches in `buf` (already validated),
/// stamping the leader epoch and, when `log_append_time_ms` is set, LogAppendTime. Returns the
/// offset after the last record.
pub fn assign_offsets(
    buf: &mut [u8],
    first_offset: i64,
    leader_epoch: i32,
    log_append_time_ms: Option<i64>,
) -> i64 {
    let mut next = first_offset;
    let mut position = 0;
    while position < buf.len() {
        let size = batch_size(&buf[position..]).expect("batches validated before assignment");
        let batch = &mut buf[position..position + size];
        let delta = be_i32(batch, OFF_LAST_OFFSET_DELTA);
        set_base_offset(batch, next);
        set_partition_leader_epoch(batch, leader_epoch);
        if let Some(ts) = log_append_time_ms {
            set_log_append_time(batch, ts);
        }
        next += i64::from(delta) + 1;
        position += size;
    }
    next
}
