//! Reading whole batches of a closed segment in order, through one buffer of
//! `log.cleaner.io.buffer.size` bytes (grown for a batch larger than it), with positional reads
//! so that the segment's shared file handle is never moved.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use kavka_protocol::batch::{batch_size, BatchView, BATCH_HEADER_BYTES};

use crate::error::{IoContext, StorageError};

/// Reads the batches of the first `end_bytes` bytes of a segment file.
#[derive(Debug)]
pub(crate) struct BatchReader<'a> {
    /// The segment file.
    file: &'a File,
    /// Its path, for errors.
    path: &'a Path,
    /// Bytes of batches in the file.
    end_bytes: u64,
    /// Bytes read ahead; `buf[start..filled]` is unconsumed.
    buf: Vec<u8>,
    /// File position of `buf[0]`.
    buf_position: u64,
    /// First unconsumed byte of `buf`.
    start: usize,
    /// End of the valid bytes of `buf`.
    filled: usize,
}

impl<'a> BatchReader<'a> {
    /// A reader from the start of the file, reading `buffer_bytes` at a time.
    pub(crate) fn new(
        file: &'a File,
        path: &'a Path,
        end_bytes: u64,
        buffer_bytes: usize,
    ) -> BatchReader<'a> {
        BatchReader {
            file,
            path,
            end_bytes,
            buf: vec![0; buffer_bytes.max(BATCH_HEADER_BYTES)],
            buf_position: 0,
            start: 0,
            filled: 0,
        }
    }

    /// The next batch, CRC-checked (so that corruption is never rewritten under a fresh CRC),
    /// with its file position; `None` at the end.
    pub(crate) fn next_batch(&mut self) -> Result<Option<(u64, BatchView<'_>)>, StorageError> {
        let position = self.buf_position + self.start as u64;
        if position >= self.end_bytes {
            return Ok(None);
        }
        let remaining = self.end_bytes - position;
        if remaining < BATCH_HEADER_BYTES as u64 {
            return Err(self.corrupt(position, "partial batch header"));
        }
        self.fill(BATCH_HEADER_BYTES)?;
        let size = batch_size(&self.buf[self.start..self.filled])
            .map_err(|e| self.corrupt(position, &e.to_string()))?;
        if size as u64 > remaining {
            return Err(self.corrupt(position, "batch runs past the end of the segment"));
        }
        self.fill(size)?;
        let bytes = &self.buf[self.start..self.start + size];
        self.start += size;
        let view = BatchView::parse(bytes)
            .and_then(|view| view.verify_crc().map(|()| view))
            .map_err(|e| corrupt_at(self.path, position, &e.to_string()))?;
        Ok(Some((position, view)))
    }

    /// Makes at least `need` unconsumed bytes available (the caller checked they exist).
    fn fill(&mut self, need: usize) -> Result<(), StorageError> {
        if self.filled - self.start >= need {
            return Ok(());
        }
        self.buf.copy_within(self.start..self.filled, 0);
        self.buf_position += self.start as u64;
        self.filled -= self.start;
        self.start = 0;
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        let file_position = self.buf_position + self.filled as u64;
        let available = usize::try_from(self.end_bytes - file_position).unwrap_or(usize::MAX);
        let n = (self.buf.len() - self.filled).min(available);
        self.file
            .read_exact_at(&mut self.buf[self.filled..self.filled + n], file_position)
            .at(self.path)?;
        self.filled += n;
        if self.filled < need {
            return Err(self.corrupt(file_position, "segment shorter than its batches"));
        }
        Ok(())
    }

    fn corrupt(&self, position: u64, what: &str) -> StorageError {
        corrupt_at(self.path, position, what)
    }
}

/// A [`StorageError::Corrupt`] naming the file and position.
pub(crate) fn corrupt_at(path: &Path, position: u64, what: &str) -> StorageError {
    StorageError::Corrupt(format!("{} at position {position}: {what}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_protocol::batch::{assign_offsets, Compression};
    use kavka_protocol::records::BatchBuilder;

    #[test]
    fn reads_every_batch_with_small_and_large_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.log");
        let mut all = Vec::new();
        let mut next = 0;
        for i in 0..30usize {
            let mut b = BatchBuilder::new(Compression::None);
            b.append(1, Some(b"k"), Some(&vec![3u8; 10 + i * 50]), &[]);
            let mut bytes = b.build().unwrap().to_vec();
            next = assign_offsets(&mut bytes, next, 0, None);
            all.extend_from_slice(&bytes);
        }
        std::fs::write(&path, &all).unwrap();
        let file = File::open(&path).unwrap();
        for buffer_bytes in [1, 100, 4096, 1 << 20] {
            let mut reader = BatchReader::new(&file, &path, all.len() as u64, buffer_bytes);
            let mut offsets = Vec::new();
            let mut end = 0;
            while let Some((position, view)) = reader.next_batch().unwrap() {
                assert_eq!(position, end);
                end += view.size() as u64;
                offsets.push(view.base_offset());
            }
            assert_eq!(offsets, (0..30).collect::<Vec<_>>());
        }
        let mut flipped = all.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        let mut reader = BatchReader::new(&file, &path, all.len() as u64, 4096);
        let err = loop {
            match reader.next_batch() {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the flipped byte must be found"),
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains("CRC"), "{err}");
    }
}
