//! Replacing old segments by a cleaned one, crash-safely (Kafka's `.cleaned` / `.swap`
//! protocol), and finishing an interrupted replacement when a log is opened.
//!
//! A clean writes and fsyncs `<base>.log.cleaned` (and its indexes), `<base>` being the first
//! replaced segment's base offset. Installing it then:
//! 1. renames the cleaned files to `.swap`, the log file last, and fsyncs the directory: the
//!    rename of `<base>.log.swap` is the commit point;
//! 2. deletes the other replaced segments (those after the first);
//! 3. renames the `.swap` files over the first replaced segment's files, the log file last.
//!
//! At open, [`recover_leftovers`] deletes every `.cleaned` file (a clean that did not commit:
//! the old segments are intact) and completes every `<base>.log.swap` (one that did): it
//! deletes the segments whose base lies inside the swap segment's offsets, then renames it into
//! place. Replaced segments after the swap segment's last record may survive such a crash; they
//! hold only offsets past it, so every offset is still served by exactly one segment (they are
//! merely not compacted yet). Index files of a recovered swap are deleted and rebuilt.

use std::collections::BTreeSet;
use std::path::Path;

use crate::checkpoint::sync_dir;
use crate::error::{IoContext, StorageError};
use crate::failpoint::FailPoint;
use crate::scan::scan_segment;
use crate::segment::{
    suffixed_path, Segment, CLEANED_SUFFIX, INDEX_EXTENSION, LOG_EXTENSION, SWAP_SUFFIX,
    TIME_INDEX_EXTENSION,
};

/// Replaces the segments based at `old_bases` (ascending; the first equals `cleaned`'s base) by
/// `cleaned`, whose files carry the `.cleaned` suffix. Steps 1-3 of the module doc; the caller
/// fsyncs the directory afterwards.
pub(crate) fn install(
    dir: &Path,
    cleaned: &mut Segment,
    old_bases: &[i64],
    failpoint: &mut FailPoint,
) -> Result<(), StorageError> {
    assert_eq!(cleaned.suffix(), CLEANED_SUFFIX);
    assert_eq!(old_bases.first(), Some(&cleaned.base_offset()));
    cleaned.rename_files(SWAP_SUFFIX, failpoint)?;
    failpoint.hit()?;
    sync_dir(dir)?;
    for &base in &old_bases[1..] {
        failpoint.hit()?;
        Segment::delete_files(dir, base)?;
    }
    cleaned.rename_files("", failpoint)
}

/// What [`recover_leftovers`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Leftovers {
    /// `.cleaned` and orphan `.swap` files removed.
    pub(crate) removed_files: usize,
    /// Interrupted swaps completed.
    pub(crate) completed_swaps: usize,
}

/// Cleans up after a clean or an install interrupted by a crash (see the module doc). Runs
/// before the segments are loaded.
pub(crate) fn recover_leftovers(dir: &Path) -> Result<Leftovers, StorageError> {
    let mut leftovers = Leftovers::default();
    let mut logs = BTreeSet::new();
    let mut swaps = BTreeSet::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let entry = entry.at(dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((base, extension)) = parse_segment_name(name) else {
            continue;
        };
        let path = entry.path();
        if extension.ends_with(CLEANED_SUFFIX)
            || extension == format!("{INDEX_EXTENSION}{SWAP_SUFFIX}")
            || extension == format!("{TIME_INDEX_EXTENSION}{SWAP_SUFFIX}")
        {
            tracing::info!(path = %path.display(), "removing a leftover of an interrupted clean");
            std::fs::remove_file(&path).at(&path)?;
            leftovers.removed_files += 1;
        } else if extension == format!("{LOG_EXTENSION}{SWAP_SUFFIX}") {
            swaps.insert(base);
        } else if extension == LOG_EXTENSION {
            logs.insert(base);
        }
    }
    for &base in &swaps {
        let swap_path = suffixed_path(dir, base, LOG_EXTENSION, SWAP_SUFFIX);
        let file = std::fs::File::open(&swap_path).at(&swap_path)?;
        let file_bytes = file.metadata().at(&swap_path)?.len();
        let mut next_offset = base;
        scan_segment(&file, &swap_path, file_bytes, base, |_, header| {
            next_offset = header.next_offset();
        })?;
        let replaced: Vec<i64> = logs
            .iter()
            .copied()
            .filter(|&old| old > base && old < next_offset)
            .collect();
        for &old in &replaced {
            Segment::delete_files(dir, old)?;
            logs.remove(&old);
        }
        for extension in [INDEX_EXTENSION, TIME_INDEX_EXTENSION] {
            let path = suffixed_path(dir, base, extension, "");
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).at(&path),
                _ => {}
            }
        }
        let log_path = suffixed_path(dir, base, LOG_EXTENSION, "");
        std::fs::rename(&swap_path, &log_path).at(&swap_path)?;
        logs.insert(base);
        tracing::warn!(
            dir = %dir.display(),
            segment = base,
            replaced = ?replaced,
            "completed a segment swap interrupted by a crash"
        );
        leftovers.completed_swaps += 1;
    }
    if leftovers != Leftovers::default() {
        sync_dir(dir)?;
    }
    Ok(leftovers)
}

/// `(base offset, extension with suffix)` of a segment file name (`<20 digits>.<rest>`).
fn parse_segment_name(name: &str) -> Option<(i64, &str)> {
    let (stem, extension) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem.parse().ok()?, extension))
}
