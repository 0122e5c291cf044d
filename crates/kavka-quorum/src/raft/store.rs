//! [`RaftStore`]: a voter's Raft log on disk, as `raft::Storage` sees it. Entry index is the
//! metadata batch offset and entry term its epoch, so the [`Journal`] holds the entries, the
//! snapshot files the compacted prefix, and [`HardStateFile`] the term, vote and commit index.
//! Every change is durable before the call returns (the ready loop of [`super::RaftNode`]
//! relies on it before sending the messages that depend on it).

use std::path::{Path, PathBuf};

use kavka_metadata::{
    decode_snapshot, encode_snapshot, ImageSnapshot, MetadataBatch, MetadataError, MetadataImage,
    MetadataRecord, Replay,
};
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};

use super::hard_state::HardStateFile;
use super::observer_wire::Fetched;
use crate::journal::Journal;
use crate::snapshots;

/// A voter's durable Raft state.
#[derive(Debug)]
pub struct RaftStore {
    dir: PathBuf,
    /// The entries after the snapshot, durable.
    journal: Journal,
    /// The same entries, for `raft::Storage` reads.
    entries: Vec<Entry>,
    hard_state: HardState,
    hard_state_file: HardStateFile,
    /// The voters (fixed by configuration).
    conf_state: ConfState,
    /// Index, term and bytes of the latest snapshot.
    snapshot: Option<(u64, u64, Vec<u8>)>,
}

/// The records an entry carries (none for a new leader's empty entry).
pub fn entry_records(entry: &Entry) -> Result<Vec<MetadataRecord>, MetadataError> {
    if entry.data.is_empty() {
        return Ok(Vec::new());
    }
    MetadataBatch::decode_frame(&entry.data)
        .map(|(b, _)| b.records)
        .map_err(|e| MetadataError::Corrupt {
            path: PathBuf::from("<raft entry>"),
            reason: e.to_string(),
        })
}

/// The data of an entry carrying `records`.
pub fn entry_data(records: Vec<MetadataRecord>) -> Result<Vec<u8>, MetadataError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let batch = MetadataBatch {
        offset: 0,
        epoch: 0,
        records,
    };
    Ok(batch.to_frame()?)
}

fn epoch(term: u64) -> u32 {
    u32::try_from(term).expect("a Raft term fits the metadata log's epoch")
}

fn to_entry(batch: &MetadataBatch) -> Result<Entry, MetadataError> {
    Ok(Entry {
        index: batch.offset,
        term: u64::from(batch.epoch),
        data: entry_data(batch.records.clone())?.into(),
        ..Default::default()
    })
}

fn to_batch(entry: &Entry) -> Result<MetadataBatch, MetadataError> {
    Ok(MetadataBatch {
        offset: entry.index,
        epoch: epoch(entry.term),
        records: entry_records(entry)?,
    })
}

impl RaftStore {
    /// Opens the store in `dir` for a quorum of `voters`.
    pub fn open(dir: &Path, voters: &[u64]) -> Result<RaftStore, MetadataError> {
        let (mut journal, batches) = Journal::open(dir)?;
        let (hard_state_file, hard_state) = HardStateFile::open(dir)?;
        let snapshot = match snapshots::list(dir)?.pop() {
            Some((offset, snap_epoch, path)) => {
                let bytes = std::fs::read(&path).map_err(MetadataError::io(&path))?;
                journal.set_base(offset, snap_epoch);
                Some((offset, u64::from(snap_epoch), bytes))
            }
            None => None,
        };
        let entries = batches.iter().map(to_entry).collect::<Result<_, _>>()?;
        let conf_state = ConfState {
            voters: voters.to_vec(),
            ..Default::default()
        };
        Ok(RaftStore {
            dir: dir.to_path_buf(),
            journal,
            entries,
            hard_state,
            hard_state_file,
            conf_state,
            snapshot,
        })
    }

    /// Appends entries from the leader (or proposed by this leader), replacing a conflicting
    /// suffix; durable on return.
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), MetadataError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        if first.index <= self.last_index() {
            self.journal.truncate_after(first.index - 1)?;
            let keep = self.entries.partition_point(|e| e.index < first.index);
            self.entries.truncate(keep);
        }
        let batches = entries
            .iter()
            .map(to_batch)
            .collect::<Result<Vec<_>, _>>()?;
        self.journal.append(&batches)?;
        self.entries.extend_from_slice(entries);
        Ok(())
    }

    /// Stores a new hard state durably.
    pub fn set_hard_state(&mut self, hs: &HardState) -> Result<(), MetadataError> {
        self.hard_state_file.store(hs)?;
        self.hard_state = hs.clone();
        Ok(())
    }

    /// Stores a new commit index durably.
    pub fn set_commit(&mut self, commit: u64) -> Result<(), MetadataError> {
        let mut hs = self.hard_state.clone();
        hs.commit = commit;
        self.set_hard_state(&hs)
    }

    /// Installs a snapshot sent by the leader: the image it holds replaces this log. Returns
    /// the image with its offset and epoch.
    pub fn apply_snapshot(
        &mut self,
        snapshot: &Snapshot,
    ) -> Result<(u64, u32, MetadataImage), MetadataError> {
        let meta = snapshot.get_metadata();
        let (offset, snap_epoch, image) =
            decode_snapshot(&snapshot.data).map_err(|e| MetadataError::Corrupt {
                path: self.dir.clone(),
                reason: format!("snapshot from the leader: {e}"),
            })?;
        if (offset, u64::from(snap_epoch)) != (meta.index, meta.term) {
            return Err(MetadataError::Corrupt {
                path: self.dir.clone(),
                reason: "snapshot from the leader does not match its metadata".into(),
            });
        }
        snapshots::write(&self.dir, offset, snap_epoch, &image)?;
        self.journal.truncate_after(0)?;
        self.journal.drop_through(offset, snap_epoch)?;
        self.journal.set_base(offset, snap_epoch);
        self.entries.clear();
        self.snapshot = Some((offset, meta.term, snapshot.data.to_vec()));
        let mut hs = self.hard_state.clone();
        hs.term = hs.term.max(meta.term);
        hs.commit = hs.commit.max(offset);
        self.set_hard_state(&hs)?;
        Ok((offset, snap_epoch, image))
    }

    /// Snapshots `image`, the state after the applied entry at `index`, and drops the entries
    /// it covers.
    pub fn compact(&mut self, index: u64, image: &MetadataImage) -> Result<(), MetadataError> {
        let Some(term) = self.entry_term(index) else {
            return Ok(());
        };
        snapshots::write(&self.dir, index, epoch(term), image)?;
        self.journal.drop_through(index, epoch(term))?;
        let bytes = encode_snapshot(index, epoch(term), image);
        self.entries.retain(|e| e.index > index);
        self.snapshot = Some((index, term, bytes));
        Ok(())
    }

    /// The commit index on disk.
    pub fn commit(&self) -> u64 {
        self.hard_state.commit
    }

    /// The latest snapshot and the entries after it up to the commit index on disk: what a
    /// node starting up replays before the quorum hands it anything new.
    pub fn committed_replay(&self) -> Result<Replay, MetadataError> {
        let snapshot = match &self.snapshot {
            Some((offset, term, bytes)) => {
                let (_, _, image) = decode_snapshot(bytes).map_err(|e| MetadataError::Corrupt {
                    path: self.dir.clone(),
                    reason: e.to_string(),
                })?;
                Some(ImageSnapshot {
                    offset: *offset,
                    epoch: epoch(*term),
                    image,
                })
            }
            None => None,
        };
        let commit = self.hard_state.commit;
        let batches = self
            .entries
            .iter()
            .take_while(|e| e.index <= commit)
            .map(to_batch)
            .collect::<Result<_, _>>()?;
        Ok(Replay { snapshot, batches })
    }

    /// What an observer holding everything up to `after` fetches: the latest snapshot when
    /// `after` is behind it, then the entries up to `commit`, stopping once `bytes_max` of
    /// entry data is gathered (at least one item goes out when there is one).
    pub fn committed_after(
        &self,
        after: u64,
        commit: u64,
        bytes_max: usize,
    ) -> Result<Vec<Fetched>, MetadataError> {
        let mut items = Vec::new();
        let mut from = after + 1;
        if let Some((index, _, bytes)) = &self.snapshot {
            if after < *index {
                items.push(Fetched::Snapshot(bytes.clone()));
                from = index + 1;
            }
        }
        let start = self.entries.partition_point(|e| e.index < from);
        let mut gathered = 0;
        for e in self.entries[start..]
            .iter()
            .take_while(|e| e.index <= commit)
        {
            if gathered >= bytes_max && !items.is_empty() {
                break;
            }
            gathered += e.data.len();
            items.push(Fetched::Batch(to_batch(e)?));
        }
        Ok(items)
    }

    /// Bytes of entries after the latest snapshot.
    pub fn log_bytes(&self) -> u64 {
        self.journal.len_bytes()
    }

    /// The image of the latest snapshot, for a node starting up.
    pub fn snapshot_image(&self) -> Result<Option<(u64, MetadataImage)>, MetadataError> {
        let Some((index, _, bytes)) = &self.snapshot else {
            return Ok(None);
        };
        let (_, _, image) = decode_snapshot(bytes).map_err(|e| MetadataError::Corrupt {
            path: self.dir.clone(),
            reason: e.to_string(),
        })?;
        Ok(Some((*index, image)))
    }

    fn snapshot_index_term(&self) -> (u64, u64) {
        self.snapshot
            .as_ref()
            .map_or((0, 0), |(index, term, _)| (*index, *term))
    }

    fn entry_term(&self, index: u64) -> Option<u64> {
        let first = self.entries.first()?.index;
        self.entries
            .get(usize::try_from(index.checked_sub(first)?).ok()?)
            .map(|e| e.term)
    }

    fn first_index_(&self) -> u64 {
        self.snapshot_index_term().0 + 1
    }

    fn last_index(&self) -> u64 {
        self.entries
            .last()
            .map_or(self.snapshot_index_term().0, |e| e.index)
    }
}

impl raft::Storage for RaftStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        Ok(RaftState {
            hard_state: self.hard_state.clone(),
            conf_state: self.conf_state.clone(),
        })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low < self.first_index_() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last_index() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let first = self.first_index_();
        let mut out = self.entries[(low - first) as usize..(high - first) as usize].to_vec();
        raft::util::limit_size(&mut out, max_size.into());
        Ok(out)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let (snap_index, snap_term) = self.snapshot_index_term();
        if idx == snap_index {
            return Ok(snap_term);
        }
        if idx < snap_index {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        self.entry_term(idx)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.first_index_())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(RaftStore::last_index(self))
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        match &self.snapshot {
            Some((index, term, bytes)) if *index >= request_index => {
                let mut snap = Snapshot {
                    data: bytes.clone().into(),
                    ..Default::default()
                };
                let meta = snap.mut_metadata();
                meta.index = *index;
                meta.term = *term;
                meta.set_conf_state(self.conf_state.clone());
                Ok(snap)
            }
            _ => Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            )),
        }
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
