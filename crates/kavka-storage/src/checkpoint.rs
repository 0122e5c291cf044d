//! Small per-partition checkpoint files, replaced atomically: `log-start-offset` (moved by
//! DeleteRecords and retention) and `cleaner-offset-checkpoint` (the cleaner's first dirty
//! offset and the latest delete horizon it set).
//!
//! Unlike the `recovery-point` (rewritten in place, where any surviving value is safe), these
//! must never go back after a crash, so each write goes to a temporary file that is fsynced,
//! renamed over the checkpoint, and the directory fsynced: a crash leaves the old or the new
//! file, whole.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::{IoContext, StorageError};

/// Name of the log start offset checkpoint in the partition directory.
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset";
/// Name of the cleaner checkpoint in the partition directory.
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
/// Suffix of a checkpoint being written.
const TEMP_SUFFIX: &str = ".tmp";

/// Replaces `dir/name` with `values` (one per line), atomically and durably.
pub(crate) fn write(dir: &Path, name: &str, values: &[i64]) -> Result<(), StorageError> {
    let mut text = String::new();
    for value in values {
        text.push_str(&format!("{value}\n"));
    }
    write_bytes(dir, name, text.as_bytes())
}

/// Replaces `dir/name` with `bytes`, atomically and durably.
pub(crate) fn write_bytes(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StorageError> {
    let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)
        .at(&temp)?;
    file.write_all(bytes).at(&temp)?;
    file.sync_all().at(&temp)?;
    let path = dir.join(name);
    std::fs::rename(&temp, &path).at(&path)?;
    sync_dir(dir)
}

/// The values of `dir/name`; `None` when the file does not exist. A file that does not parse is
/// [`StorageError::Corrupt`] (atomic replacement means it was damaged after the write).
pub(crate) fn read(dir: &Path, name: &str) -> Result<Option<Vec<i64>>, StorageError> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).at(&path),
    };
    text.lines()
        .map(|line| line.trim().parse::<i64>())
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
        .map_err(|e| StorageError::Corrupt(format!("{}: {e}", path.display())))
}

/// Removes checkpoint temporaries left by a crash during a write.
pub(crate) fn remove_temporaries(dir: &Path) -> Result<(), StorageError> {
    for name in [
        LOG_START_OFFSET_FILE,
        CLEANER_CHECKPOINT_FILE,
        crate::log::ABORTED_TXNS_FILE,
    ] {
        let temp = dir.join(format!("{name}{TEMP_SUFFIX}"));
        match std::fs::remove_file(&temp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e).at(&temp),
            _ => {}
        }
    }
    Ok(())
}

/// Renames a partition directory to `<name>.<millis><suffix>` (Kafka's `-delete` and `-stray`
/// forms), durably, so that the name is free and what is left can never be taken for a log of
/// that name. Returns the new path.
pub fn rename_aside(dir: &Path, suffix: &str) -> Result<std::path::PathBuf, StorageError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let target = dir.with_file_name(format!("{name}.{millis}{suffix}"));
    std::fs::rename(dir, &target).at(dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(target)
}

/// Makes the directory's entries (created, renamed, removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StorageError> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_garbage_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path(), LOG_START_OFFSET_FILE).unwrap(), None);
        write(dir.path(), LOG_START_OFFSET_FILE, &[42]).unwrap();
        write(dir.path(), CLEANER_CHECKPOINT_FILE, &[7, -1]).unwrap();
        assert_eq!(
            read(dir.path(), LOG_START_OFFSET_FILE).unwrap(),
            Some(vec![42])
        );
        assert_eq!(
            read(dir.path(), CLEANER_CHECKPOINT_FILE).unwrap(),
            Some(vec![7, -1])
        );
        std::fs::write(dir.path().join("log-start-offset.tmp"), "4").unwrap();
        remove_temporaries(dir.path()).unwrap();
        assert!(!dir.path().join("log-start-offset.tmp").exists());
        std::fs::write(dir.path().join(LOG_START_OFFSET_FILE), "4x").unwrap();
        assert!(matches!(
            read(dir.path(), LOG_START_OFFSET_FILE),
            Err(StorageError::Corrupt(_))
        ));
    }
}
