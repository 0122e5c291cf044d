//! Primitives of the record encoding: big-endian integers, `i32`-length-prefixed UTF-8 strings
//! (`-1` = null), `i32`-count-prefixed arrays, UUIDs as 16 raw bytes.
//!
//! The [`Reader`] checks every length against the bytes actually left before it allocates, so a
//! hostile length costs an error, not memory.

use bytes::BufMut;
use uuid::Uuid;

use crate::records::DecodeError;

/// Appends a non-null string.
pub(crate) fn put_string(buf: &mut Vec<u8>, s: &str) {
    put_len(buf, s.len());
    buf.put_slice(s.as_bytes());
}

/// Appends a nullable string (`-1` length for `None`).
pub(crate) fn put_nullable_string(buf: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i32(-1),
    }
}

/// Appends an array of `i32`.
pub(crate) fn put_i32_array(buf: &mut Vec<u8>, values: &[i32]) {
    put_len(buf, values.len());
    for &v in values {
        buf.put_i32(v);
    }
}

/// Appends a UUID as its 16 bytes.
pub(crate) fn put_uuid(buf: &mut Vec<u8>, id: &Uuid) {
    buf.put_slice(id.as_bytes());
}

fn put_len(buf: &mut Vec<u8>, len: usize) {
    // Records are bounded by the journal's frame limit long before this; a bigger length is a
    // caller bug, not input to reject.
    let len = i32::try_from(len).expect("metadata record field longer than i32::MAX");
    buf.put_i32(len);
}

/// A cursor over one record's bytes.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() {
            return Err(DecodeError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        Ok(bytes.try_into().expect("take returned N bytes"))
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn uuid(&mut self, field: &'static str) -> Result<Uuid, DecodeError> {
        Ok(Uuid::from_bytes(self.array(field)?))
    }

    /// A length prefix: non-negative, and `element_bytes * len` must fit in what is left.
    fn len(&mut self, field: &'static str, element_bytes: usize) -> Result<usize, DecodeError> {
        let len = self.i32(field)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::InvalidLength { field, len })?;
        if len.saturating_mul(element_bytes) > self.rest.len() {
            return Err(DecodeError::Truncated { field });
        }
        Ok(len)
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = self.len(field, 1)?;
        let bytes = self.take(len, field)?;
        let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 { field })?;
        Ok(s.to_owned())
    }

    pub(crate) fn nullable_string(
        &mut self,
        field: &'static str,
    ) -> Result<Option<String>, DecodeError> {
        if self.rest.get(..4) == Some(&(-1i32).to_be_bytes()[..]) {
            self.rest = &self.rest[4..];
            return Ok(None);
        }
        self.string(field).map(Some)
    }

    pub(crate) fn i32_array(&mut self, field: &'static str) -> Result<Vec<i32>, DecodeError> {
        let len = self.len(field, 4)?;
        let mut values = Vec::with_capacity(len);
        for _ in 0..len {
            values.push(self.i32(field)?);
        }
        Ok(values)
    }

    /// Ends the record: every byte must have been consumed.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                bytes: self.rest.len(),
            })
        }
    }
}
