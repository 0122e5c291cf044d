//! One segment: `<base offset>.log` with its `.index` and `.timeindex`.
//!
//! The log file holds batches exactly as appended, end to end; all I/O on it is positional
//! (`pwrite` / `pread`), so readers holding an `Arc<File>` never race with the file cursor.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use kavka_protocol::batch::{BatchView, BATCH_HEADER_BYTES};
use kavka_protocol::records::RecordIter;

use crate::config::LogConfig;
use crate::error::{IoContext, StorageError};
use crate::failpoint::FailPoint;
use crate::header::{BatchHeader, HeaderWalker};
use crate::index::OffsetIndex;
use crate::index_file::Loaded;
use crate::read::ReadSlice;
use crate::time_index::TimeIndex;

mod load;

/// Extension of segment data files.
pub(crate) const LOG_EXTENSION: &str = "log";
/// Extension of offset index files.
pub(crate) const INDEX_EXTENSION: &str = "index";
/// Extension of time index files.
pub(crate) const TIME_INDEX_EXTENSION: &str = "timeindex";

/// Suffix of a segment's files while the cleaner writes them (`<base>.log.cleaned`).
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a cleaned segment's files once committed, until they replace the old segments.
pub(crate) const SWAP_SUFFIX: &str = ".swap";
/// The three files of a segment, in the order renames go (the log file last: its name is what
/// recovery looks at).
const SEGMENT_EXTENSIONS: [&str; 3] = [INDEX_EXTENSION, TIME_INDEX_EXTENSION, LOG_EXTENSION];

/// Source of [`Segment::id`]: unique within the process.
static NEXT_SEGMENT_ID: AtomicU64 = AtomicU64::new(1);

/// `<dir>/<base offset, 20 digits>.<extension>`, as Kafka names segment files.
pub(crate) fn segment_path(dir: &Path, base_offset: i64, extension: &str) -> PathBuf {
    suffixed_path(dir, base_offset, extension, "")
}

/// `<dir>/<base offset, 20 digits>.<extension><suffix>` (suffix `""`, `.cleaned` or `.swap`).
pub(crate) fn suffixed_path(
    dir: &Path,
    base_offset: i64,
    extension: &str,
    suffix: &str,
) -> PathBuf {
    dir.join(format!("{base_offset:020}.{extension}{suffix}"))
}

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    /// Identity of this segment object, unique in the process: a clean task names the segments
    /// it read by (base offset, id), so that installing notices one that was replaced.
    id: u64,
    /// Offset of the first record the segment may hold; names its files.
    base_offset: i64,
    /// The directory holding the files.
    dir: PathBuf,
    /// Suffix of the file names: `""` for a live segment, `.cleaned` / `.swap` for the cleaner's.
    suffix: &'static str,
    /// Path of the `.log` file.
    log_path: PathBuf,
    /// The `.log` file, shared with read slices.
    file: Arc<File>,
    /// Bytes of valid batches; the file is never longer after a successful open.
    size_bytes: u64,
    /// Offset after the last record in the segment.
    next_offset: i64,
    /// Sparse offset -> position index.
    offset_index: OffsetIndex,
    /// Sparse timestamp -> offset index.
    time_index: TimeIndex,
    /// Bytes appended since the last offset index entry.
    bytes_since_index_entry: u64,
    /// Largest batch max timestamp, -1 when none.
    max_timestamp: i64,
    /// Offset of the record carrying `max_timestamp` (see `BatchHeader::offset_of_max_timestamp`).
    offset_of_max_timestamp: i64,
    /// When the first batch was appended (segment.ms); after a reopen, the first batch's
    /// max timestamp, as Kafka does.
    first_append_ms: Option<i64>,
    /// Data written since the last fsync.
    unsynced: bool,
}

impl Segment {
    /// Creates a new, empty segment; fails if its log file already exists.
    pub(crate) fn create(dir: &Path, base_offset: i64) -> Result<Segment, StorageError> {
        Segment::create_with_suffix(dir, base_offset, "")
    }

    /// Creates a new, empty segment whose files carry `suffix`. A live segment (`""`) fails if
    /// its log file exists; the cleaner's files replace stale ones of an earlier failed run.
    pub(crate) fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        suffix: &'static str,
    ) -> Result<Segment, StorageError> {
        let log_path = suffixed_path(dir, base_offset, LOG_EXTENSION, suffix);
        if !suffix.is_empty() {
            remove_if_present(&log_path)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .at(&log_path)?;
        for extension in [INDEX_EXTENSION, TIME_INDEX_EXTENSION] {
            remove_if_present(&suffixed_path(dir, base_offset, extension, suffix))?;
        }
        let (mut segment, _) = Segment::with_file(dir, base_offset, suffix, log_path, file)?;
        segment.unsynced = true;
        Ok(segment)
    }

    /// Opens an existing segment's files without checking them. `next_offset` and the max
    /// timestamp are set by [`Segment::check_trusted`] or [`Segment::recover`].
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
    ) -> Result<(Segment, [Loaded; 2]), StorageError> {
        let log_path = segment_path(dir, base_offset, LOG_EXTENSION);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .at(&log_path)?;
        Segment::with_file(dir, base_offset, "", log_path, file)
    }

    fn with_file(
        dir: &Path,
        base_offset: i64,
        suffix: &'static str,
        log_path: PathBuf,
        file: File,
    ) -> Result<(Segment, [Loaded; 2]), StorageError> {
        let size_bytes = file.metadata().at(&log_path)?.len();
        let (offset_index, offset_loaded) =
            OffsetIndex::open(&suffixed_path(dir, base_offset, INDEX_EXTENSION, suffix))?;
        let (time_index, time_loaded) = TimeIndex::open(&suffixed_path(
            dir,
            base_offset,
            TIME_INDEX_EXTENSION,
            suffix,
        ))?;
        let segment = Segment {
            id: NEXT_SEGMENT_ID.fetch_add(1, Ordering::Relaxed),
            base_offset,
            dir: dir.to_path_buf(),
            suffix,
            log_path,
            file: Arc::new(file),
            size_bytes,
            next_offset: base_offset,
            offset_index,
            time_index,
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            first_append_ms: None,
            unsynced: false,
        };
        Ok((segment, [offset_loaded, time_loaded]))
    }

    /// Renames the segment's three files to carry `suffix` (the index files first, the log file
    /// last); the open handles stay valid. Each rename is a step of the cleaner's swap protocol.
    pub(crate) fn rename_files(
        &mut self,
        suffix: &'static str,
        failpoint: &mut FailPoint,
    ) -> Result<(), StorageError> {
        for extension in SEGMENT_EXTENSIONS {
            failpoint.hit()?;
            let to = suffixed_path(&self.dir, self.base_offset, extension, suffix);
            match extension {
                INDEX_EXTENSION => self.offset_index.rename(&to)?,
                TIME_INDEX_EXTENSION => self.time_index.rename(&to)?,
                _ => {
                    std::fs::rename(&self.log_path, &to).at(&self.log_path)?;
                    self.log_path = to;
                }
            }
        }
        self.suffix = suffix;
        Ok(())
    }

    /// Removes the segment's three files under their current names (a cleaned segment that is
    /// not installed).
    pub(crate) fn remove_files(&self) -> Result<(), StorageError> {
        remove_if_present(&self.log_path)?;
        remove_if_present(self.offset_index.path())?;
        remove_if_present(self.time_index.path())
    }

    /// Removes a segment's three files; returns the size of the log file removed.
    pub(crate) fn delete_files(dir: &Path, base_offset: i64) -> Result<u64, StorageError> {
        let log_path = segment_path(dir, base_offset, LOG_EXTENSION);
        let size_bytes = std::fs::metadata(&log_path).map_or(0, |m| m.len());
        for extension in [LOG_EXTENSION, INDEX_EXTENSION, TIME_INDEX_EXTENSION] {
            remove_if_present(&segment_path(dir, base_offset, extension))?;
        }
        Ok(size_bytes)
    }

    /// Updates the indexes, max timestamp and next offset for a batch written at `position`.
    fn track_batch(&mut self, position: u64, header: &BatchHeader, config: &LogConfig) {
        if header.max_timestamp > self.max_timestamp {
            self.max_timestamp = header.max_timestamp;
            self.offset_of_max_timestamp = header.offset_of_max_timestamp();
        }
        // A full index skips entries (lookups stay correct, only sparser); the next append rolls.
        if self.bytes_since_index_entry >= config.index_interval_bytes
            && self.offset_index.len() < config.offset_index_entries_max()
        {
            let position = u32::try_from(position).expect("segment positions fit u32");
            self.offset_index
                .append(self.relative(header.base_offset), position);
            if self.time_index.len() < config.time_index_entries_max() {
                self.append_time_entry();
            }
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry += header.size_bytes as u64;
        self.next_offset = header.next_offset();
    }

    /// Adds a time index entry for the current max timestamp if it grew past the last entry.
    fn append_time_entry(&mut self) {
        if self.max_timestamp > self.time_index.last_timestamp() {
            let relative = self.relative(self.offset_of_max_timestamp);
            self.time_index.maybe_append(self.max_timestamp, relative);
        }
    }

    fn relative(&self, offset: i64) -> u32 {
        u32::try_from(offset - self.base_offset).expect("relative offsets fit u32 (roll checks)")
    }

    fn absolute(&self, relative_offset: u32) -> i64 {
        self.base_offset + i64::from(relative_offset)
    }

    /// Why the segment must be rolled before appending `append_bytes` bytes ending at
    /// `last_offset` at `now_ms`; `None` to append here. An empty segment is never rolled.
    pub(crate) fn roll_reason(
        &self,
        append_bytes: u64,
        last_offset: i64,
        now_ms: i64,
        config: &LogConfig,
    ) -> Option<&'static str> {
        if self.size_bytes == 0 {
            return None;
        }
        if self.size_bytes + append_bytes > config.segment_bytes_max() {
            Some("segment.bytes")
        } else if self
            .first_append_ms
            .is_some_and(|t| now_ms.saturating_sub(t) > config.segment_ms)
        {
            Some("segment.ms")
        } else if self.offset_index.len() >= config.offset_index_entries_max()
            || self.time_index.len() >= config.time_index_entries_max()
        {
            Some("segment.index.bytes")
        } else if last_offset - self.base_offset > i64::from(u32::MAX) {
            Some("relative offset overflow")
        } else {
            None
        }
    }

    /// Appends already validated batches with assigned offsets, with one positional write.
    pub(crate) fn append(
        &mut self,
        batches: &[u8],
        now_ms: i64,
        config: &LogConfig,
    ) -> Result<(), StorageError> {
        let position = self.size_bytes;
        if let Err(e) = self.file.write_all_at(batches, position) {
            // Drop a partial write so that the file ends at the last whole batch.
            let _ = self.file.set_len(position);
            return Err(e).at(&self.log_path);
        }
        self.first_append_ms.get_or_insert(now_ms);
        let mut at = 0;
        while at < batches.len() {
            let header = BatchHeader::parse(&batches[at..]).expect("batches validated");
            self.track_batch(position + at as u64, &header, config);
            at += header.size_bytes;
        }
        self.size_bytes += batches.len() as u64;
        self.unsynced = true;
        Ok(())
    }

    /// Appends one batch given as its (rewritten) header and its unchanged records, with one
    /// positional vectored write: the records are written from where they are, never copied.
    pub(crate) fn append_parts(
        &mut self,
        header: &[u8; BATCH_HEADER_BYTES],
        records: &[u8],
        now_ms: i64,
        config: &LogConfig,
    ) -> Result<(), StorageError> {
        let position = self.size_bytes;
        let total = header.len() + records.len();
        let mut written = 0usize;
        while written < total {
            let result = if written < header.len() {
                rustix::io::pwritev(
                    &*self.file,
                    &[
                        std::io::IoSlice::new(&header[written..]),
                        std::io::IoSlice::new(records),
                    ],
                    position + written as u64,
                )
            } else {
                let at = written - header.len();
                rustix::io::pwrite(&*self.file, &records[at..], position + written as u64)
            };
            match result {
                Ok(0) => {
                    let _ = self.file.set_len(position);
                    return Err(std::io::Error::from(std::io::ErrorKind::WriteZero))
                        .at(&self.log_path);
                }
                Ok(n) => written += n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    // Drop a partial write so that the file ends at the last whole batch.
                    let _ = self.file.set_len(position);
                    return Err(std::io::Error::from(e)).at(&self.log_path);
                }
            }
        }
        self.first_append_ms.get_or_insert(now_ms);
        let parsed = BatchHeader::parse(header).expect("batch validated");
        self.track_batch(position, &parsed, config);
        self.size_bytes += total as u64;
        self.unsynced = true;
        Ok(())
    }

    /// Completes the indexes when the segment stops being active (roll, close): the final time
    /// index entry carrying the segment's max timestamp, and the unwritten entries.
    pub(crate) fn finish(&mut self) -> Result<(), StorageError> {
        self.append_time_entry();
        self.offset_index.write_pending()?;
        self.time_index.write_pending()
    }

    /// Whether [`Segment::flush`] has anything to do.
    pub(crate) fn needs_flush(&self) -> bool {
        self.unsynced || self.offset_index.needs_sync() || self.time_index.needs_sync()
    }

    /// Makes data and indexes durable.
    pub(crate) fn flush(&mut self) -> Result<(), StorageError> {
        if self.unsynced {
            self.file.sync_data().at(&self.log_path)?;
            self.unsynced = false;
        }
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    /// Whole batches from the one containing `offset`, up to `max_bytes` (the first one even if
    /// larger when `min_one_batch`), none starting at or after `end_offset`. `None` when no batch
    /// at or after `offset` is in this segment.
    pub(crate) fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        end_offset: i64,
    ) -> Result<Option<ReadSlice>, StorageError> {
        let Some((position, first, mut walker)) = self.find_batch(offset, |_| true)? else {
            return Ok(None);
        };
        if first.base_offset >= end_offset {
            return Ok(Some(ReadSlice::empty(offset)));
        }
        if first.size_bytes > max_bytes && !min_one_batch {
            return Ok(Some(ReadSlice::empty(offset)));
        }
        let mut len = first.size_bytes;
        let mut next_offset = first.next_offset();
        while let Some((_, header)) = walker.next_header()? {
            if len + header.size_bytes > max_bytes || header.base_offset >= end_offset {
                break;
            }
            len += header.size_bytes;
            next_offset = header.next_offset();
        }
        Ok(Some(ReadSlice {
            file: Some(Arc::clone(&self.file)),
            position,
            len,
            first_offset: first.base_offset,
            next_offset,
        }))
    }

    /// The first batch ending at or after `from_offset` that matches `wanted`, found by walking
    /// headers from the indexed position; with the walker, positioned after that batch.
    fn find_batch(
        &self,
        from_offset: i64,
        wanted: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader, HeaderWalker<'_>)>, StorageError> {
        let relative = u64::try_from(from_offset - self.base_offset).unwrap_or(0);
        let start = u64::from(self.offset_index.lookup(relative));
        let mut walker = HeaderWalker::new(&self.file, &self.log_path, start, self.size_bytes);
        while let Some((position, header)) = walker.next_header()? {
            if header.last_offset() >= from_offset && wanted(&header) {
                return Ok(Some((position, header, walker)));
            }
        }
        Ok(None)
    }

    /// The first record with timestamp >= `timestamp_ms`, as (offset, timestamp): the time index
    /// skips what is surely older, batch headers locate the batch, and only that batch's records
    /// are decoded. Records below `min_offset` (the log start offset) are not considered.
    pub(crate) fn find_timestamp(
        &self,
        timestamp_ms: i64,
        min_offset: i64,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let from_offset = match self.time_index.last_offset_before(timestamp_ms) {
            Some(relative) => self.absolute(relative) + 1,
            None => self.base_offset,
        };
        let mut from = from_offset.max(min_offset);
        while let Some((position, header, _)) =
            self.find_batch(from, |h| h.max_timestamp >= timestamp_ms)?
        {
            let mut bytes = vec![0u8; header.size_bytes];
            self.file
                .read_exact_at(&mut bytes, position)
                .at(&self.log_path)?;
            let corrupt = |e: &dyn std::fmt::Display| {
                StorageError::Corrupt(format!("{} at {position}: {e}", self.log_path.display()))
            };
            let view = BatchView::parse(&bytes).map_err(|e| corrupt(&e))?;
            // Records one at a time: the search stops at the first match and never holds a
            // whole batch of decoded records.
            for r in RecordIter::new(&view).map_err(|e| corrupt(&e))? {
                let r = r.map_err(|e| corrupt(&e))?;
                if r.timestamp >= timestamp_ms && r.offset >= from {
                    return Ok(Some((r.offset, r.timestamp)));
                }
            }
            // The header's max timestamp overstated its records: keep looking after it.
            from = header.next_offset();
        }
        Ok(None)
    }

    /// Offset of the first record the segment may hold.
    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }
    /// Identity of this segment object (see the field).
    pub(crate) fn id(&self) -> u64 {
        self.id
    }
    /// The `.log` file, shared with readers and clean tasks.
    pub(crate) fn file(&self) -> &Arc<File> {
        &self.file
    }
    /// Path of the `.log` file.
    pub(crate) fn log_path(&self) -> &Path {
        &self.log_path
    }
    /// Suffix of the file names (`""` for a live segment).
    pub(crate) fn suffix(&self) -> &'static str {
        self.suffix
    }
    /// Sets the offset after the segment's range: a cleaned segment covers the whole range of
    /// the segments it replaces, whatever records it kept.
    pub(crate) fn set_next_offset(&mut self, next_offset: i64) {
        assert!(
            next_offset >= self.next_offset,
            "a segment's range never shrinks"
        );
        self.next_offset = next_offset;
    }
    /// Kafka's "largest timestamp" of a segment, used by time retention: the max timestamp, or
    /// the file's modification time when no batch carries a timestamp.
    pub(crate) fn largest_timestamp_ms(&self) -> Result<i64, StorageError> {
        if self.max_timestamp >= 0 {
            return Ok(self.max_timestamp);
        }
        let modified = self
            .file
            .metadata()
            .and_then(|m| m.modified())
            .at(&self.log_path)?;
        Ok(modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }
    /// Offset after the segment's last record.
    pub(crate) fn next_offset(&self) -> i64 {
        self.next_offset
    }
    /// Bytes of batches.
    pub(crate) fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
    /// Largest batch max timestamp, -1 when none.
    pub(crate) fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    /// Offset of the record carrying the max timestamp.
    pub(crate) fn offset_of_max_timestamp(&self) -> i64 {
        self.offset_of_max_timestamp
    }
}

fn remove_if_present(path: &Path) -> Result<(), StorageError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e).at(path),
        _ => Ok(()),
    }
}
