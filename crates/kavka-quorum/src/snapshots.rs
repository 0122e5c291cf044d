//! Snapshot files: `<offset>-<epoch>.checkpoint` (20 and 10 digits, Kafka's naming) in the
//! metadata log's directory, each the bytes of `kavka_metadata::encode_snapshot`.
//!
//! A snapshot is written to a `.tmp` file, fsynced and renamed into place, so a name that
//! exists is a whole snapshot; leftover `.tmp` files are removed at open. Older snapshots are
//! removed once a newer one is in place.

use std::fs;
use std::path::{Path, PathBuf};

use kavka_metadata::fsutil::sync_dir;
use kavka_metadata::{
    decode_snapshot, encode_snapshot, ImageSnapshot, MetadataError, MetadataImage,
};

use crate::journal::write_durably;

const SUFFIX: &str = ".checkpoint";

/// The file name of the snapshot at `offset` of `epoch`.
pub fn file_name(offset: u64, epoch: u32) -> String {
    format!("{offset:020}-{epoch:010}{SUFFIX}")
}

fn parse_name(name: &str) -> Option<(u64, u32)> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (offset, epoch) = stem.split_once('-')?;
    Some((offset.parse().ok()?, epoch.parse().ok()?))
}

/// The snapshots in `dir` by offset, oldest first; removes leftover temporary files.
pub fn list(dir: &Path) -> Result<Vec<(u64, u32, PathBuf)>, MetadataError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(MetadataError::io(dir))? {
        let entry = entry.map_err(MetadataError::io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(&format!("{SUFFIX}.tmp")) {
            fs::remove_file(entry.path()).map_err(MetadataError::io(&entry.path()))?;
        } else if let Some((offset, epoch)) = parse_name(&name) {
            found.push((offset, epoch, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Reads the newest snapshot in `dir`. A snapshot that does not decode is an error: the log
/// before it may be gone, so nothing could replace it.
pub fn latest(dir: &Path) -> Result<Option<ImageSnapshot>, MetadataError> {
    let Some((offset, epoch, path)) = list(dir)?.pop() else {
        return Ok(None);
    };
    let bytes = fs::read(&path).map_err(MetadataError::io(&path))?;
    let corrupt = |reason: String| MetadataError::Corrupt {
        path: path.clone(),
        reason,
    };
    let (in_offset, in_epoch, image) =
        decode_snapshot(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if (in_offset, in_epoch) != (offset, epoch) {
        return Err(corrupt(format!(
            "holds offset {in_offset} epoch {in_epoch}, not what its name says"
        )));
    }
    Ok(Some(ImageSnapshot {
        offset,
        epoch,
        image,
    }))
}

/// Writes the snapshot of `image` at `offset` of `epoch` durably, then removes older ones.
pub fn write(
    dir: &Path,
    offset: u64,
    epoch: u32,
    image: &MetadataImage,
) -> Result<(), MetadataError> {
    let path = dir.join(file_name(offset, epoch));
    let tmp = dir.join(format!("{}.tmp", file_name(offset, epoch)));
    write_durably(&tmp, &encode_snapshot(offset, epoch, image))?;
    fs::rename(&tmp, &path).map_err(MetadataError::io(&path))?;
    sync_dir(dir)?;
    for (old_offset, _, old) in list(dir)? {
        if old_offset < offset {
            fs::remove_file(&old).map_err(MetadataError::io(&old))?;
        }
    }
    sync_dir(dir)
}
