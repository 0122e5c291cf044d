use proptest::prelude::*;

use super::*;

/// Runs a shard as the runtime does: records replayed into the shard and kept as its log,
/// markers collected (and written when the test says).
pub(super) struct Driver {
    pub(super) shard: TxnShard,
    pub(super) log: Vec<TxnRecord>,
    pub(super) markers: Vec<TxnReply>,
    pub(super) next_pid: i64,
    pub(super) now: i64,
}

impl Driver {
    pub(super) fn new() -> Driver {
        Driver {
            shard: TxnShard::new(TxnConfig {
                max_timeout_ms: 60_000,
                id_expiration_ms: 3_600_000,
            }),
            log: Vec::new(),
            markers: Vec::new(),
            next_pid: 100,
            now: 1_000_000,
        }
    }

    pub(super) fn apply(&mut self, effects: TxnEffects) {
        for r in effects.records {
            self.shard.replay(&r);
            self.log.push(r);
        }
        self.markers.extend(effects.replies);
    }

    pub(super) fn init(
        &mut self,
        id: &str,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        let mut next = self.next_pid;
        let (r, e) = self
            .shard
            .init_producer_id(self.now, id, 30_000, expected, &mut || {
                next += 1;
                next
            });
        self.next_pid = next;
        self.apply(e);
        r
    }

    pub(super) fn add(
        &mut self,
        id: &str,
        pe: (i64, i16),
        parts: &[(&str, i32)],
    ) -> Result<(), ErrorCode> {
        let parts: Vec<(String, i32)> = parts.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        let (r, e) = self.shard.add_partitions(self.now, id, pe.0, pe.1, &parts);
        self.apply(e);
        r
    }

    pub(super) fn end(&mut self, id: &str, pe: (i64, i16), commit: bool) -> Result<(), ErrorCode> {
        let (r, e) = self.shard.end_txn(self.now, id, pe.0, pe.1, commit);
        self.apply(e);
        r
    }

    /// Writes every requested marker (the runtime's job) and completes the transactions.
    /// Version 2: the broker's implicit add.
    pub(super) fn add_v2(
        &mut self,
        id: &str,
        pe: (i64, i16),
        parts: &[(&str, i32)],
    ) -> Result<(), ErrorCode> {
        let parts: Vec<(String, i32)> = parts.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        let (r, e) = self
            .shard
            .add_partitions_v2(self.now, id, pe.0, pe.1, &parts);
        self.apply(e);
        r
    }

    /// Version 2: EndTxn v5, answering the producer's next id and epoch.
    pub(super) fn end_v2(
        &mut self,
        id: &str,
        pe: (i64, i16),
        commit: bool,
    ) -> Result<(i64, i16), ErrorCode> {
        let fresh = self.shard.epoch_exhausted(id).then_some(self.next_pid + 1);
        let (r, e) = self
            .shard
            .end_txn_v2(self.now, id, pe.0, pe.1, commit, fresh);
        if r.is_ok_and(|(pid, _)| Some(pid) == fresh) {
            self.next_pid += 1;
        }
        self.apply(e);
        r
    }

    pub(super) fn write_markers(&mut self) -> Vec<TxnReply> {
        let done = std::mem::take(&mut self.markers);
        for m in &done {
            let TxnReply::WriteMarkers {
                transactional_id,
                producer_id,
                producer_epoch,
                ..
            } = m;
            let e = self
                .shard
                .complete(self.now, transactional_id, *producer_id, *producer_epoch);
            self.apply(e);
        }
        done
    }

    pub(super) fn status(&self, id: &str) -> Option<TxnStatus> {
        self.shard.get(id).map(|m| m.value.status)
    }

    pub(super) fn rebuilt(&self) -> TxnShard {
        let mut s = TxnShard::new(TxnConfig::default());
        for r in &self.log {
            s.replay(r);
        }
        s
    }
}

#[test]
fn a_transaction_commits_through_prepare_and_markers() {
    let mut d = Driver::new();
    let pe = d.init("tx", None).unwrap();
    assert_eq!(pe, (101, 0));
    assert_eq!(d.status("tx"), Some(TxnStatus::Empty));
    d.add("tx", pe, &[("t", 0), ("t", 1)]).unwrap();
    d.add("tx", pe, &[("t", 1), ("u", 0)]).unwrap();
    assert_eq!(d.status("tx"), Some(TxnStatus::Ongoing));
    let records = d.log.len();
    d.add("tx", pe, &[("u", 0)]).unwrap();
    assert_eq!(d.log.len(), records, "nothing new: no record");
    d.end("tx", pe, true).unwrap();
    assert_eq!(d.status("tx"), Some(TxnStatus::PrepareCommit));
    assert_eq!(
        d.end("tx", pe, true),
        Err(ErrorCode::CONCURRENT_TRANSACTIONS)
    );
    assert_eq!(d.end("tx", pe, false), Err(ErrorCode::INVALID_TXN_STATE));
    let markers = d.write_markers();
    assert_eq!(
        markers,
        [TxnReply::WriteMarkers {
            transactional_id: "tx".into(),
            producer_id: 101,
            producer_epoch: 0,
            commit: true,
            partitions: vec![("t".into(), 0), ("t".into(), 1), ("u".into(), 0)],
        }]
    );
    assert_eq!(d.status("tx"), Some(TxnStatus::CompleteCommit));
    assert!(d.shard.get("tx").unwrap().partitions().is_empty());
    assert_eq!(d.end("tx", pe, true), Ok(()), "a retried EndTxn succeeds");
    assert_eq!(d.end("tx", pe, false), Err(ErrorCode::INVALID_TXN_STATE));
    // The next transaction starts fresh.
    d.add("tx", pe, &[("v", 0)]).unwrap();
    assert_eq!(d.shard.get("tx").unwrap().partitions().len(), 1);
}

#[test]
fn init_producer_id_fences_the_previous_producer() {
    let mut d = Driver::new();
    let old = d.init("tx", None).unwrap();
    let new = d.init("tx", None).unwrap();
    assert_eq!((new.0, new.1), (old.0, old.1 + 1));
    assert_eq!(
        d.add("tx", old, &[("t", 0)]),
        Err(ErrorCode::PRODUCER_FENCED)
    );
    assert_eq!(d.end("tx", old, true), Err(ErrorCode::PRODUCER_FENCED));
    assert_eq!(
        d.add("tx", (999, 0), &[("t", 0)]),
        Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING)
    );
    assert_eq!(
        d.add("nope", new, &[("t", 0)]),
        Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING)
    );
    // KIP-360: a client naming an id and epoch that are not the current ones is fenced.
    assert_eq!(
        d.init("tx", Some((new.0, new.1 + 5))),
        Err(ErrorCode::PRODUCER_FENCED)
    );
    assert_eq!(d.init("tx", Some(new)).unwrap(), (new.0, new.1 + 1));
}

#[test]
fn an_open_transaction_is_aborted_before_a_new_producer_starts() {
    let mut d = Driver::new();
    let old = d.init("tx", None).unwrap();
    d.add("tx", old, &[("t", 0)]).unwrap();
    assert_eq!(d.init("tx", None), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    assert_eq!(d.status("tx"), Some(TxnStatus::PrepareAbort));
    assert_eq!(
        d.init("tx", None),
        Err(ErrorCode::CONCURRENT_TRANSACTIONS),
        "markers pending"
    );
    let markers = d.write_markers();
    let TxnReply::WriteMarkers {
        commit,
        producer_epoch,
        ..
    } = &markers[0];
    assert!(!commit);
    assert_eq!(
        *producer_epoch,
        old.1 + 1,
        "the abort fences the old producer"
    );
    let new = d.init("tx", None).unwrap();
    assert_eq!(new, (old.0, old.1 + 2));
}

#[test]
fn timed_out_transactions_are_aborted_and_idle_ids_expire() {
    let mut d = Driver::new();
    let pe = d.init("tx", None).unwrap();
    d.add("tx", pe, &[("t", 0)]).unwrap();
    assert_eq!(d.shard.next_deadline_ms(), Some(d.now + 30_000));
    d.now += 29_999;
    let e = d.shard.tick(d.now);
    assert!(e.is_empty());
    d.now += 1;
    let e = d.shard.tick(d.now);
    d.apply(e);
    assert_eq!(d.status("tx"), Some(TxnStatus::PrepareAbort));
    assert_eq!(d.end("tx", pe, true), Err(ErrorCode::PRODUCER_FENCED));
    d.write_markers();
    assert_eq!(d.status("tx"), Some(TxnStatus::CompleteAbort));
    d.now += 3_600_000;
    let e = d.shard.tick(d.now);
    d.apply(e);
    assert_eq!(d.status("tx"), None, "expired: a tombstone");
    assert_eq!(d.log.last().unwrap().value, None);
}

#[test]
fn bad_requests_get_kafkas_errors() {
    let mut d = Driver::new();
    assert_eq!(d.init("", None), Err(ErrorCode::INVALID_REQUEST));
    let mut pid = || 1;
    let (r, _) = d.shard.init_producer_id(0, "tx", 60_001, None, &mut pid);
    assert_eq!(r, Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT));
    let (r, _) = d.shard.init_producer_id(0, "tx", 0, None, &mut pid);
    assert_eq!(r, Err(ErrorCode::INVALID_TRANSACTION_TIMEOUT));
    let pe = d.init("tx", None).unwrap();
    assert_eq!(
        d.end("tx", pe, true),
        Err(ErrorCode::INVALID_TXN_STATE),
        "nothing open"
    );
    assert_eq!(
        d.shard
            .verify_partitions("tx", pe.0, pe.1, &[("t".into(), 0)]),
        Ok(vec![false])
    );
    d.add("tx", pe, &[("t", 0)]).unwrap();
    assert_eq!(
        d.shard
            .verify_partitions("tx", pe.0, pe.1, &[("t".into(), 0), ("t".into(), 1)]),
        Ok(vec![true, false])
    );
}

#[test]
fn restarted_shard_finds_the_markers_still_to_write() {
    let mut d = Driver::new();
    let pe = d.init("a", None).unwrap();
    d.add("a", pe, &[("t", 0)]).unwrap();
    d.end("a", pe, false).unwrap();
    let rebuilt = d.rebuilt();
    assert_eq!(rebuilt.pending_markers(), d.markers);
}

proptest! {
    /// Random operations from several producers of a few transactional ids, with markers
    /// written at random moments and the clock moving: every step keeps Kafka's invariants, and
    /// the log rebuilds exactly the live state.
    #[test]
    fn random_operations_keep_the_invariants(ops in prop::collection::vec((0u8..9, 0usize..3, 0usize..3, any::<bool>()), 1..120)) {
        let mut d = Driver::new();
        let ids = ["a", "b", "c"];
        let mut producers: Vec<Vec<(i64, i16)>> = vec![Vec::new(); 3];
        let mut last_epoch: Vec<Option<(i64, i16)>> = vec![None; 3];
        for (op, i, which, flag) in ops {
            let id = ids[i];
            let pe = producers[i].get(which % producers[i].len().max(1)).copied();
            match (op, pe) {
                (0, _) | (_, None) => {
                    if let Ok(pe) = d.init(id, None) {
                        producers[i].push(pe);
                    }
                }
                (1 | 2, Some(pe)) => {
                    let _ = d.add(id, pe, &[("t", which as i32), ("u", 0)]);
                }
                (3, Some(pe)) => {
                    let _ = d.end(id, pe, flag);
                }
                (4, _) => {
                    d.write_markers();
                }
                (5, _) => {
                    d.now += if flag { 31_000 } else { 1_000 };
                    let e = d.shard.tick(d.now);
                    d.apply(e);
                }
                (7, Some(pe)) => {
                    let _ = d.add_v2(id, pe, &[("t", which as i32)]);
                }
                (8, Some(pe)) => {
                    if let Ok(next) = d.end_v2(id, pe, flag) {
                        producers[i].push(next);
                    }
                }
                (_, Some(pe)) => {
                    if let Ok(pe) = d.init(id, Some(pe)) {
                        producers[i].push(pe);
                    }
                }
            }
            for (k, id) in ids.iter().enumerate() {
                if let Some(m) = d.shard.get(id) {
                    let v = &m.value;
                    // Epochs never go back for a producer id.
                    if let Some((pid, epoch)) = last_epoch[k] {
                        prop_assert!(v.producer_id != pid || v.producer_epoch >= epoch);
                    }
                    last_epoch[k] = Some((v.producer_id, v.producer_epoch));
                    // Only open or preparing transactions hold partitions, and an open one
                    // always does (a version-2 abort with nothing open prepares none).
                    let open = matches!(v.status, TxnStatus::Ongoing | TxnStatus::PrepareCommit | TxnStatus::PrepareAbort);
                    prop_assert!(v.partitions.is_empty() || open, "{:?}", v.status);
                    prop_assert!(v.status != TxnStatus::Ongoing || !v.partitions.is_empty());
                }
            }
            // Markers are asked for exactly the prepared transactions.
            let mut pending = d.shard.pending_markers();
            let mut asked = d.markers.clone();
            pending.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            asked.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            prop_assert_eq!(pending, asked);
        }
        let rebuilt = d.rebuilt();
        let live: Vec<_> = d.shard.all().map(|(k, v)| (k.clone(), v.clone())).collect();
        let again: Vec<_> = rebuilt.all().map(|(k, v)| (k.clone(), v.clone())).collect();
        prop_assert_eq!(live, again);
    }
}
