//! Individual records inside a v2 batch: a reader (used off the hot path: ListOffsets by
//! timestamp, the client library, tests) and a builder for whole batches.

use bytes::{BufMut, Bytes, BytesMut};

use crate::batch::{
    attributes, BatchError, BatchView, Compression, BATCH_HEADER_BYTES, BATCH_LOG_OVERHEAD_BYTES,
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

/// Decodes every record of a batch, decompressing when needed.
pub fn decode_records(batch: &BatchView<'_>) -> Result<Vec<Record>, RecordError> {
    let codec = batch
        .compression()
        .ok_or(BatchError::Invalid("unknown compression codec"))?;
    let section = compression::decompress(codec, batch.records_bytes())?;
    let count = usize::try_from(batch.record_count()).unwrap_or(0);
    let mut records = Vec::with_capacity(count.min(section.len()));
    let mut cur = Cursor {
        buf: &section,
        pos: 0,
    };
    let log_append = batch.is_log_append_time();
    for _ in 0..count {
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
        let mut headers = Vec::with_capacity(header_count.min(body.len()));
        for _ in 0..header_count {
            let key = r
                .nullable_bytes()?
                .ok_or(RecordError::Malformed("null header key"))?;
            let value = r.nullable_bytes()?;
            headers.push(RecordHeader { key, value });
        }
        records.push(Record {
            offset: batch.base_offset() + offset_delta,
            timestamp: if log_append {
                batch.max_timestamp()
            } else {
                batch.base_timestamp() + timestamp_delta
            },
            key,
            value,
            headers,
        });
    }
    Ok(records)
}

/// Builds one v2 batch (base offset 0, no producer id) from records, compressing the records
/// section with the chosen codec.
#[derive(Debug)]
pub struct BatchBuilder {
    compression: Compression,
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
            base_timestamp: None,
            max_timestamp: -1,
            count: 0,
            records: BytesMut::new(),
        }
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
        let ts_delta = timestamp - base;
        let offset_delta = i64::from(self.count);
        let mut body_len = 1
            + varlong_size(ts_delta)
            + varlong_size(offset_delta)
            + nullable_size(key)
            + nullable_size(value)
            + varlong_size(headers.len() as i64);
        for (k, v) in headers {
            body_len += nullable_size(Some(k)) + nullable_size(*v);
        }
        let r = &mut self.records;
        put_varlong(r, body_len as i64);
        r.put_u8(0);
        put_varlong(r, ts_delta);
        put_varlong(r, offset_delta);
        put_nullable(r, key);
        put_nullable(r, value);
        put_varlong(r, headers.len() as i64);
        for (k, v) in headers {
            put_nullable(r, Some(k));
            put_nullable(r, *v);
        }
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
    }

    /// Finishes the batch: header, CRC, compressed records.
    pub fn build(self) -> Result<Bytes, CompressionError> {
        let section = compression::compress(self.compression, &self.records)?;
        let mut out = BytesMut::with_capacity(BATCH_HEADER_BYTES + section.len());
        let batch_length = BATCH_HEADER_BYTES - BATCH_LOG_OVERHEAD_BYTES + section.len();
        out.put_i64(0); // base offset
        out.put_i32(batch_length as i32);
        out.put_i32(-1); // partition leader epoch
        out.put_i8(2); // magic
        out.put_u32(0); // crc, filled below
        out.put_i16(self.compression.attribute_bits() & attributes::COMPRESSION_MASK);
        out.put_i32((self.count - 1).max(0));
        let base_ts = self.base_timestamp.unwrap_or(-1);
        out.put_i64(base_ts);
        out.put_i64(self.max_timestamp);
        out.put_i64(-1); // producer id
        out.put_i16(-1); // producer epoch
        out.put_i32(-1); // base sequence
        out.put_i32(self.count);
        out.put_slice(&section);
        let crc = crc32c::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        Ok(out.freeze())
    }
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
}
