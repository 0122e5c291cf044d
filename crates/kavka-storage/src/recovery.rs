//! Opening a partition directory: listing segments, trusting or recovering each, and the
//! per-partition `recovery-point` checkpoint.
//!
//! After a clean shutdown every segment is trusted: only its indexes are sanity-checked (and the
//! segment recovered if they fail). After a crash, segments before the one holding the last
//! flushed offset (recovery point - 1) are trusted the same way (they were fsynced, indexes
//! included, before the recovery point was written), and every segment from it on is scanned
//! batch by batch: the first invalid batch ends the log, its segment is truncated there and all
//! later segments are deleted.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::config::LogConfig;
use crate::error::{IoContext, StorageError};
use crate::segment::{Segment, INDEX_EXTENSION, LOG_EXTENSION, TIME_INDEX_EXTENSION};

/// Name of the recovery point checkpoint in the partition directory.
pub const RECOVERY_POINT_FILE: &str = "recovery-point";
/// Digits of a segment file's base offset (Kafka's zero padding).
const SEGMENT_NAME_DIGITS: usize = 20;

/// What [`crate::PartitionLog::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Bytes of valid batches scanned (length, magic and CRC checked).
    pub scanned_bytes: u64,
    /// Bytes removed: the invalid tail of the truncated segment plus the deleted later segments.
    pub truncated_bytes: u64,
    /// Segments whose offset and time indexes were rebuilt (every scanned segment).
    pub rebuilt_indexes: usize,
    /// Segments deleted because they followed a truncation point.
    pub deleted_segments: usize,
    /// The recovery point read from the checkpoint (unclean open only).
    pub recovery_point: Option<i64>,
    /// Segment swaps of an interrupted cleaner install that were completed.
    pub completed_swaps: usize,
    /// Files of an interrupted clean (`.cleaned`, orphan `.swap` indexes) that were removed.
    pub removed_clean_files: usize,
    /// Segments deleted because they lay wholly below the log start offset checkpoint (a
    /// crash between moving the log start offset and deleting them), or all segments when the
    /// log end fell below the checkpoint (then the log restarts empty at the checkpoint).
    pub deleted_below_log_start: usize,
}

/// Loads the segments of `dir` (which exists), oldest first; creates an empty segment at
/// `empty_base` (the log start offset checkpoint, else 0) when there are none.
pub(crate) fn load_segments(
    dir: &Path,
    config: &LogConfig,
    clean_shutdown: bool,
    empty_base: i64,
) -> Result<(Vec<Segment>, RecoveryReport), StorageError> {
    let bases = list_segment_bases(dir)?;
    let mut report = RecoveryReport::default();
    if bases.is_empty() {
        return Ok((vec![Segment::create(dir, empty_base)?], report));
    }
    let first_scanned = if clean_shutdown {
        bases.len()
    } else {
        report.recovery_point = read_recovery_point(dir)?;
        // Trust a segment only if its successor starts below the recovery point: then a flush
        // ran after the roll that completed its indexes. (A recovery point equal to a
        // successor's base may predate that roll.)
        report.recovery_point.map_or(0, |rp| {
            bases.partition_point(|&base| base < rp).saturating_sub(1)
        })
    };
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let (mut segment, loaded) = Segment::open(dir, base)?;
        let recover = if i >= first_scanned {
            true
        } else if let Some(why) = segment.check_trusted(loaded, next_base)? {
            tracing::warn!(dir = %dir.display(), segment = base, %why, "rebuilding segment indexes");
            true
        } else {
            false
        };
        if recover {
            let outcome = segment.recover(config)?;
            report.scanned_bytes += outcome.valid_bytes;
            report.rebuilt_indexes += 1;
            if let Some(why) = outcome.stopped {
                report.truncated_bytes += outcome.truncated_bytes;
                let later = &bases[i + 1..];
                let mut later_bytes = 0;
                for &later_base in later {
                    later_bytes += Segment::delete_files(dir, later_base)?;
                }
                report.deleted_segments += later.len();
                report.truncated_bytes += later_bytes;
                tracing::warn!(
                    dir = %dir.display(),
                    segment = base,
                    valid_bytes = outcome.valid_bytes,
                    truncated_bytes = outcome.truncated_bytes,
                    deleted_segments = later.len(),
                    deleted_bytes = later_bytes,
                    %why,
                    "truncated the log at the first invalid batch"
                );
                segments.push(segment);
                break;
            }
        }
        if let Some(next_base) = next_base {
            if segment.next_offset() > next_base {
                return Err(StorageError::Corrupt(format!(
                    "{}: segment {base} ends at offset {} past the next segment's base {next_base}",
                    dir.display(),
                    segment.next_offset()
                )));
            }
        }
        segments.push(segment);
    }
    Ok((segments, report))
}

/// Base offsets of the `.log` files in `dir`, sorted; removes index files without a log file.
fn list_segment_bases(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut logs = BTreeSet::new();
    let mut indexes = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some((stem, extension)) = name.to_str().and_then(|n| n.split_once('.')) else {
            continue;
        };
        if stem.len() != SEGMENT_NAME_DIGITS || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        match extension {
            LOG_EXTENSION => {
                logs.insert(base);
            }
            INDEX_EXTENSION | TIME_INDEX_EXTENSION => indexes.push((base, entry.path())),
            _ => {}
        }
    }
    for (base, path) in indexes {
        if !logs.contains(&base) {
            tracing::warn!(path = %path.display(), "removing index file without a segment");
            std::fs::remove_file(&path).at(&path)?;
        }
    }
    Ok(logs.into_iter().collect())
}

/// Reads the recovery point; `None` (scan everything) when missing or unreadable.
fn read_recovery_point(dir: &Path) -> Result<Option<i64>, StorageError> {
    let path = dir.join(RECOVERY_POINT_FILE);
    let raw = match std::fs::read(&path) {
        Ok(raw) => raw,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at(&path),
    };
    let parsed = std::str::from_utf8(&raw)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .filter(|&rp| rp >= 0);
    if parsed.is_none() {
        tracing::warn!(path = %path.display(), "unreadable recovery point; scanning every segment");
    }
    Ok(parsed)
}

/// The recovery point checkpoint, rewritten in place on each flush.
///
/// It is written after the data it covers was fsynced, and not fsynced itself: whichever value
/// survives a crash, old or new, is at or below the durable log end, which is all recovery
/// needs. A torn or unreadable file only makes recovery scan everything.
#[derive(Debug)]
pub(crate) struct RecoveryPointFile {
    /// Path of the checkpoint, for errors.
    path: PathBuf,
    /// The open checkpoint file.
    file: File,
    /// The value last written, to skip rewriting an unchanged one.
    written: Option<i64>,
}

impl RecoveryPointFile {
    /// Opens (or creates) the checkpoint of `dir`.
    pub(crate) fn open(dir: &Path) -> Result<RecoveryPointFile, StorageError> {
        let path = dir.join(RECOVERY_POINT_FILE);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .at(&path)?;
        Ok(RecoveryPointFile {
            path,
            file,
            written: None,
        })
    }

    /// Records `offset` as the recovery point: a fixed-width line written over the old one.
    pub(crate) fn write(&mut self, offset: i64) -> Result<(), StorageError> {
        if self.written == Some(offset) {
            return Ok(());
        }
        let line = format!("{offset:020}\n");
        self.file.write_all_at(line.as_bytes(), 0).at(&self.path)?;
        if self.written.is_none() {
            self.file.set_len(line.len() as u64).at(&self.path)?;
        }
        self.written = Some(offset);
        Ok(())
    }

    /// [`RecoveryPointFile::write`], then fsync: for a recovery point that goes back (a
    /// truncation), which a crash must not undo.
    pub(crate) fn write_durably(&mut self, offset: i64) -> Result<(), StorageError> {
        self.write(offset)?;
        self.file.sync_all().at(&self.path)
    }
}
