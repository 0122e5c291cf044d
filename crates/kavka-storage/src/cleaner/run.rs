//! [`CleanTask::run`]: building the offset map, then rewriting the segments group by group.

use std::sync::Arc;
use std::time::Instant;

use kavka_protocol::records::decode_records;

use super::filter::{FilterContext, Filtered};
use super::offset_map::OffsetMap;
use super::reader::{corrupt_at, BatchReader};
use super::txn::TxnTracker;
use super::{CleanStats, CleanTask, CleanedGroup, CleanedLog, CleanerConfig, SourceSegment};
use crate::config::SEGMENT_BYTES_MAX;
use crate::error::{IoContext, StorageError};
use crate::segment::{Segment, CLEANED_SUFFIX};

impl CleanTask {
    /// Start of the dirty section.
    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty_offset
    }

    /// End of the dirty section.
    pub fn first_uncleanable_offset(&self) -> i64 {
        self.first_uncleanable_offset
    }

    /// Runs the clean (module doc) without any lock: reads the captured segments and writes
    /// fsynced `<base>.log.cleaned` segments (with indexes) into the partition directory.
    pub fn run(&self, cleaner: &CleanerConfig, now_ms: i64) -> Result<CleanedLog, StorageError> {
        let started = Instant::now();
        let mut stats = CleanStats::default();
        let mut map = OffsetMap::new(cleaner.dedupe_buffer_bytes);
        let txns = TxnTracker::new(&self.aborted, self.active_producers.iter().copied());
        let map_end_offset = self.build_offset_map(&mut map, &txns, cleaner, &mut stats)?;
        stats.map_keys = map.len() as u64;
        let context = FilterContext {
            map: &map,
            map_end_offset,
            now_ms,
            delete_retention_ms: self.config.delete_retention_ms,
            txns: txns.into(),
        };
        let mut cleaned = CleanedLog {
            log_instance: self.log_instance,
            groups: Vec::new(),
            first_dirty_offset: map_end_offset,
            delete_horizon_ms: -1,
            forgotten_aborted: Vec::new(),
            stats: CleanStats::default(),
            _token: Arc::clone(&self.token),
        };
        let to_clean: Vec<&SourceSegment> = self
            .sources
            .iter()
            .take_while(|s| s.base_offset < map_end_offset)
            .collect();
        for group in group_segments(&to_clean, self.config.segment_bytes_max()) {
            // Pushed one by one: if a later group fails, dropping `cleaned` removes the files.
            let segment = self.clean_group(
                &group,
                &context,
                cleaner,
                now_ms,
                &mut stats,
                &mut cleaned.delete_horizon_ms,
            )?;
            cleaned.groups.push(CleanedGroup {
                sources: group.iter().map(|s| (s.base_offset, s.id)).collect(),
                segment,
            });
        }
        stats.elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        cleaned.stats = stats;
        cleaned.forgotten_aborted = context.txns.into_inner().into_forgotten();
        Ok(cleaned)
    }

    /// Maps the dirty section; returns the first offset not covered: the first record whose
    /// key did not fit, else the end of the dirty section.
    fn build_offset_map(
        &self,
        map: &mut OffsetMap,
        txns: &TxnTracker,
        cleaner: &CleanerConfig,
        stats: &mut CleanStats,
    ) -> Result<i64, StorageError> {
        let first_dirty = self.first_dirty_offset;
        for source in &self.sources {
            if source.end_offset <= first_dirty
                || source.base_offset >= self.first_uncleanable_offset
            {
                continue;
            }
            let mut reader = BatchReader::new(
                &source.file,
                &source.path,
                source.size_bytes,
                cleaner.io_buffer_bytes,
            );
            while let Some((position, view)) = reader.next_batch()? {
                if view.last_offset() < first_dirty {
                    continue;
                }
                if view.base_offset() >= self.first_uncleanable_offset {
                    // Past the last stable offset (inside the last cleanable segment).
                    break;
                }
                stats.map_bytes_read += view.size() as u64;
                if view.is_control() || txns.is_aborted(&view) {
                    continue;
                }
                let records = decode_records(&view)
                    .map_err(|e| corrupt_at(&source.path, position, &e.to_string()))?;
                for record in records {
                    let Some(key) = &record.key else { continue };
                    if record.offset >= first_dirty && !map.insert(key, record.offset) {
                        return Ok(record.offset);
                    }
                }
            }
        }
        Ok(first_dirty.max(self.first_uncleanable_offset))
    }

    /// Writes the cleaned segment of one group; `None` if it would be a copy of its one
    /// segment.
    fn clean_group(
        &self,
        group: &[&SourceSegment],
        context: &FilterContext<'_>,
        cleaner: &CleanerConfig,
        now_ms: i64,
        stats: &mut CleanStats,
        latest_horizon_ms: &mut i64,
    ) -> Result<Option<Segment>, StorageError> {
        let base_offset = group[0].base_offset;
        let mut out = Segment::create_with_suffix(&self.dir, base_offset, CLEANED_SUFFIX)?;
        let written = self.write_group(
            &mut out,
            group,
            context,
            cleaner,
            now_ms,
            stats,
            latest_horizon_ms,
        );
        let changed = match written {
            Ok(changed) => changed,
            Err(e) => {
                let _ = out.remove_files();
                return Err(e);
            }
        };
        stats.bytes_written += out.size_bytes();
        if !changed {
            out.remove_files()?;
            return Ok(None);
        }
        let end_offset = group.last().expect("groups are not empty").end_offset;
        out.set_next_offset(end_offset);
        // As Kafka does: the cleaned segment keeps its sources' modification time, which time
        // retention uses when no batch carries a timestamp (an emptied segment).
        if let Err(e) = keep_modification_time(&out, group) {
            let _ = out.remove_files();
            return Err(e);
        }
        Ok(Some(out))
    }

    /// Filters the group's batches into `out` and makes it durable; whether anything changed.
    #[allow(clippy::too_many_arguments)]
    fn write_group(
        &self,
        out: &mut Segment,
        group: &[&SourceSegment],
        context: &FilterContext<'_>,
        cleaner: &CleanerConfig,
        now_ms: i64,
        stats: &mut CleanStats,
        latest_horizon_ms: &mut i64,
    ) -> Result<bool, StorageError> {
        let mut changed = group.len() > 1;
        let mut pending = Vec::with_capacity(cleaner.io_buffer_bytes);
        for source in group {
            let mut reader = BatchReader::new(
                &source.file,
                &source.path,
                source.size_bytes,
                cleaner.io_buffer_bytes,
            );
            while let Some((_, view)) = reader.next_batch()? {
                stats.bytes_read += view.size() as u64;
                match context.filter(&view, stats, latest_horizon_ms)? {
                    Filtered::Keep => pending.extend_from_slice(view.as_bytes()),
                    Filtered::Rebuilt(bytes) => {
                        changed = true;
                        pending.extend_from_slice(&bytes);
                    }
                    Filtered::Drop => changed = true,
                }
                if pending.len() >= cleaner.io_buffer_bytes {
                    self.append(out, &mut pending, now_ms)?;
                }
            }
        }
        self.append(out, &mut pending, now_ms)?;
        out.finish()?;
        out.flush()?;
        Ok(changed)
    }

    fn append(
        &self,
        out: &mut Segment,
        pending: &mut Vec<u8>,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        if pending.is_empty() {
            return Ok(());
        }
        if out.size_bytes() + pending.len() as u64 > SEGMENT_BYTES_MAX {
            return Err(StorageError::Corrupt(format!(
                "cleaned segment {} would pass the largest indexable size",
                out.base_offset()
            )));
        }
        out.append(pending, now_ms, &self.config)?;
        pending.clear();
        Ok(())
    }
}

/// Sets `out`'s modification time to the latest of `group`'s, durably.
fn keep_modification_time(out: &Segment, group: &[&SourceSegment]) -> Result<(), StorageError> {
    let mut latest = None;
    for source in group {
        let modified = source
            .file
            .metadata()
            .and_then(|m| m.modified())
            .at(&source.path)?;
        latest = latest.max(Some(modified));
    }
    if let Some(modified) = latest {
        let file = out.file();
        file.set_modified(modified)
            .and_then(|()| file.sync_all())
            .at(out.log_path())?;
    }
    Ok(())
}

/// Consecutive segments grouped while their total size stays within `max_bytes` and their
/// offsets within one segment's `u32` relative range (Kafka's `groupSegmentsBySize`).
fn group_segments<'a>(
    sources: &[&'a SourceSegment],
    max_bytes: u64,
) -> Vec<Vec<&'a SourceSegment>> {
    let mut groups = Vec::new();
    let mut i = 0;
    while i < sources.len() {
        let first = sources[i];
        let mut size = first.size_bytes;
        let mut j = i + 1;
        while j < sources.len()
            && size + sources[j].size_bytes <= max_bytes
            && sources[j].end_offset - 1 - first.base_offset <= i64::from(u32::MAX)
        {
            size += sources[j].size_bytes;
            j += 1;
        }
        groups.push(sources[i..j].to_vec());
        i = j;
    }
    groups
}
