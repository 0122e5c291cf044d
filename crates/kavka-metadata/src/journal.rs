//! [`MetadataJournal`]: the append-only file of metadata records.
//!
//! ```text
//! file    = frame*
//! frame   = payload_len u32 | crc32c(payload) u32 | payload
//! payload = record_count u32 | (record_len u32 | encoded MetadataRecord)*
//! ```
//!
//! One frame holds one commit (all the records of one metadata change), so a commit replays
//! whole or not at all: a topic never comes back with only some of its partitions. An append
//! writes its frame with one `write` and then fsyncs, so the commit is durable before
//! [`MetadataJournal::append`] returns. A crash can still leave a torn tail (part of the
//! last append, or garbage after it); [`MetadataJournal::open`] keeps the longest prefix of good
//! frames and truncates the rest, like Kafka's log recovery. It cannot tell a torn tail from
//! corruption in the middle of the file: both lose everything from the first bad frame on, with
//! a warning. This file is a stand-in for the Raft log that will replace it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use bytes::BufMut;

use crate::error::MetadataError;
use crate::fsutil::sync_dir;
use crate::records::{DecodeError, MetadataRecord};

/// Name of the journal file inside the directory given to [`MetadataJournal::open`].
pub const JOURNAL_FILE_NAME: &str = "metadata.log";

/// Bytes of a frame header: payload length and CRC.
pub const FRAME_HEADER_BYTES: usize = 8;

/// Largest payload of one frame (one commit). A longer frame read back counts as corruption; a
/// commit that would encode longer is refused by [`MetadataJournal::append`].
pub const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;

/// The metadata journal file, open for appends.
#[derive(Debug)]
pub struct MetadataJournal {
    /// The journal file, for error messages.
    path: PathBuf,
    /// The file; its cursor is always at `len_bytes`.
    file: File,
    /// Bytes of good frames: where the next append goes.
    len_bytes: u64,
    /// Frames in the file.
    record_count: u64,
    /// Set when a failed write could not be undone or an fsync failed: the file's content (or
    /// the page cache's idea of it) is then unknown and only a reopen can establish it.
    failed: bool,
}

/// What ended the good prefix of the file.
#[derive(Debug, thiserror::Error)]
enum TailDamage {
    #[error("torn frame header")]
    TornHeader,
    #[error("frame length {0} above the limit of {FRAME_BYTES_MAX} bytes")]
    OversizedFrame(u32),
    #[error("torn frame payload")]
    TornPayload,
    #[error("CRC mismatch")]
    CrcMismatch,
    /// The CRC matches but the payload is not a record this build decodes.
    #[error("undecodable record: {0}")]
    Undecodable(DecodeError),
}

impl MetadataJournal {
    /// Opens the journal in `dir` (creating the directory and file if missing), reads every
    /// frame, truncates a damaged tail, and returns the journal with the records in order.
    pub fn open(dir: &Path) -> Result<(MetadataJournal, Vec<MetadataRecord>), MetadataError> {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(MetadataError::io(dir))?;
            // The new directory's own entry must be durable too.
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let path = dir.join(JOURNAL_FILE_NAME);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(MetadataError::io(&path))?;
        // Cheap, and makes a new file's directory entry durable before anything relies on it.
        sync_dir(dir)?;
        let file_len = file.metadata().map_err(MetadataError::io(&path))?.len();
        let (records, len_bytes, damage) =
            read_frames(&file, file_len).map_err(MetadataError::io(&path))?;
        if let Some(damage) = damage {
            let dropped_bytes = file_len - len_bytes;
            tracing::warn!(
                path = %path.display(),
                offset = len_bytes,
                dropped_bytes,
                "metadata journal: dropping {dropped_bytes} bytes of damaged tail at offset \
                 {len_bytes}: {damage}"
            );
            file.set_len(len_bytes).map_err(MetadataError::io(&path))?;
            file.sync_all().map_err(MetadataError::io(&path))?;
        }
        file.seek(SeekFrom::Start(len_bytes))
            .map_err(MetadataError::io(&path))?;
        let journal = MetadataJournal {
            path,
            file,
            len_bytes,
            record_count: records.len() as u64,
            failed: false,
        };
        Ok((journal, records))
    }

    /// Appends `records` with one write and fsyncs. On error nothing is acknowledged: the
    /// journal either rolled the file back to its previous length or refuses further appends
    /// ([`MetadataError::JournalFailed`]) until reopened.
    pub fn append(&mut self, records: &[MetadataRecord]) -> Result<(), MetadataError> {
        if self.failed {
            return Err(MetadataError::JournalFailed {
                path: self.path.clone(),
            });
        }
        if records.is_empty() {
            return Ok(());
        }
        let buf = encode_frames(records)?;
        if let Err(source) = self.file.write_all(&buf) {
            self.roll_back();
            return Err(MetadataError::Io {
                path: self.path.clone(),
                source,
            });
        }
        // After a failed fsync the kernel may have dropped the dirty pages and cleared the
        // error: retrying would "succeed" without the data. Only a reopen is safe.
        if let Err(source) = self.file.sync_data() {
            self.failed = true;
            return Err(MetadataError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.len_bytes += buf.len() as u64;
        self.record_count += records.len() as u64;
        Ok(())
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of good frames in the file.
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// Records in the file.
    pub fn record_count(&self) -> u64 {
        self.record_count
    }

    /// Undoes a partial write: back to the last good length, or mark the journal failed.
    fn roll_back(&mut self) {
        let undone = self.file.set_len(self.len_bytes).is_ok()
            && self.file.seek(SeekFrom::Start(self.len_bytes)).is_ok();
        if !undone {
            self.failed = true;
        }
    }
}

/// Frames a commit of `records` into one frame, checking it against [`FRAME_BYTES_MAX`] and
/// that it decodes back to itself (the check a reader will make, made before the bytes are
/// durable).
fn encode_frames(records: &[MetadataRecord]) -> Result<Vec<u8>, MetadataError> {
    let mut buf = Vec::new();
    buf.put_bytes(0, FRAME_HEADER_BYTES);
    buf.put_u32(u32::try_from(records.len()).expect("a commit has fewer than 2^32 records"));
    for record in records {
        let at = buf.len();
        buf.put_u32(0);
        record.encode(&mut buf);
        let len = buf.len() - at - 4;
        if buf.len() - FRAME_HEADER_BYTES > FRAME_BYTES_MAX {
            return Err(MetadataError::RecordTooLarge {
                bytes: buf.len() - FRAME_HEADER_BYTES,
                bytes_max: FRAME_BYTES_MAX,
            });
        }
        buf[at..at + 4].copy_from_slice(&(len as u32).to_be_bytes());
    }
    let payload = &buf[FRAME_HEADER_BYTES..];
    assert_eq!(decode_commit(payload).as_deref(), Ok(records));
    let len = u32::try_from(payload.len()).expect("bounded by FRAME_BYTES_MAX");
    let crc = crc32c::crc32c(payload);
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf[4..FRAME_HEADER_BYTES].copy_from_slice(&crc.to_be_bytes());
    Ok(buf)
}

/// Decodes the records of one commit frame, all or none.
fn decode_commit(payload: &[u8]) -> Result<Vec<MetadataRecord>, DecodeError> {
    let take_u32 = |p: &[u8], at: usize| -> Result<usize, DecodeError> {
        p.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or(DecodeError::Truncated {
                field: "commit length",
            })
    };
    let count = take_u32(payload, 0)?;
    let mut at = 4;
    // Each record takes at least its 4-byte length: bound the allocation by the input.
    let mut records = Vec::with_capacity(count.min(payload.len() / 4));
    for _ in 0..count {
        let len = take_u32(payload, at)?;
        at += 4;
        let body = payload
            .get(at..at.saturating_add(len))
            .ok_or(DecodeError::Truncated {
                field: "commit record",
            })?;
        records.push(MetadataRecord::decode(body)?);
        at += len;
    }
    if at != payload.len() {
        return Err(DecodeError::TrailingBytes {
            bytes: payload.len() - at,
        });
    }
    Ok(records)
}

/// Reads frames from the start of `file` (`file_len` bytes long). Returns the good records,
/// the length of the good prefix, and what stopped it if not the end of the file.
fn read_frames(
    file: &File,
    file_len: u64,
) -> io::Result<(Vec<MetadataRecord>, u64, Option<TailDamage>)> {
    let mut reader = BufReader::new(file);
    let mut records = Vec::new();
    let mut payload = Vec::new();
    let mut pos: u64 = 0;
    let damage = loop {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        match read_full(&mut reader, &mut header)? {
            0 => break None,
            FRAME_HEADER_BYTES => {}
            _ => break Some(TailDamage::TornHeader),
        }
        let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let len = u32::from_be_bytes([l0, l1, l2, l3]);
        let crc = u32::from_be_bytes([c0, c1, c2, c3]);
        if len as usize > FRAME_BYTES_MAX {
            break Some(TailDamage::OversizedFrame(len));
        }
        // Checked against the file before allocating for the payload.
        if u64::from(len) > file_len.saturating_sub(pos + FRAME_HEADER_BYTES as u64) {
            break Some(TailDamage::TornPayload);
        }
        payload.resize(len as usize, 0);
        if read_full(&mut reader, &mut payload)? < payload.len() {
            break Some(TailDamage::TornPayload);
        }
        if crc32c::crc32c(&payload) != crc {
            break Some(TailDamage::CrcMismatch);
        }
        match decode_commit(&payload) {
            Ok(commit) => records.extend(commit),
            Err(e) => break Some(TailDamage::Undecodable(e)),
        }
        pos += (FRAME_HEADER_BYTES + payload.len()) as u64;
    };
    Ok((records, pos, damage))
}

/// Reads until `buf` is full or the end of the input; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
#[path = "journal_tests.rs"]
mod tests;
