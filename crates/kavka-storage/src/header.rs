//! A walker over the batch headers of a segment file.
//!
//! `kavka_protocol::batch::BatchView` needs the whole batch in memory; reads and the clean-open
//! tail check only need the 61-byte header (`kavka_protocol::batch::BatchHeader`), so they read
//! headers through a small buffer instead of loading batches.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use kavka_protocol::batch::BATCH_HEADER_BYTES;
pub(crate) use kavka_protocol::batch::{BatchHeader, CRC_START};

use crate::error::{IoContext, StorageError};

/// Bytes read per `pread` when walking headers: several small batches' headers arrive at once,
/// while a large batch costs one read of its header.
const WALK_BUFFER_BYTES: usize = 4096;

/// Walks the batch headers of a segment file from a batch boundary, reading through a small
/// buffer. Every batch must lie entirely before `end_bytes`.
#[derive(Debug)]
pub(crate) struct HeaderWalker<'a> {
    /// The segment file.
    file: &'a File,
    /// Its path, for errors.
    path: &'a Path,
    /// Position of the next header.
    position: u64,
    /// End of the valid data (the segment's size).
    end_bytes: u64,
    /// Bytes read ahead.
    buf: [u8; WALK_BUFFER_BYTES],
    /// File position of `buf[0]`.
    buf_position: u64,
    /// Valid bytes in `buf`.
    buf_len: usize,
}

impl<'a> HeaderWalker<'a> {
    /// A walker starting at `position`, which must be a batch boundary.
    pub(crate) fn new(file: &'a File, path: &'a Path, position: u64, end_bytes: u64) -> Self {
        HeaderWalker {
            file,
            path,
            position,
            end_bytes,
            buf: [0; WALK_BUFFER_BYTES],
            buf_position: 0,
            buf_len: 0,
        }
    }

    /// The next batch's position and header; `None` at `end_bytes`. A malformed header or a batch
    /// running past the end is [`StorageError::Corrupt`].
    pub(crate) fn next_header(&mut self) -> Result<Option<(u64, BatchHeader)>, StorageError> {
        let position = self.position;
        if position >= self.end_bytes {
            return Ok(None);
        }
        let header_end = position + BATCH_HEADER_BYTES as u64;
        if header_end > self.end_bytes {
            return Err(self.corrupt(position, "partial batch header"));
        }
        let buffered_end = self.buf_position + self.buf_len as u64;
        if position < self.buf_position || header_end > buffered_end {
            let n = (WALK_BUFFER_BYTES as u64).min(self.end_bytes - position) as usize;
            self.file
                .read_exact_at(&mut self.buf[..n], position)
                .at(self.path)?;
            self.buf_position = position;
            self.buf_len = n;
        }
        let at = (position - self.buf_position) as usize;
        let header = BatchHeader::parse(&self.buf[at..self.buf_len])
            .map_err(|e| self.corrupt(position, &e.to_string()))?;
        if header.size_bytes as u64 > self.end_bytes - position {
            return Err(self.corrupt(position, "batch runs past the end of the segment"));
        }
        self.position = position + header.size_bytes as u64;
        Ok(Some((position, header)))
    }

    fn corrupt(&self, position: u64, what: &str) -> StorageError {
        StorageError::Corrupt(format!(
            "{} at position {position}: {what}",
            self.path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_protocol::batch::{assign_offsets, Compression};
    use kavka_protocol::records::BatchBuilder;

    fn batch(records: usize, value_bytes: usize, base_offset: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None);
        for i in 0..records {
            b.append(1_000 + i as i64, None, Some(&vec![7u8; value_bytes]), &[]);
        }
        let mut bytes = b.build().unwrap().to_vec();
        assign_offsets(&mut bytes, base_offset, 0, None);
        bytes
    }

    #[test]
    fn header_fields_and_offset_of_max_timestamp() {
        let bytes = batch(3, 10, 40);
        let h = BatchHeader::parse(&bytes[..BATCH_HEADER_BYTES]).unwrap();
        assert_eq!(h.base_offset, 40);
        assert_eq!(h.last_offset(), 42);
        assert_eq!(h.size_bytes, bytes.len());
        assert_eq!(h.max_timestamp, 1_002);
        assert_eq!(h.offset_of_max_timestamp(), 42);
        assert_eq!(
            BatchHeader::parse(&batch(1, 1, 7))
                .unwrap()
                .offset_of_max_timestamp(),
            7
        );
        assert!(BatchHeader::parse(&bytes[..60]).is_err());
    }

    #[test]
    fn walker_visits_every_batch_across_buffer_refills() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.log");
        let mut all = Vec::new();
        let mut next = 0;
        for i in 0..50 {
            let b = batch(1 + i % 4, 20 + i * 37, next);
            next = BatchHeader::parse(&b).unwrap().next_offset();
            all.extend_from_slice(&b);
        }
        std::fs::write(&path, &all).unwrap();
        let file = File::open(&path).unwrap();
        let mut walker = HeaderWalker::new(&file, &path, 0, all.len() as u64);
        let mut count = 0;
        let mut expected_offset = 0;
        while let Some((_, h)) = walker.next_header().unwrap() {
            assert_eq!(h.base_offset, expected_offset);
            expected_offset = h.next_offset();
            count += 1;
        }
        assert_eq!(count, 50);
        let mut short = HeaderWalker::new(&file, &path, 0, all.len() as u64 - 1);
        let err = loop {
            match short.next_header() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the short walk must fail"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, StorageError::Corrupt(_)));
    }
}
