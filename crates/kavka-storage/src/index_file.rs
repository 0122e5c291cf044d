//! Persistence shared by the offset index and the time index: a file of fixed-size big-endian
//! entries, mirrored in memory.
//!
//! Without mmap (unsafe is denied) the entries live in a `Vec` and new ones are written to the
//! file lazily, on roll, flush and close, so that an append costs one `write` (the log data)
//! rather than one per index entry. An index that lost its unwritten tail in a crash is rebuilt
//! by recovery, which scans every segment from the recovery point on.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, StorageError};

/// A fixed-size index entry.
pub(crate) trait IndexEntry: Copy {
    /// Size of one entry on disk.
    const BYTES: usize;
    /// Writes the entry into `out` (exactly `BYTES` long).
    fn encode(&self, out: &mut [u8]);
    /// Reads an entry from `bytes` (exactly `BYTES` long).
    fn decode(bytes: &[u8]) -> Self;
}

/// An index file and its entries.
#[derive(Debug)]
pub(crate) struct IndexFile<E> {
    /// Where the file lives, for error messages and deletion.
    path: PathBuf,
    /// The open file; entries are written with positional writes.
    file: File,
    /// All entries, in order; the first `persisted` are in the file.
    entries: Vec<E>,
    /// Entries already written to the file.
    persisted: usize,
    /// Whether written entries may not be durable yet.
    unsynced: bool,
}

/// What [`IndexFile::open`] found on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Loaded {
    /// The file existed and held whole entries.
    Ok,
    /// The file did not exist (it has been created empty).
    Missing,
    /// The file's length is not a multiple of the entry size (it is kept but not loaded).
    Torn,
}

impl<E: IndexEntry> IndexFile<E> {
    /// Opens the index at `path`, creating it empty when missing, and loads its entries.
    pub(crate) fn open(path: &Path) -> Result<(IndexFile<E>, Loaded), StorageError> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at(path)?;
        let len_bytes = file.metadata().at(path)?.len();
        let mut index = IndexFile {
            path: path.to_path_buf(),
            file,
            entries: Vec::new(),
            persisted: 0,
            unsynced: !existed,
        };
        if !existed {
            return Ok((index, Loaded::Missing));
        }
        if len_bytes % E::BYTES as u64 != 0 {
            return Ok((index, Loaded::Torn));
        }
        let len = usize::try_from(len_bytes)
            .map_err(|_| StorageError::Corrupt(format!("{} is too large", path.display())))?;
        let mut raw = vec![0u8; len];
        index.file.read_exact_at(&mut raw, 0).at(path)?;
        index.entries = raw.chunks_exact(E::BYTES).map(E::decode).collect();
        index.persisted = index.entries.len();
        Ok((index, Loaded::Ok))
    }

    /// Renames the file to `to` (the handle stays open) and remembers the new path.
    pub(crate) fn rename(&mut self, to: &Path) -> Result<(), StorageError> {
        std::fs::rename(&self.path, to).at(&self.path)?;
        self.path = to.to_path_buf();
        Ok(())
    }

    /// Where the file lives.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The entries, oldest first.
    pub(crate) fn entries(&self) -> &[E] {
        &self.entries
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether entries are unwritten or written but not yet durable.
    pub(crate) fn needs_sync(&self) -> bool {
        self.unsynced || self.persisted < self.entries.len()
    }

    /// Adds an entry (in memory; written by [`IndexFile::write_pending`]).
    pub(crate) fn push(&mut self, entry: E) {
        self.entries.push(entry);
    }

    /// Drops every entry, in memory and on disk (before a rebuild).
    pub(crate) fn clear(&mut self) -> Result<(), StorageError> {
        self.entries.clear();
        self.persisted = 0;
        self.file.set_len(0).at(&self.path)?;
        self.unsynced = true;
        Ok(())
    }

    /// Writes the entries not yet in the file, with one positional write.
    pub(crate) fn write_pending(&mut self) -> Result<(), StorageError> {
        if self.persisted == self.entries.len() {
            return Ok(());
        }
        let pending = &self.entries[self.persisted..];
        let mut raw = vec![0u8; pending.len() * E::BYTES];
        for (entry, out) in pending.iter().zip(raw.chunks_exact_mut(E::BYTES)) {
            entry.encode(out);
        }
        let at_bytes = (self.persisted * E::BYTES) as u64;
        self.file.write_all_at(&raw, at_bytes).at(&self.path)?;
        self.persisted = self.entries.len();
        self.unsynced = true;
        Ok(())
    }

    /// Writes pending entries and makes the file durable.
    pub(crate) fn sync(&mut self) -> Result<(), StorageError> {
        self.write_pending()?;
        if self.unsynced {
            self.file.sync_data().at(&self.path)?;
            self.unsynced = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    struct Pair(u16, u16);

    impl IndexEntry for Pair {
        const BYTES: usize = 4;
        fn encode(&self, out: &mut [u8]) {
            out[..2].copy_from_slice(&self.0.to_be_bytes());
            out[2..].copy_from_slice(&self.1.to_be_bytes());
        }
        fn decode(b: &[u8]) -> Self {
            Pair(
                u16::from_be_bytes([b[0], b[1]]),
                u16::from_be_bytes([b[2], b[3]]),
            )
        }
    }

    #[test]
    fn entries_survive_write_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        let (mut index, loaded) = IndexFile::<Pair>::open(&path).unwrap();
        assert_eq!(loaded, Loaded::Missing);
        index.push(Pair(1, 2));
        index.write_pending().unwrap();
        index.push(Pair(3, 4));
        index.sync().unwrap();
        drop(index);
        let (index, loaded) = IndexFile::<Pair>::open(&path).unwrap();
        assert_eq!(loaded, Loaded::Ok);
        assert_eq!(index.entries(), &[Pair(1, 2), Pair(3, 4)]);
    }

    #[test]
    fn torn_file_is_reported_and_clear_empties_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.index");
        std::fs::write(&path, [0u8; 5]).unwrap();
        let (mut index, loaded) = IndexFile::<Pair>::open(&path).unwrap();
        assert_eq!(loaded, Loaded::Torn);
        assert!(index.entries().is_empty());
        index.clear().unwrap();
        index.push(Pair(9, 9));
        index.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), vec![0, 9, 0, 9]);
    }
}
