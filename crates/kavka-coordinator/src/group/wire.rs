//! The byte primitives of `__consumer_offsets` records (see [`super::records`] for the
//! encodings): a writer, and a reader that checks every length against the bytes left, of
//! big-endian integers, unsigned varints, strings, bytes, arrays and tag sections.

use bytes::{BufMut, Bytes};

use super::records::{RecordDecodeError, MAX_VALUE_VERSION};

/// Builds one key or value; `flexible` picks the compact length encodings and tag sections.
#[derive(Debug)]
pub(crate) struct Writer {
    /// The bytes so far.
    pub(crate) buf: Vec<u8>,
    /// Whether the version being written is flexible.
    flexible: bool,
}

impl Writer {
    pub(crate) fn new(flexible: bool) -> Self {
        Writer {
            buf: Vec::new(),
            flexible,
        }
    }

    fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// Length of bytes or an array: `i32`, or compact (varint of length + 1).
    pub(crate) fn length(&mut self, len: usize) {
        let len = i32::try_from(len).expect("record field longer than i32::MAX");
        if self.flexible {
            self.uvarint(len as u32 + 1);
        } else {
            self.buf.put_i32(len);
        }
    }

    /// A null array: `i32` -1, or compact 0.
    pub(crate) fn null_array(&mut self) {
        if self.flexible {
            self.uvarint(0);
        } else {
            self.buf.put_i32(-1);
        }
    }

    /// A string: `i16` length (`-1` = null), or compact (varint of length + 1, `0` = null).
    pub(crate) fn nullable_string(&mut self, s: Option<&str>) {
        let len = s.map_or(-1, |s| {
            i16::try_from(s.len()).expect("record string longer than MAX_STRING_BYTES")
        });
        if self.flexible {
            self.uvarint((len + 1) as u32);
        } else {
            self.buf.put_i16(len);
        }
        self.buf.put_slice(s.unwrap_or_default().as_bytes());
    }

    pub(crate) fn string(&mut self, s: &str) {
        self.nullable_string(Some(s));
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.length(b.len());
        self.buf.put_slice(b);
    }

    /// A tag section with these (tag, value bytes) fields, in ascending tag order (flexible
    /// versions only).
    pub(crate) fn tag_section(&mut self, fields: &[(u32, &[u8])]) {
        self.uvarint(fields.len() as u32);
        for (tag, value) in fields {
            self.uvarint(*tag);
            self.uvarint(value.len() as u32);
            self.buf.put_slice(value);
        }
    }

    /// An empty tag section, in flexible versions.
    pub(crate) fn tagged_fields(&mut self) {
        if self.flexible {
            self.uvarint(0);
        }
    }

    pub(crate) fn finish(self) -> Bytes {
        Bytes::from(self.buf)
    }
}

/// A cursor over one key or value; `flexible` as in [`Writer`].
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    /// The bytes not read yet.
    rest: &'a [u8],
    /// Whether the version being read is flexible.
    flexible: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(rest: &'a [u8], flexible: bool) -> Self {
        Reader { rest, flexible }
    }

    /// Reads a value's version (0-4) and returns a reader for its fields.
    pub(crate) fn versioned(
        bytes: &'a [u8],
        record: &'static str,
    ) -> Result<(i16, Self), RecordDecodeError> {
        let mut r = Reader::new(bytes, false);
        let version = r.i16("value version")?;
        if !(0..=MAX_VALUE_VERSION).contains(&version) {
            return Err(RecordDecodeError::UnknownValueVersion { record, version });
        }
        r.flexible = version >= 4;
        Ok((version, r))
    }

    /// Reads a field only `present` in the version being read; `default` otherwise.
    pub(crate) fn field_if<T>(
        &mut self,
        present: bool,
        default: T,
        read: impl FnOnce(&mut Self) -> Result<T, RecordDecodeError>,
    ) -> Result<T, RecordDecodeError> {
        if present {
            read(self)
        } else {
            Ok(default)
        }
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], RecordDecodeError> {
        if n > self.rest.len() {
            return Err(RecordDecodeError::Truncated { field });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn fixed<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], RecordDecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn i16(&mut self, field: &'static str) -> Result<i16, RecordDecodeError> {
        self.fixed(field).map(i16::from_be_bytes)
    }

    pub(crate) fn i32(&mut self, field: &'static str) -> Result<i32, RecordDecodeError> {
        self.fixed(field).map(i32::from_be_bytes)
    }

    pub(crate) fn i64(&mut self, field: &'static str) -> Result<i64, RecordDecodeError> {
        self.fixed(field).map(i64::from_be_bytes)
    }

    fn uvarint(&mut self, field: &'static str) -> Result<u32, RecordDecodeError> {
        let mut value = 0u32;
        for i in 0..5 {
            let [b] = self.fixed::<1>(field)?;
            if i == 4 && b > 0x0f {
                break; // A sixth byte or bits beyond 32.
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordDecodeError::VarintTooLong { field })
    }

    /// A length prefix (`None` = null): `i16` for strings or `i32` for bytes and arrays in
    /// non-flexible versions, a varint of length + 1 in flexible ones.
    fn length(
        &mut self,
        field: &'static str,
        string: bool,
    ) -> Result<Option<usize>, RecordDecodeError> {
        let len = match (self.flexible, string) {
            (true, _) => i64::from(self.uvarint(field)?) - 1,
            (false, true) => i64::from(self.i16(field)?),
            (false, false) => i64::from(self.i32(field)?),
        };
        if len == -1 {
            return Ok(None);
        }
        let len =
            usize::try_from(len).map_err(|_| RecordDecodeError::InvalidLength { field, len })?;
        if len > self.rest.len() {
            return Err(RecordDecodeError::Truncated { field });
        }
        Ok(Some(len))
    }

    pub(crate) fn nullable_string(
        &mut self,
        field: &'static str,
    ) -> Result<Option<String>, RecordDecodeError> {
        let Some(len) = self.length(field, true)? else {
            return Ok(None);
        };
        let s = std::str::from_utf8(self.take(len, field)?)
            .map_err(|_| RecordDecodeError::InvalidUtf8 { field })?;
        Ok(Some(s.to_owned()))
    }

    pub(crate) fn string(&mut self, field: &'static str) -> Result<String, RecordDecodeError> {
        self.nullable_string(field)?
            .ok_or(RecordDecodeError::UnexpectedNull { field })
    }

    pub(crate) fn bytes(&mut self, field: &'static str) -> Result<Bytes, RecordDecodeError> {
        let len = self
            .length(field, false)?
            .ok_or(RecordDecodeError::UnexpectedNull { field })?;
        self.take(len, field).map(Bytes::copy_from_slice)
    }

    /// One byte as a signed integer.
    pub(crate) fn i8(&mut self, field: &'static str) -> Result<i8, RecordDecodeError> {
        self.fixed::<1>(field).map(|[b]| b as i8)
    }

    /// A nullable array's element count (`None` = null), checked as [`Reader::array_len`].
    pub(crate) fn nullable_array_len(
        &mut self,
        field: &'static str,
        min_element_bytes: usize,
    ) -> Result<Option<usize>, RecordDecodeError> {
        let Some(len) = self.length(field, false)? else {
            return Ok(None);
        };
        if len.saturating_mul(min_element_bytes) > self.rest.len() {
            return Err(RecordDecodeError::Truncated { field });
        }
        Ok(Some(len))
    }

    /// An array's element count, checked so that `count * min_element_bytes` bytes are left.
    pub(crate) fn array_len(
        &mut self,
        field: &'static str,
        min_element_bytes: usize,
    ) -> Result<usize, RecordDecodeError> {
        let len = self
            .length(field, false)?
            .ok_or(RecordDecodeError::UnexpectedNull { field })?;
        if len.saturating_mul(min_element_bytes) > self.rest.len() {
            return Err(RecordDecodeError::Truncated { field });
        }
        Ok(len)
    }

    /// Switches to a flexible (or back to a non-flexible) encoding after the version prefix.
    pub(crate) fn set_flexible(&mut self, flexible: bool) {
        self.flexible = flexible;
    }

    /// A tag section's fields as (tag, value bytes), in the order read.
    pub(crate) fn tag_section(
        &mut self,
        field: &'static str,
    ) -> Result<Vec<(u32, &'a [u8])>, RecordDecodeError> {
        let count = self.uvarint(field)?;
        let mut fields = Vec::new();
        for _ in 0..count {
            let tag = self.uvarint(field)?;
            let size = self.uvarint(field)?;
            let value = self.take(usize::try_from(size).unwrap_or(usize::MAX), field)?;
            fields.push((tag, value));
        }
        Ok(fields)
    }

    /// Skips a tag section (flexible versions only); these schemas define no tags.
    pub(crate) fn tagged_fields(&mut self, field: &'static str) -> Result<(), RecordDecodeError> {
        if !self.flexible {
            return Ok(());
        }
        // Each field consumes at least two bytes or fails, so a huge count ends quickly.
        for _ in 0..self.uvarint(field)? {
            self.uvarint(field)?;
            let size = self.uvarint(field)?;
            self.take(usize::try_from(size).unwrap_or(usize::MAX), field)?;
        }
        Ok(())
    }

    /// Ends the key or value: every byte must have been read.
    pub(crate) fn finish(self, part: &'static str) -> Result<(), RecordDecodeError> {
        match self.rest.len() {
            0 => Ok(()),
            bytes => Err(RecordDecodeError::TrailingBytes { part, bytes }),
        }
    }
}
