//! [`ObserverLog`]: the metadata log of a broker-only node, KRaft's observer. The node is not
//! a voter: it keeps a durable copy of the committed log the quorum's leader sends it (a
//! [`LocalLog`] holding the leader's batches with their offsets and epochs, and the leader's
//! snapshot when it fell behind the leader's log start), replays that copy at start, and
//! writes nothing itself: every write is [`MetadataError::NotLeader`], so the broker sends its
//! controller requests to the leader. The fetching itself (connections, retries) is the
//! broker's; this type decides what a fetched answer means for the copy.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use kavka_metadata::{
    decode_snapshot, MetadataBatch, MetadataError, MetadataImage, MetadataLog, MetadataRecord,
    Replay,
};

use crate::raft::observer_wire::Fetched;
use crate::raft::Committed;
use crate::LocalLog;

/// An observer's copy of the committed metadata log; clones share it.
#[derive(Debug, Clone)]
pub struct ObserverLog {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    local: LocalLog,
    /// The leader (Raft id) and its term, as last heard.
    leader: Option<u64>,
    term: u64,
}

impl ObserverLog {
    /// Opens the copy in `dir`; returns it with what it holds, to replay first.
    pub fn open(
        dir: &Path,
        snapshot_bytes_min: u64,
    ) -> Result<(ObserverLog, Replay), MetadataError> {
        let local = LocalLog::open(dir, snapshot_bytes_min)?;
        let replay = local.replay()?;
        let term = u64::from(local.epoch());
        let log = ObserverLog {
            inner: Arc::new(Mutex::new(Inner {
                local,
                leader: None,
                term,
            })),
        };
        Ok((log, replay))
    }

    /// The last offset the copy holds (what to fetch after).
    pub fn last_offset(&self) -> u64 {
        self.lock().local.committed_offset()
    }

    /// Records who leads, as a voter said.
    pub fn set_leader(&self, leader: Option<u64>, term: Option<u64>) {
        let mut inner = self.lock();
        inner.leader = leader;
        if let Some(term) = term {
            inner.term = inner.term.max(term);
        }
    }

    /// Makes fetched content durable and returns it for the applier, in order. Content the
    /// copy already holds is skipped (a retried fetch); a batch that does not follow the copy
    /// is refused (the leader's log does not continue this one).
    pub fn accept(&self, items: Vec<Fetched>) -> Result<Vec<Committed>, MetadataError> {
        let mut inner = self.lock();
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let last = inner.local.committed_offset();
            match item {
                Fetched::Batch(batch) if batch.offset <= last => {}
                Fetched::Batch(batch) if batch.offset == last + 1 => {
                    inner.local.append_replica(&batch)?;
                    out.push(Committed::Batch(batch));
                }
                Fetched::Batch(batch) => {
                    return Err(gap(format!(
                        "the leader sent offset {} after this copy's {last}",
                        batch.offset
                    )))
                }
                Fetched::Snapshot(bytes) => {
                    let (offset, epoch, image) =
                        decode_snapshot(&bytes).map_err(|e| gap(e.to_string()))?;
                    if offset <= last {
                        continue;
                    }
                    inner.local.install_snapshot(offset, epoch, &image)?;
                    out.push(Committed::Snapshot { offset, image });
                }
            }
        }
        Ok(out)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("observer log lock poisoned")
    }
}

fn gap(reason: String) -> MetadataError {
    MetadataError::Corrupt {
        path: "<metadata observer>".into(),
        reason,
    }
}

impl MetadataLog for ObserverLog {
    fn append(&mut self, _records: Vec<MetadataRecord>) -> Result<MetadataBatch, MetadataError> {
        Err(MetadataError::NotLeader {
            leader: self.lock().leader,
        })
    }

    fn committed_offset(&self) -> u64 {
        self.lock().local.committed_offset()
    }

    fn epoch(&self) -> u32 {
        u32::try_from(self.lock().term).unwrap_or(u32::MAX)
    }

    fn replay(&self) -> Result<Replay, MetadataError> {
        self.lock().local.replay()
    }

    fn applied(&mut self, offset: u64, image: &MetadataImage) -> Result<(), MetadataError> {
        self.lock().local.applied(offset, image)
    }

    fn writable(&self) -> Result<u64, MetadataError> {
        Err(MetadataError::NotLeader {
            leader: self.lock().leader,
        })
    }

    fn leader(&self) -> Option<u64> {
        self.lock().leader
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_metadata::encode_snapshot;

    fn batch(offset: u64) -> MetadataBatch {
        MetadataBatch {
            offset,
            epoch: 3,
            records: Vec::new(),
        }
    }

    #[test]
    fn keeps_what_it_accepts_and_skips_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let (log, replay) = ObserverLog::open(dir.path(), u64::MAX).unwrap();
        assert!(replay.batches.is_empty());
        let items = vec![Fetched::Batch(batch(1)), Fetched::Batch(batch(2))];
        assert_eq!(log.accept(items.clone()).unwrap().len(), 2);
        assert!(
            log.accept(items).unwrap().is_empty(),
            "a retried fetch adds nothing"
        );
        assert!(
            log.accept(vec![Fetched::Batch(batch(5))]).is_err(),
            "a gap is refused"
        );
        drop(log);
        let (log, replay) = ObserverLog::open(dir.path(), u64::MAX).unwrap();
        assert_eq!(replay.batches.len(), 2);
        assert_eq!(log.last_offset(), 2);
        let mut writer = log.clone();
        assert!(matches!(
            writer.append(Vec::new()),
            Err(MetadataError::NotLeader { leader: None })
        ));
    }

    #[test]
    fn a_leader_snapshot_replaces_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = ObserverLog::open(dir.path(), u64::MAX).unwrap();
        log.accept(vec![Fetched::Batch(batch(1))]).unwrap();
        let snapshot = encode_snapshot(9, 3, &MetadataImage::new());
        let out = log
            .accept(vec![Fetched::Snapshot(snapshot), Fetched::Batch(batch(10))])
            .unwrap();
        assert!(matches!(out[0], Committed::Snapshot { offset: 9, .. }));
        assert_eq!(log.last_offset(), 10);
        drop(log);
        let (log, replay) = ObserverLog::open(dir.path(), u64::MAX).unwrap();
        assert_eq!(replay.snapshot.map(|s| s.offset), Some(9));
        assert_eq!(
            replay.batches.iter().map(|b| b.offset).collect::<Vec<_>>(),
            [10]
        );
        assert_eq!(log.last_offset(), 10);
    }
}
