//! Individual records inside a v2 batch: a reader (used off the hot path: ListOffsets by
//! timestamp, the client library, tests) and a builder for whole batches.

use bytes::{BufMut, Bytes, BytesMut};

use crate::batch::{
    attributes, BatchError, BatchView, Compression, BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES,
    RECORD_BYTES_MIN,
};
use crate::compression::{self, CompressionError};

/// A record header (key, optional value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// Header key.
    pub key: Bytes,
    /// Header value, `None` when null.
    pub value: Option<Bytes>,
}

/// One record, with its absolute offset and timestamp resolved from the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset.
    pub offset: i64,
    /// Absolute timestamp (the batch's max timestamp for LogAppendTime batches).
    pub timestamp: i64,
    /// Key, `None` when null.
    pub key: Option<Bytes>,
    /// Value, `None` for a tombstone.
    pub value: Option<Bytes>,
    /// Headers in order.
    pub headers: Vec<RecordHeader>,
}

/// Why records could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The batch header is bad.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The records section does not decompress.
    #[error(transparent)]
    Compression(#[from] CompressionError),
    /// A record is malformed.
    #[error("malformed record: {0}")]
    Malformed(&'static str),
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn varlong(&mut self) -> Result<i64, RecordError> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or(RecordError::Malformed("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(((value >> 1) as i64) ^ -((value & 1) as i64));
            }
        }
        Err(RecordError::Malformed("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], RecordError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(RecordError::Malformed("field runs past the record"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn nullable_bytes(&mut self) -> Result<Option<Bytes>, RecordError> {
        let len = self.varlong()?;
        if len < 0 {
            return Ok(None);
        }
        let n = usize::try_from(len).map_err(|_| RecordError::Malformed("length"))?;
        Ok(Some(Bytes::copy_from_slice(self.take(n)?)))
    }
}

/// Records reserved up front; more grow as they actually decode.
const RECORDS_PREALLOCATED_MAX: usize = 4096;
/// Smallest encoding of a record header (key length, value length).
const HEADER_BYTES_MIN: usize = 2;

/// The records of one batch, decoded one at a time from the (decompressed) records section, so
/// that a search can stop at the first match without holding every record.
#[derive(Debug)]
pub struct RecordIter {
    /// The records section, decompressed.
    section: Vec<u8>,
    /// Position of the next record.
    pos: usize,
    /// Records not yet decoded, as the header announces.
    remaining: usize,
    /// Batch fields that records are relative to.
    base_offset: i64,
    base_timestamp: i64,
    max_timestamp: i64,
    log_append_time: bool,
}

impl RecordIter {
    /// Decompresses the batch's records section (bounded by
    /// [`compression::DECOMPRESSED_BYTES_MAX`]) and iterates over its records.
    pub fn new(batch: &BatchView<'_>) -> Result<RecordIter, RecordError> {
        let codec = batch
            .compression()
            .ok_or(BatchError::Invalid("unknown compression codec"))?;
        let section = compression::decompress(codec, batch.records_bytes())?;
        Ok(RecordIter {
            section,
            pos: 0,
            remaining: usize::try_from(batch.record_count()).unwrap_or(0),
            base_offset: batch.base_offset(),
            base_timestamp: batch.base_timestamp(),
            max_timestamp: batch.max_timestamp(),
            log_append_time: batch.is_log_append_time(),
        })
    }

    /// An upper bound of the records left, from the bytes left (never from the header alone).
    pub fn size_hint_bounded(&self) -> usize {
        self.remaining
            .min((self.section.len() - self.pos) / RECORD_BYTES_MIN)
    }

    fn decode_next(&mut self) -> Result<Record, RecordError> {
        let mut cur = Cursor {
            buf: &self.section,
            pos: self.pos,
        };
        let len = usize::try_from(cur.varlong()?)
            .map_err(|_| RecordError::Malformed("negative record length"))?;
        let body = cur.take(len)?;
        let mut r = Cursor { buf: body, pos: 0 };
        let _attributes = r.take(1)?;
        let timestamp_delta = r.varlong()?;
        let offset_delta = r.varlong()?;
        let key = r.nullable_bytes()?;
        let value = r.nullable_bytes()?;
        let header_count = r.varlong()?;
        let header_count =
            usize::try_from(header_count).map_err(|_| RecordError::Malformed("header count"))?;
        let mut headers =
            Vec::with_capacity(header_count.min((body.len() - r.pos) / HEADER_BYTES_MIN));
        for _ in 0..header_count {
            let key = r
                .nullable_bytes()?
                .ok_or(RecordError::Malformed("null header key"))?;
            let value = r.nullable_bytes()?;
            headers.push(RecordHeader { key, value });
        }
        self.pos = cur.pos;
        // Hostile headers and deltas may overflow: wrap, as Kafka's long arithmetic does.
        Ok(Record {
            offset: self.base_offset.wrapping_add(offset_delta),
            timestamp: if self.log_append_time {
                self.max_timestamp
            } else {
                self.base_timestamp.wrapping_add(timestamp_delta)
            },
            key,
            value,
            headers,
        })
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        let record = self.decode_next();
        if record.is_err() {
            self.remaining = 0;
        }
        Some(record)
    }
}

/// Decodes every record of a batch, decompressing when needed. Memory is bounded by the
/// decompressed size, whatever the header's record count says.
pub fn decode_records(batch: &BatchView<'_>) -> Result<Vec<Record>, RecordError> {
    let iter = RecordIter::new(batch)?;
    let mut records = Vec::with_capacity(iter.size_hint_bounded().min(RECORDS_PREALLOCATED_MAX));
    for r in iter {
        records.push(r?);
    }
    Ok(records)
}

/// Builds one v2 batch (base offset 0, no producer id) from records, compressing the records
/// section with the chosen codec.
#[derive(Debug)]
pub struct BatchBuilder {
    compression: Compression,
    /// Whether the batch belongs to a transaction.
    transactional: bool,
    /// Producer id, epoch and base sequence of an idempotent producer; (-1, -1, -1) otherwise.
    producer: (i64, i16, i32),
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    count: i32,
    records: BytesMut,
}

fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

fn varlong_size(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

fn put_nullable(buf: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => put_varlong(buf, -1),
        Some(b) => {
            put_varlong(buf, b.len() as i64);
            buf.put_slice(b);
        }
    }
}

fn nullable_size(b: Option<&[u8]>) -> usize {
    match b {
        None => 1,
        Some(b) => varlong_size(b.len() as i64) + b.len(),
    }
}

impl BatchBuilder {
    /// A builder for a batch compressed with `compression`.
    pub fn new(compression: Compression) -> BatchBuilder {
        BatchBuilder {
            compression,
            transactional: false,
            producer: (-1, -1, -1),
            base_timestamp: None,
            max_timestamp: -1,
            count: 0,
            records: BytesMut::new(),
        }
    }

    /// Marks the batch as an idempotent producer's: its id, epoch and the sequence of the
    /// first record.
    pub fn with_producer(mut self, producer_id: i64, epoch: i16, base_sequence: i32) -> Self {
        self.producer = (producer_id, epoch, base_sequence);
        self
    }

    /// Marks the batch as part of its producer's transaction.
    pub fn transactional(mut self) -> Self {
        self.transactional = true;
        self
    }

    /// Number of records appended.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Uncompressed size of the records appended so far.
    pub fn records_bytes(&self) -> usize {
        self.records.len()
    }

    /// Appends a record.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) {
        let base = *self.base_timestamp.get_or_insert(timestamp);
        put_record(
            &mut self.records,
            timestamp - base,
            i64::from(self.count),
            key,
            value,
            headers.iter().copied(),
        );
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
    }

    /// Finishes the batch: header, CRC, compressed records.
    pub fn build(self) -> Result<Bytes, CompressionError> {
        let section = compression::compress(self.compression, &self.records)?;
        Ok(finish_batch(
            &BatchFields {
                base_offset: 0,
                partition_leader_epoch: -1,
                attributes: (self.compression.attribute_bits() & attributes::COMPRESSION_MASK)
                    | if self.transactional {
                        attributes::TRANSACTIONAL
                    } else {
                        0
                    },
                last_offset_delta: (self.count - 1).max(0),
                base_timestamp: self.base_timestamp.unwrap_or(-1),
                max_timestamp: self.max_timestamp,
                producer_id: self.producer.0,
                producer_epoch: self.producer.1,
                base_sequence: self.producer.2,
                record_count: self.count,
            },
            &section,
        ))
    }
}

/// Encodes one record (length-prefixed body) into `buf`.
fn put_record<'h>(
    buf: &mut BytesMut,
    timestamp_delta: i64,
    offset_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl ExactSizeIterator<Item = (&'h [u8], Option<&'h [u8]>)> + Clone,
) {
    let header_count = headers.len() as i64;
    let mut body_len = 1
        + varlong_size(timestamp_delta)
        + varlong_size(offset_delta)
        + nullable_size(key)
        + nullable_size(value)
        + varlong_size(header_count);
    for (k, v) in headers.clone() {
        body_len += nullable_size(Some(k)) + nullable_size(v);
    }
    put_varlong(buf, body_len as i64);
    buf.put_u8(0); // record attributes: unused in v2
    put_varlong(buf, timestamp_delta);
    put_varlong(buf, offset_delta);
    put_nullable(buf, key);
    put_nullable(buf, value);
    put_varlong(buf, header_count);
    for (k, v) in headers {
        put_nullable(buf, Some(k));
        put_nullable(buf, v);
    }
}

/// The header fields of a batch being written.
struct BatchFields {
    base_offset: i64,
    partition_leader_epoch: i32,
    attributes: i16,
    last_offset_delta: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    record_count: i32,
}

/// Writes the header, then the (already compressed) records section, then the CRC.
fn finish_batch(fields: &BatchFields, section: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(BATCH_HEADER_BYTES + section.len());
    let batch_length = BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD_BYTES + section.len();
    out.put_i64(fields.base_offset);
    out.put_i32(batch_length as i32);
    out.put_i32(fields.partition_leader_epoch);
    out.put_i8(2); // magic
    out.put_u32(0); // crc, filled below
    out.put_i16(fields.attributes);
    out.put_i32(fields.last_offset_delta);
    out.put_i64(fields.base_timestamp);
    out.put_i64(fields.max_timestamp);
    out.put_i64(fields.producer_id);
    out.put_i16(fields.producer_epoch);
    out.put_i32(fields.base_sequence);
    out.put_i32(fields.record_count);
    out.put_slice(section);
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

/// Rebuilds `original` keeping only `retained`, records of it as [`decode_records`] returned
/// them, in offset order: what Kafka's log cleaner does to a batch it compacts.
///
/// Kept from the original: the base offset and the last offset delta (so the producer's last
/// sequence is unchanged, even if the last records are gone), the partition leader epoch, the
/// producer id, epoch and base sequence, and the attributes (codec, timestamp type,
/// transactional, control). The records keep their offsets, timestamps, keys, values and
/// headers, and are re-encoded and re-compressed with the batch's codec. The max timestamp is
/// recomputed from the retained records (CreateTime) or kept (LogAppendTime, or when nothing is
/// retained: an empty batch, as Kafka keeps for an idempotent producer's last batch).
///
/// `delete_horizon_ms`: `Some(h)` sets the delete-horizon attribute and stores `h` as the base
/// timestamp (KIP-534; record timestamps stay exact, being relative to it); `None` clears it and
/// the base timestamp is the first retained record's.
pub fn rebuild_batch(
    original: &BatchView<'_>,
    retained: &[Record],
    delete_horizon_ms: Option<i64>,
) -> Result<Bytes, RecordError> {
    let codec = original
        .compression()
        .ok_or(BatchError::Invalid("unknown compression codec"))?;
    let base_offset = original.base_offset();
    let last_offset_delta = original.last_offset_delta();
    let record_count = i32::try_from(retained.len())
        .map_err(|_| RecordError::Malformed("too many retained records"))?;
    let log_append_time = original.is_log_append_time();
    let base_timestamp = delete_horizon_ms
        .or_else(|| retained.first().map(|r| r.timestamp))
        .unwrap_or_else(|| original.max_timestamp());
    let mut max_timestamp = -1;
    let mut records = BytesMut::new();
    let mut previous_delta = -1;
    for r in retained {
        let offset_delta = r.offset - base_offset;
        if offset_delta <= previous_delta || offset_delta > i64::from(last_offset_delta) {
            return Err(RecordError::Malformed(
                "retained records must lie inside the batch, in offset order",
            ));
        }
        previous_delta = offset_delta;
        max_timestamp = max_timestamp.max(r.timestamp);
        put_record(
            &mut records,
            r.timestamp - base_timestamp,
            offset_delta,
            r.key.as_deref(),
            r.value.as_deref(),
            r.headers
                .iter()
                .map(|h| (h.key.as_ref(), h.value.as_deref())),
        );
    }
    if log_append_time || retained.is_empty() {
        max_timestamp = original.max_timestamp();
    }
    let mut attrs = original.attributes() & !attributes::DELETE_HORIZON;
    if delete_horizon_ms.is_some() {
        attrs |= attributes::DELETE_HORIZON;
    }
    let section = compression::compress(codec, &records)?;
    Ok(finish_batch(
        &BatchFields {
            base_offset,
            partition_leader_epoch: original.partition_leader_epoch(),
            attributes: attrs,
            last_offset_delta,
            base_timestamp,
            max_timestamp,
            producer_id: original.producer_id(),
            producer_epoch: original.producer_epoch(),
            base_sequence: original.base_sequence(),
            record_count,
        },
        &section,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{assign_offsets, validate_batches, BatchIter};

    #[test]
    fn built_batches_validate_and_decode_for_every_codec() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = BatchBuilder::new(codec);
            for i in 0..50i64 {
                let key = format!("k{i}");
                let val = format!("value-{i}");
                b.append(
                    1_000 + i,
                    Some(key.as_bytes()),
                    if i % 7 == 0 {
                        None
                    } else {
                        Some(val.as_bytes())
                    },
                    &[(b"h".as_slice(), Some(b"v".as_slice()))],
                );
            }
            let bytes = b.build().unwrap();
            let summary = validate_batches(&bytes).unwrap();
            assert_eq!(summary.record_count, 50);
            assert_eq!(summary.max_timestamp, 1_049);
            let mut owned = bytes.to_vec();
            assert_eq!(assign_offsets(&mut owned, 100, 0, None), 150);
            validate_batches(&owned).unwrap();
            let view = BatchIter::new(&owned).next().unwrap().unwrap();
            let recs = decode_records(&view).unwrap();
            assert_eq!(recs.len(), 50);
            assert_eq!(recs[3].offset, 103);
            assert_eq!(recs[3].timestamp, 1_003);
            assert_eq!(recs[3].key.as_deref(), Some(b"k3".as_slice()));
            assert_eq!(recs[7].value, None);
            assert_eq!(recs[8].headers[0].key.as_ref(), b"h");
        }
    }

    #[test]
    fn a_decompression_bomb_with_a_huge_record_count_is_refused_cheaply() {
        use crate::batch::BATCH_HEADER_BYTES;
        let mut b = BatchBuilder::new(Compression::Zstd);
        b.append(1, None, Some(b"x"), &[]);
        let mut bytes = b.build().unwrap().to_vec();
        // Replace the records with 8 MiB of compressed zeros and claim i32::MAX records.
        let zeros = crate::compression::compress(Compression::Zstd, &vec![0u8; 8 << 20]).unwrap();
        bytes.truncate(BATCH_HEADER_BYTES);
        bytes.extend_from_slice(&zeros);
        let length = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&length.to_be_bytes());
        bytes[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        bytes[23..27].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
        let crc = crc32c::crc32c(&bytes[21..]);
        bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        let view = BatchView::parse_validated(&bytes).unwrap();
        assert!(decode_records(&view).is_err());
        let mut iter = RecordIter::new(&view).unwrap();
        assert!(iter.size_hint_bounded() <= (8 << 20) / RECORD_BYTES_MIN);
        assert!(iter.next().unwrap().is_err());
        assert!(iter.next().is_none());
        // Past the decompression limit: refused before decoding.
        let huge = crate::compression::compress(
            Compression::Zstd,
            &vec![0u8; crate::compression::DECOMPRESSED_BYTES_MAX + 1],
        )
        .unwrap();
        assert!(matches!(
            crate::compression::decompress(Compression::Zstd, &huge),
            Err(CompressionError::TooLarge)
        ));
    }

    #[test]
    fn assigned_header_equals_assigning_in_place() {
        use crate::batch::{assigned_header, BATCH_HEADER_BYTES};
        for log_append in [None, Some(1_234_567)] {
            let mut b = BatchBuilder::new(Compression::Lz4);
            for i in 0..7 {
                b.append(10 + i, Some(b"k"), Some(b"v"), &[]);
            }
            let original = b.build().unwrap().to_vec();
            let header = assigned_header(&original, 500, 3, log_append);
            let mut in_place = original.clone();
            assign_offsets(&mut in_place, 500, 3, log_append);
            assert_eq!(&header[..], &in_place[..BATCH_HEADER_BYTES]);
            assert_eq!(
                &original[BATCH_HEADER_BYTES..],
                &in_place[BATCH_HEADER_BYTES..]
            );
        }
    }

    #[test]
    fn extreme_deltas_wrap_instead_of_panicking() {
        // Found by the batch_header fuzz target: base timestamp near i64::MAX plus a delta.
        let mut b = BatchBuilder::new(Compression::None);
        b.append(i64::MAX - 1, None, Some(b"x"), &[]);
        b.append(i64::MAX, None, Some(b"y"), &[]);
        let mut bytes = b.build().unwrap().to_vec();
        bytes[27..35].copy_from_slice(&(i64::MAX - 1).to_be_bytes());
        bytes[0..8].copy_from_slice(&(i64::MAX).to_be_bytes());
        let view = BatchView::parse(&bytes).unwrap();
        let records = decode_records(&view).unwrap();
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn log_append_time_rewrites_timestamps_and_keeps_crc_valid() {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(5, None, Some(b"x"), &[]);
        b.append(6, None, Some(b"y"), &[]);
        let mut owned = b.build().unwrap().to_vec();
        assign_offsets(&mut owned, 0, 3, Some(99_999));
        validate_batches(&owned).unwrap();
        let view = BatchView::parse(&owned).unwrap();
        assert!(view.is_log_append_time());
        assert_eq!(view.partition_leader_epoch(), 3);
        let recs = decode_records(&view).unwrap();
        assert!(recs.iter().all(|r| r.timestamp == 99_999));
    }

    #[test]
    fn corrupted_bytes_are_rejected() {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(1, Some(b"k"), Some(b"v"), &[]);
        let good = b.build().unwrap().to_vec();
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(matches!(
            validate_batches(&bad),
            Err(BatchError::CrcMismatch { .. })
        ));
        assert!(matches!(
            validate_batches(&good[..good.len() - 1]),
            Err(BatchError::Truncated { .. })
        ));
        let mut magic = good.clone();
        magic[16] = 1;
        assert!(matches!(
            validate_batches(&magic),
            Err(BatchError::UnsupportedMagic(1))
        ));
    }

    #[test]
    fn rebuild_keeps_offsets_producer_fields_and_codec() {
        for codec in [Compression::None, Compression::Lz4, Compression::Zstd] {
            let mut b = BatchBuilder::new(codec);
            for i in 0..10i64 {
                let key = format!("k{i}");
                let value = (i % 3 != 0).then(|| format!("v{i}"));
                b.append(
                    500 + i,
                    Some(key.as_bytes()),
                    value.as_deref().map(str::as_bytes),
                    &[(b"h".as_slice(), None)],
                );
            }
            let mut owned = b.build().unwrap().to_vec();
            assign_offsets(&mut owned, 1_000, 4, None);
            // Producer fields and the transactional bit, as an idempotent transactional producer.
            owned[43..51].copy_from_slice(&77i64.to_be_bytes());
            owned[51..53].copy_from_slice(&3i16.to_be_bytes());
            owned[53..57].copy_from_slice(&40i32.to_be_bytes());
            let attrs = i16::from_be_bytes([owned[21], owned[22]]) | attributes::TRANSACTIONAL;
            owned[21..23].copy_from_slice(&attrs.to_be_bytes());
            let original = BatchView::parse(&owned).unwrap();
            let records = decode_records(&original).unwrap();
            let retained: Vec<Record> = records
                .iter()
                .filter(|r| r.offset % 4 != 1 && r.offset != 1_009)
                .cloned()
                .collect();

            let rebuilt = rebuild_batch(&original, &retained, None).unwrap();
            let view = BatchView::parse(&rebuilt).unwrap();
            view.verify_crc().unwrap();
            assert_eq!(view.base_offset(), 1_000);
            assert_eq!(view.last_offset(), 1_009, "the last offset is kept");
            assert_eq!(view.record_count() as usize, retained.len());
            assert_eq!(view.partition_leader_epoch(), 4);
            assert_eq!(
                (
                    view.producer_id(),
                    view.producer_epoch(),
                    view.base_sequence()
                ),
                (77, 3, 40)
            );
            assert!(view.is_transactional());
            assert_eq!(view.compression(), Some(codec));
            assert_eq!(view.max_timestamp(), 508);
            assert_eq!(view.base_timestamp(), 500);
            assert_eq!(view.attributes() & attributes::DELETE_HORIZON, 0);
            assert_eq!(decode_records(&view).unwrap(), retained);

            let horizon = rebuild_batch(&original, &retained, Some(90_000)).unwrap();
            let view = BatchView::parse(&horizon).unwrap();
            view.verify_crc().unwrap();
            assert_ne!(view.attributes() & attributes::DELETE_HORIZON, 0);
            assert_eq!(view.base_timestamp(), 90_000);
            assert_eq!(
                decode_records(&view).unwrap(),
                retained,
                "timestamps stay exact"
            );

            let empty = rebuild_batch(&original, &[], None).unwrap();
            let view = BatchView::parse(&empty).unwrap();
            view.verify_crc().unwrap();
            assert_eq!((view.record_count(), view.last_offset()), (0, 1_009));
            assert_eq!(view.max_timestamp(), 509);
            assert!(decode_records(&view).unwrap().is_empty());

            let mut outside = retained.clone();
            outside.reverse();
            assert!(rebuild_batch(&original, &outside, None).is_err());
        }
    }
}

/// A transaction marker: a control batch of one record whose key is (version 0, type) with
/// type 0 = ABORT, 1 = COMMIT, and whose value is (version 0, coordinator epoch), written with
/// the producer's id and epoch and the transactional and control attributes (Kafka's
/// `EndTransactionMarker`).
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp_ms: i64,
) -> Bytes {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&i16::from(commit).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&coordinator_epoch.to_be_bytes());
    let mut records = BytesMut::new();
    put_record(
        &mut records,
        0,
        0,
        Some(&key),
        Some(&value),
        std::iter::empty(),
    );
    finish_batch(
        &BatchFields {
            base_offset: 0,
            partition_leader_epoch: -1,
            attributes: attributes::TRANSACTIONAL | attributes::CONTROL,
            last_offset_delta: 0,
            base_timestamp: timestamp_ms,
            max_timestamp: timestamp_ms,
            producer_id,
            producer_epoch,
            base_sequence: -1,
            record_count: 1,
        },
        &records,
    )
}

/// What a transaction marker says: COMMIT (`Some(true)`), ABORT (`Some(false)`), and its
/// coordinator epoch; `None` for a batch that is not a readable marker.
pub fn read_marker(batch: &BatchView<'_>) -> Option<(bool, i32)> {
    if !batch.is_control() {
        return None;
    }
    let record = RecordIter::new(batch).ok()?.next()?.ok()?;
    let key = record.key?;
    if key.len() < 4 {
        return None;
    }
    let commit = match i16::from_be_bytes([key[2], key[3]]) {
        0 => false,
        1 => true,
        _ => return None,
    };
    let epoch = record
        .value
        .filter(|v| v.len() >= 6)
        .map_or(-1, |v| i32::from_be_bytes([v[2], v[3], v[4], v[5]]));
    Some((commit, epoch))
}

#[cfg(test)]
mod marker_tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for commit in [true, false] {
            let bytes = marker_batch(42, 3, commit, 7, 1_000);
            let view = BatchView::parse_validated(&bytes).unwrap();
            assert!(view.is_control() && view.is_transactional());
            assert_eq!((view.producer_id(), view.producer_epoch()), (42, 3));
            assert_eq!(read_marker(&view), Some((commit, 7)));
        }
        let mut b = BatchBuilder::new(Compression::None);
        b.append(1, Some(b"k"), Some(b"v"), &[]);
        let plain = b.build().unwrap();
        assert_eq!(read_marker(&BatchView::parse(&plain).unwrap()), None);
    }
}
