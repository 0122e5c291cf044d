//! What a read returns: a byte range of one segment file, read by the caller outside any lock.

use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;

/// Whole batches located by [`crate::PartitionLog::read`]: `len` bytes of `file` from
/// `position`. The log does not read the data; the caller does (`read_bytes`, or later
/// `sendfile`) without holding the partition lock. Appends only add bytes after the slice, so it
/// stays valid while the log is in use.
#[derive(Clone)]
pub struct ReadSlice {
    /// The segment file, `None` for an empty slice.
    pub file: Option<Arc<File>>,
    /// Byte position of the first batch in the file.
    pub position: u64,
    /// Length in bytes (whole batches).
    pub len: usize,
    /// Base offset of the first batch (it may be below the requested offset, which it
    /// contains); the requested offset for an empty slice.
    pub first_offset: i64,
    /// Offset after the last batch; the requested offset for an empty slice.
    pub next_offset: i64,
}

impl fmt::Debug for ReadSlice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadSlice")
            .field("position", &self.position)
            .field("len", &self.len)
            .field("first_offset", &self.first_offset)
            .field("next_offset", &self.next_offset)
            .finish_non_exhaustive()
    }
}

impl ReadSlice {
    /// A slice with no data at `offset`.
    pub fn empty(offset: i64) -> ReadSlice {
        ReadSlice {
            file: None,
            position: 0,
            len: 0,
            first_offset: offset,
            next_offset: offset,
        }
    }

    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the slice's bytes to `out` with one positional read.
    pub fn read_into(&self, out: &mut bytes::BytesMut) -> io::Result<()> {
        let Some(file) = self.file.as_ref().filter(|_| self.len > 0) else {
            return Ok(());
        };
        let start = out.len();
        out.resize(start + self.len, 0);
        file.read_exact_at(&mut out[start..], self.position)
            .inspect_err(|_| out.truncate(start))
    }

    /// Reads the slice with one positional read.
    pub fn read_bytes(&self) -> io::Result<Bytes> {
        match &self.file {
            Some(file) if self.len > 0 => {
                let mut buf = vec![0u8; self.len];
                file.read_exact_at(&mut buf, self.position)?;
                Ok(Bytes::from(buf))
            }
            _ => Ok(Bytes::new()),
        }
    }
}
