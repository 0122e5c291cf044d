//! Loading a segment at open: trusting it after an index sanity check, or recovering it by a
//! validating scan.

use std::sync::Arc;

use super::Segment;
use crate::config::LogConfig;
use crate::error::{IoContext, StorageError};
use crate::header::HeaderWalker;
use crate::index_file::Loaded;
use crate::scan::{check_offsets, scan_segment, ScanOutcome};

impl Segment {
    /// Loads a segment the caller trusts (clean shutdown, or before the recovery point) without
    /// scanning it: checks the indexes and, for the active segment (`next_base` is `None`), walks
    /// the headers after the last index entry to find the log end. Returns why the segment must be
    /// recovered instead, if it must.
    pub(crate) fn check_trusted(
        &mut self,
        loaded: [Loaded; 2],
        next_base: Option<i64>,
    ) -> Result<Option<String>, StorageError> {
        if loaded.contains(&Loaded::Torn) {
            return Ok(Some(
                "index file length is not a whole number of entries".into(),
            ));
        }
        if self.size_bytes > 0 && loaded.contains(&Loaded::Missing) {
            return Ok(Some("index file missing".into()));
        }
        if let Err(why) = self.offset_index.sanity_check(self.size_bytes, None) {
            return Ok(Some(format!("offset index: {why}")));
        }
        let last_entry = self.offset_index.entries().last().copied();
        let walk_from = last_entry.map_or(0, |e| e.position);
        self.bytes_since_index_entry = self.size_bytes - u64::from(walk_from);
        match next_base {
            Some(next_base) => self.next_offset = next_base,
            None => {
                let mut walker = HeaderWalker::new(
                    &self.file,
                    &self.log_path,
                    walk_from.into(),
                    self.size_bytes,
                );
                let mut expected =
                    last_entry.map_or(self.base_offset, |e| self.absolute(e.relative_offset));
                let mut exact = last_entry.is_some();
                loop {
                    let (position, header) = match walker.next_header() {
                        Ok(Some(found)) => found,
                        Ok(None) => break,
                        Err(StorageError::Corrupt(why)) => return Ok(Some(why)),
                        Err(e) => return Err(e),
                    };
                    if exact && header.base_offset != expected {
                        return Ok(Some("offset index entry does not match its batch".into()));
                    }
                    if let Err(why) = check_offsets(&header, expected, self.base_offset, position) {
                        return Ok(Some(why));
                    }
                    exact = false;
                    expected = header.next_offset();
                    self.next_offset = expected;
                }
                match self.first_batch_timestamp() {
                    Ok(ts) => self.first_append_ms = ts,
                    Err(StorageError::Corrupt(why)) => return Ok(Some(why)),
                    Err(e) => return Err(e),
                }
            }
        }
        let relative_end = u64::try_from(self.next_offset - self.base_offset).unwrap_or(0);
        let checked = self
            .offset_index
            .sanity_check(self.size_bytes, Some(relative_end));
        if let Err(why) = checked.and_then(|()| self.time_index.sanity_check(Some(relative_end))) {
            return Ok(Some(why));
        }
        if let Some(last) = self.time_index.entries().last() {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = self.absolute(last.relative_offset);
        }
        Ok(None)
    }

    /// The max timestamp of the segment's first batch (`None` when empty or without timestamps):
    /// Kafka's "first batch timestamp", for segment.ms after a reopen and max.compaction.lag.ms.
    pub(crate) fn first_batch_timestamp(&self) -> Result<Option<i64>, StorageError> {
        let mut walker = HeaderWalker::new(&self.file, &self.log_path, 0, self.size_bytes);
        Ok(walker
            .next_header()?
            .map(|(_, h)| h.max_timestamp)
            .filter(|&ts| ts >= 0))
    }

    /// Rebuilds the segment from its bytes: scans and validates every batch, truncates the file
    /// after the last valid one, and rewrites both indexes.
    pub(crate) fn recover(&mut self, config: &LogConfig) -> Result<ScanOutcome, StorageError> {
        self.offset_index.clear()?;
        self.time_index.clear()?;
        self.next_offset = self.base_offset;
        self.bytes_since_index_entry = 0;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.first_append_ms = None;
        let file = Arc::clone(&self.file);
        let path = self.log_path.clone();
        let file_bytes = file.metadata().at(&path)?.len();
        let outcome = scan_segment(&file, &path, file_bytes, self.base_offset, |pos, h| {
            if pos == 0 && h.max_timestamp >= 0 {
                self.first_append_ms = Some(h.max_timestamp);
            }
            self.track_batch(pos, h, config);
        })?;
        if outcome.valid_bytes < file_bytes {
            file.set_len(outcome.valid_bytes).at(&path)?;
        }
        self.size_bytes = outcome.valid_bytes;
        self.unsynced = true;
        // Complete the time index as a roll would: the segment may not be the active one.
        self.finish()?;
        Ok(outcome)
    }
}
