//! File-system helpers for durable writes.

use std::fs::File;
use std::path::Path;

use crate::error::MetadataError;

/// Makes the creation, removal or renaming of entries in `dir` durable. A no-op where
/// directories cannot be opened as files (Windows), where the OS offers no such guarantee.
pub fn sync_dir(dir: &Path) -> Result<(), MetadataError> {
    if cfg!(unix) {
        let handle = File::open(dir).map_err(MetadataError::io(dir))?;
        handle.sync_all().map_err(MetadataError::io(dir))?;
    }
    Ok(())
}
