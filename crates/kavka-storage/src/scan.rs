//! The recovery scan: reads a segment file from the start, validating the length, magic byte,
//! CRC32C and offsets of every batch, and stops at the first one that fails.
//!
//! The CRC is computed while streaming the batch through a fixed buffer, so a corrupt length
//! field (up to 2 GiB) never causes a large allocation.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use kavka_protocol::batch::BATCH_HEADER_BYTES;

use crate::error::{IoContext, StorageError};
use crate::header::{BatchHeader, CRC_START};

/// Read size of the recovery scan.
const SCAN_BUFFER_BYTES: usize = 256 * 1024;

/// How a scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanOutcome {
    /// Bytes of valid batches from the start of the file.
    pub(crate) valid_bytes: u64,
    /// Bytes after the valid ones (to be truncated).
    pub(crate) truncated_bytes: u64,
    /// Why the scan stopped before the end of the file, if it did.
    pub(crate) stopped: Option<String>,
}

/// A `Read` over a file by positional reads, leaving the shared file cursor alone.
struct PositionalReader<'a> {
    file: &'a File,
    position: u64,
}

impl Read for PositionalReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.position)?;
        self.position += n as u64;
        Ok(n)
    }
}

/// Scans the first `file_bytes` bytes of `file` (a segment whose base offset is `base_offset`),
/// calling `on_batch(position, header)` for each valid batch in order.
///
/// A batch is valid when its header parses (length, magic), it lies entirely inside the file,
/// its CRC32C matches, its offsets do not go backwards and fit the segment's `u32` relative
/// offsets and positions. I/O errors are returned; invalid data only ends the scan.
pub(crate) fn scan_segment(
    file: &File,
    path: &Path,
    file_bytes: u64,
    base_offset: i64,
    mut on_batch: impl FnMut(u64, &BatchHeader),
) -> Result<ScanOutcome, StorageError> {
    let mut reader =
        BufReader::with_capacity(SCAN_BUFFER_BYTES, PositionalReader { file, position: 0 });
    let mut position = 0u64;
    let mut expected_offset = base_offset;
    let mut header_bytes = [0u8; BATCH_HEADER_BYTES];
    let stop = |position: u64, why: String| ScanOutcome {
        valid_bytes: position,
        truncated_bytes: file_bytes - position,
        stopped: Some(why),
    };
    loop {
        if position == file_bytes {
            return Ok(ScanOutcome {
                valid_bytes: position,
                truncated_bytes: 0,
                stopped: None,
            });
        }
        let remaining = file_bytes - position;
        if remaining < BATCH_HEADER_BYTES as u64 {
            return Ok(stop(
                position,
                format!("{remaining} trailing bytes, less than a header"),
            ));
        }
        reader.read_exact(&mut header_bytes).at(path)?;
        let header = match BatchHeader::parse(&header_bytes) {
            Ok(h) => h,
            Err(e) => return Ok(stop(position, e.to_string())),
        };
        let size = header.size_bytes as u64;
        if size > remaining {
            return Ok(stop(
                position,
                format!("torn batch: {size} bytes announced, {remaining} present"),
            ));
        }
        let mut crc = crc32c::crc32c(&header_bytes[CRC_START..]);
        let mut body_bytes = header.size_bytes - BATCH_HEADER_BYTES;
        while body_bytes > 0 {
            let chunk = reader.fill_buf().at(path)?;
            if chunk.is_empty() {
                return Ok(stop(position, "file shrank during the scan".to_string()));
            }
            let n = chunk.len().min(body_bytes);
            crc = crc32c::crc32c_append(crc, &chunk[..n]);
            reader.consume(n);
            body_bytes -= n;
        }
        if crc != header.crc {
            return Ok(stop(
                position,
                format!(
                    "CRC mismatch: stored {:#010x}, computed {crc:#010x}",
                    header.crc
                ),
            ));
        }
        if let Err(why) = check_offsets(&header, expected_offset, base_offset, position) {
            return Ok(stop(position, why));
        }
        on_batch(position, &header);
        expected_offset = header.next_offset();
        position += size;
    }
}

/// Offset and position checks of a batch found at `position` in the segment based at
/// `base_offset`, whose previous batch ended at `expected_offset`.
pub(crate) fn check_offsets(
    header: &BatchHeader,
    expected_offset: i64,
    base_offset: i64,
    position: u64,
) -> Result<(), String> {
    if header.last_offset_delta < 0 || header.record_count < 0 {
        return Err(format!(
            "negative last offset delta {} or record count {}",
            header.last_offset_delta, header.record_count
        ));
    }
    if header.base_offset < expected_offset {
        return Err(format!(
            "base offset {} goes back (expected at least {expected_offset})",
            header.base_offset
        ));
    }
    if header.last_offset() - base_offset > i64::from(u32::MAX) {
        return Err(format!(
            "last offset {} does not fit the segment's relative offsets",
            header.last_offset()
        ));
    }
    if position + header.size_bytes as u64 > u64::from(u32::MAX) {
        return Err("batch ends past the largest indexable position".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_protocol::batch::{assign_offsets, Compression};
    use kavka_protocol::records::BatchBuilder;

    fn segment_bytes(batches: usize) -> Vec<u8> {
        let mut all = Vec::new();
        let mut next = 0;
        for i in 0..batches {
            let mut b = BatchBuilder::new(Compression::None);
            b.append(i as i64, Some(b"k"), Some(&vec![1u8; 100 + i]), &[]);
            let mut bytes = b.build().unwrap().to_vec();
            next = assign_offsets(&mut bytes, next, 0, None);
            all.extend_from_slice(&bytes);
        }
        all
    }

    fn scan(bytes: &[u8]) -> (ScanOutcome, usize) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.log");
        std::fs::write(&path, bytes).unwrap();
        let file = File::open(&path).unwrap();
        let mut batches = 0;
        let outcome = scan_segment(&file, &path, bytes.len() as u64, 0, |_, _| batches += 1);
        (outcome.unwrap(), batches)
    }

    #[test]
    fn clean_file_scans_to_the_end() {
        let bytes = segment_bytes(5);
        let (outcome, batches) = scan(&bytes);
        assert_eq!(outcome.valid_bytes, bytes.len() as u64);
        assert_eq!(outcome.stopped, None);
        assert_eq!(batches, 5);
    }

    #[test]
    fn torn_corrupt_and_backwards_tails_stop_the_scan() {
        let bytes = segment_bytes(3);
        let two = BatchHeader::parse(&bytes).unwrap().size_bytes
            + BatchHeader::parse(&bytes[BatchHeader::parse(&bytes).unwrap().size_bytes..])
                .unwrap()
                .size_bytes;
        let (outcome, batches) = scan(&bytes[..bytes.len() - 1]);
        assert_eq!((outcome.valid_bytes, batches), (two as u64, 2));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(scan(&flipped).0.stopped.unwrap().contains("CRC"));
        let mut repeated = bytes[..two].to_vec();
        repeated.extend_from_slice(&bytes[..two]);
        let (outcome, batches) = scan(&repeated);
        assert_eq!((outcome.valid_bytes, batches), (two as u64, 2));
        assert!(outcome.stopped.unwrap().contains("goes back"));
    }
}
