//! [`Journal`]: the metadata log's batches in one append-only file, `journal.log`.
//!
//! The file is a sequence of [`MetadataBatch`] frames (see `kavka_metadata::batch`) with
//! consecutive offsets and epochs that never go down. An append writes its frames with one
//! `write` and fsyncs before it returns. A crash can leave a torn tail; [`Journal::open`] keeps
//! the longest prefix of good frames and truncates the rest, as Kafka's log recovery does (it
//! cannot tell a torn tail from damage in the middle: both lose everything from the first bad
//! frame on, with a warning). [`Journal::truncate_after`] drops a suffix (a Raft follower
//! whose log diverged from its leader's); [`Journal::drop_through`] drops a prefix a snapshot
//! covers, by rewriting the file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use kavka_metadata::batch::{frame_header, FRAME_HEADER_BYTES};
use kavka_metadata::fsutil::sync_dir;
use kavka_metadata::{MetadataBatch, MetadataError};

use crate::legacy;

/// Name of the journal file inside its directory.
pub const JOURNAL_FILE_NAME: &str = "journal.log";

/// Where one batch sits in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    offset: u64,
    epoch: u32,
    pos: u64,
}

/// The journal file, open for appends.
#[derive(Debug)]
pub struct Journal {
    /// The directory (for the rewrite of [`Journal::drop_through`]).
    dir: PathBuf,
    /// The journal file, for error messages.
    path: PathBuf,
    /// The file; its cursor is always at `len_bytes`.
    file: File,
    /// Bytes of good frames: where the next append goes.
    len_bytes: u64,
    /// The batches in the file, in order.
    entries: Vec<Entry>,
    /// Offset and epoch of the batch just before the file's first (a snapshot's), for the
    /// continuity check of the next append when the file is empty.
    base: (u64, u32),
    /// Set when a failed write could not be undone or an fsync failed: the file's content (or
    /// the page cache's idea of it) is then unknown and only a reopen can establish it.
    failed: bool,
}

impl Journal {
    /// Opens the journal in `dir` (creating the directory and file if missing, converting a
    /// journal of the earlier format), reads every frame, truncates a damaged tail, and
    /// returns the journal with its batches in order.
    pub fn open(dir: &Path) -> Result<(Journal, Vec<MetadataBatch>), MetadataError> {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(MetadataError::io(dir))?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent)?;
            }
        }
        let path = dir.join(JOURNAL_FILE_NAME);
        legacy::convert(dir, &path)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(MetadataError::io(&path))?;
        sync_dir(dir)?;
        let file_len = file.metadata().map_err(MetadataError::io(&path))?.len();
        let (batches, entries, len_bytes, damage) =
            read_frames(&file, file_len).map_err(MetadataError::io(&path))?;
        if let Some(damage) = damage {
            let dropped_bytes = file_len - len_bytes;
            tracing::warn!(
                path = %path.display(),
                position = len_bytes,
                dropped_bytes,
                "metadata journal: dropping {dropped_bytes} bytes of damaged tail at byte \
                 {len_bytes}: {damage}"
            );
            file.set_len(len_bytes).map_err(MetadataError::io(&path))?;
            file.sync_all().map_err(MetadataError::io(&path))?;
        }
        file.seek(SeekFrom::Start(len_bytes))
            .map_err(MetadataError::io(&path))?;
        let base = entries.first().map_or((0, 0), |e| (e.offset - 1, e.epoch));
        let journal = Journal {
            dir: dir.to_path_buf(),
            path,
            file,
            len_bytes,
            entries,
            base,
            failed: false,
        };
        Ok((journal, batches))
    }

    /// Appends `batches` with one write and fsyncs. Each must follow the one before (offset +1,
    /// epoch not lower). On error nothing is acknowledged: the journal either rolled the file
    /// back or refuses further appends ([`MetadataError::JournalFailed`]) until reopened.
    pub fn append(&mut self, batches: &[MetadataBatch]) -> Result<(), MetadataError> {
        self.check_usable()?;
        let mut buf = Vec::new();
        let mut entries = Vec::with_capacity(batches.len());
        let (mut last_offset, mut last_epoch) = self.last();
        for batch in batches {
            if batch.offset != last_offset + 1 || batch.epoch < last_epoch {
                return Err(MetadataError::OutOfOrder {
                    offset: batch.offset,
                    epoch: batch.epoch,
                    last_offset,
                    last_epoch,
                });
            }
            entries.push(Entry {
                offset: batch.offset,
                epoch: batch.epoch,
                pos: self.len_bytes + buf.len() as u64,
            });
            batch.encode_frame(&mut buf)?;
            (last_offset, last_epoch) = (batch.offset, batch.epoch);
        }
        if buf.is_empty() {
            return Ok(());
        }
        if let Err(source) = self.file.write_all(&buf) {
            self.roll_back();
            return Err(self.io_error(source));
        }
        // After a failed fsync the kernel may have dropped the dirty pages and cleared the
        // error: retrying would "succeed" without the data. Only a reopen is safe.
        if let Err(source) = self.file.sync_data() {
            self.failed = true;
            return Err(self.io_error(source));
        }
        self.len_bytes += buf.len() as u64;
        self.entries.extend(entries);
        Ok(())
    }

    /// Drops every batch after `offset` (all of them for an offset before the first) and
    /// fsyncs.
    pub fn truncate_after(&mut self, offset: u64) -> Result<(), MetadataError> {
        self.check_usable()?;
        let keep = self.entries.partition_point(|e| e.offset <= offset);
        let Some(first_dropped) = self.entries.get(keep).copied() else {
            return Ok(());
        };
        let path = self.path.clone();
        let result = self
            .file
            .set_len(first_dropped.pos)
            .and_then(|()| self.file.sync_all())
            .and_then(|()| self.file.seek(SeekFrom::Start(first_dropped.pos)).map(drop));
        if let Err(source) = result {
            self.failed = true;
            return Err(MetadataError::Io { path, source });
        }
        self.len_bytes = first_dropped.pos;
        self.entries.truncate(keep);
        Ok(())
    }

    /// Drops every batch up to and including `offset` (covered by a snapshot of `epoch` at
    /// `offset`): the rest is written to a new file that replaces this one.
    pub fn drop_through(&mut self, offset: u64, epoch: u32) -> Result<(), MetadataError> {
        self.check_usable()?;
        let keep_from = self.entries.partition_point(|e| e.offset <= offset);
        let rest = self.read_entries(keep_from)?;
        let tmp = self.dir.join(format!("{JOURNAL_FILE_NAME}.tmp"));
        let mut buf = Vec::new();
        for batch in &rest {
            batch.encode_frame(&mut buf)?;
        }
        write_durably(&tmp, &buf)?;
        fs::rename(&tmp, &self.path).map_err(MetadataError::io(&self.path))?;
        sync_dir(&self.dir)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(MetadataError::io(&self.path))?;
        file.seek(SeekFrom::End(0))
            .map_err(MetadataError::io(&self.path))?;
        let shift = self
            .entries
            .get(keep_from)
            .map_or(self.len_bytes, |e| e.pos);
        self.entries.drain(..keep_from);
        for e in &mut self.entries {
            e.pos -= shift;
        }
        self.len_bytes = buf.len() as u64;
        self.file = file;
        // The file now starts right after the snapshot (or still where it did, if the snapshot
        // is older than its first batch).
        if keep_from > 0 || (self.entries.is_empty() && offset >= self.base.0) {
            self.base = (offset, epoch);
        }
        Ok(())
    }

    /// The batches from `offset` on.
    pub fn read_from(&self, offset: u64) -> Result<Vec<MetadataBatch>, MetadataError> {
        self.read_entries(self.entries.partition_point(|e| e.offset < offset))
    }

    /// Offset and epoch of the last batch (of the snapshot before the file when it is empty).
    pub fn last(&self) -> (u64, u32) {
        self.entries
            .last()
            .map_or(self.base, |e| (e.offset, e.epoch))
    }

    /// Offset of the first batch in the file, if any.
    pub fn first_offset(&self) -> Option<u64> {
        self.entries.first().map(|e| e.offset)
    }

    /// The epoch of the batch at `offset`, if the file holds it.
    pub fn epoch_at(&self, offset: u64) -> Option<u32> {
        let i = self.entries.partition_point(|e| e.offset < offset);
        self.entries
            .get(i)
            .filter(|e| e.offset == offset)
            .map(|e| e.epoch)
    }

    /// Tells the journal the batch before its first is a snapshot's at (`offset`, `epoch`);
    /// only meaningful while the file is empty (after a snapshot was taken or installed).
    pub fn set_base(&mut self, offset: u64, epoch: u32) {
        if self.entries.is_empty() {
            self.base = (offset, epoch);
        }
    }

    /// The journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of good frames in the file.
    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// Batches in the file.
    pub fn batch_count(&self) -> usize {
        self.entries.len()
    }

    fn read_entries(&self, from: usize) -> Result<Vec<MetadataBatch>, MetadataError> {
        let Some(start) = self.entries.get(from) else {
            return Ok(Vec::new());
        };
        let mut bytes = vec![0; (self.len_bytes - start.pos) as usize];
        self.file
            .read_exact_at(&mut bytes, start.pos)
            .map_err(MetadataError::io(&self.path))?;
        let mut batches = Vec::with_capacity(self.entries.len() - from);
        let mut at = 0;
        while at < bytes.len() {
            let (batch, len) =
                MetadataBatch::decode_frame(&bytes[at..]).map_err(|e| MetadataError::Corrupt {
                    path: self.path.clone(),
                    reason: format!(
                        "frame at byte {} changed since it was checked: {e}",
                        start.pos + at as u64
                    ),
                })?;
            batches.push(batch);
            at += len;
        }
        Ok(batches)
    }

    fn check_usable(&self) -> Result<(), MetadataError> {
        if self.failed {
            return Err(MetadataError::JournalFailed {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    fn io_error(&self, source: io::Error) -> MetadataError {
        MetadataError::Io {
            path: self.path.clone(),
            source,
        }
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

/// Writes `bytes` to a new file at `path` and fsyncs it.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), MetadataError> {
    let mut file = File::create(path).map_err(MetadataError::io(path))?;
    file.write_all(bytes).map_err(MetadataError::io(path))?;
    file.sync_all().map_err(MetadataError::io(path))
}

type Frames = (Vec<MetadataBatch>, Vec<Entry>, u64, Option<String>);

/// Reads frames from the start of `file` (`file_len` bytes long). Returns the good batches,
/// where they are, the length of the good prefix, and what stopped it if not the end.
fn read_frames(file: &File, file_len: u64) -> io::Result<Frames> {
    let mut reader = BufReader::new(file);
    let mut batches: Vec<MetadataBatch> = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut frame = Vec::new();
    let mut pos: u64 = 0;
    let damage = loop {
        frame.resize(FRAME_HEADER_BYTES, 0);
        match read_full(&mut reader, &mut frame)? {
            0 => break None,
            FRAME_HEADER_BYTES => {}
            _ => break Some("torn frame header".to_string()),
        }
        // The header alone is whole only for an empty payload, which then fails to decode.
        let len = match frame_header(&frame) {
            Ok(_) => FRAME_HEADER_BYTES,
            Err(kavka_metadata::batch::FrameError::Torn { needed, .. }) => needed,
            Err(e) => break Some(e.to_string()),
        };
        // Checked against the file before allocating for the payload.
        if (len as u64) > file_len - pos {
            break Some("torn frame payload".to_string());
        }
        frame.resize(len, 0);
        if read_full(&mut reader, &mut frame[FRAME_HEADER_BYTES..])? < len - FRAME_HEADER_BYTES {
            break Some("torn frame payload".to_string());
        }
        let batch = match MetadataBatch::decode_frame(&frame) {
            Ok((batch, _)) => batch,
            Err(e) => break Some(e.to_string()),
        };
        if let Some(prev) = entries.last() {
            if batch.offset != prev.offset + 1 || batch.epoch < prev.epoch {
                break Some(format!(
                    "batch at offset {} epoch {} after offset {} epoch {}",
                    batch.offset, batch.epoch, prev.offset, prev.epoch
                ));
            }
        } else if batch.offset == 0 {
            break Some("batch at offset 0".to_string());
        }
        entries.push(Entry {
            offset: batch.offset,
            epoch: batch.epoch,
            pos,
        });
        batches.push(batch);
        pos += len as u64;
    };
    Ok((batches, entries, pos, damage))
}

/// Reads until `buf` is full or the end of the input; returns the bytes read.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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
