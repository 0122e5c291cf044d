//! Property tests: random operation sequences checked against an in-memory model, and random
//! bytes fed to recovery.

mod common;

use std::fs::OpenOptions;
use std::path::Path;

use common::*;
use kavka_storage::{LogConfig, PartitionLog, StorageError};
use proptest::prelude::*;

/// A batch as the model knows it: its bytes (with assigned offsets) and record timestamps.
#[derive(Debug, Clone)]
struct ModelBatch {
    base_offset: i64,
    bytes: Vec<u8>,
    timestamps: Vec<i64>,
}

impl ModelBatch {
    fn last_offset(&self) -> i64 {
        self.base_offset + self.timestamps.len() as i64 - 1
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// One produce request of several batches, each a list of record timestamps.
    Append {
        batches: Vec<Vec<i64>>,
        value_bytes: usize,
    },
    /// Read at `offset_pick` (mapped into [-1, log end + 1]).
    Read {
        offset_pick: u64,
        max_bytes: usize,
        min_one_batch: bool,
    },
    /// offset_for_timestamp.
    Timestamp {
        timestamp_ms: i64,
    },
    /// Let time pass (segment.ms rolls).
    Advance {
        ms: i64,
    },
    Flush,
    CloseReopen,
    /// Drop without close, cut bytes off the active segment, reopen with recovery.
    Crash {
        cut_pick: u64,
    },
    /// DeleteRecords at `pick` mapped into [log start - 1, log end + 1].
    DeleteRecords {
        pick: u64,
    },
    /// A retention pass with `retention.bytes` set to this.
    RetainBytes {
        bytes: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::collection::vec(prop::collection::vec(0i64..5_000, 1..6), 1..4), 0usize..120)
            .prop_map(|(batches, value_bytes)| Op::Append { batches, value_bytes }),
        4 => (any::<u64>(), 1usize..1_500, any::<bool>())
            .prop_map(|(offset_pick, max_bytes, min_one_batch)| Op::Read { offset_pick, max_bytes, min_one_batch }),
        2 => (-10i64..5_100).prop_map(|timestamp_ms| Op::Timestamp { timestamp_ms }),
        1 => (0i64..3_000).prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::Flush),
        1 => Just(Op::CloseReopen),
        1 => any::<u64>().prop_map(|cut_pick| Op::Crash { cut_pick }),
        1 => any::<u64>().prop_map(|pick| Op::DeleteRecords { pick }),
        1 => any::<u16>().prop_map(|bytes| Op::RetainBytes { bytes }),
    ]
}

fn model_config() -> LogConfig {
    LogConfig {
        segment_bytes: 2_048,
        segment_ms: 5_000,
        segment_index_bytes: 10 * 12,
        index_interval_bytes: 200,
        ..LogConfig::default()
    }
}

struct Harness<'a> {
    dir: &'a Path,
    log: Option<PartitionLog>,
    /// The batches of the segments the log still has (some may lie below the log start).
    model: Vec<ModelBatch>,
    now_ms: i64,
    /// The log start offset.
    log_start: i64,
    /// The log end offset.
    end: i64,
}

impl Harness<'_> {
    fn log(&mut self) -> &mut PartitionLog {
        self.log.as_mut().unwrap()
    }

    fn end_offset(&self) -> i64 {
        self.end
    }

    /// (offset, timestamp) of every record at or after the log start.
    fn live_records(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        let log_start = self.log_start;
        self.model
            .iter()
            .flat_map(|b| {
                b.timestamps
                    .iter()
                    .enumerate()
                    .map(move |(i, &t)| (b.base_offset + i as i64, t))
            })
            .filter(move |&(offset, _)| offset >= log_start)
    }

    /// Drops the model batches of the segments the log deleted.
    fn forget_deleted_segments(&mut self) {
        let first_base = self.log.as_ref().unwrap().segment_base_offsets()[0];
        self.model.retain(|b| b.base_offset >= first_base);
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Append {
                batches,
                value_bytes,
            } => {
                // As the produce path does: one batch per append.
                for ts in batches {
                    let bytes = batch_with_timestamps(&ts, value_bytes);
                    let now_ms = self.now_ms;
                    let result = self.log().append_batch(&bytes, 0, now_ms);
                    if bytes.len() as u64 > model_config().segment_bytes {
                        assert!(matches!(result, Err(StorageError::MessageTooLarge { .. })));
                        continue;
                    }
                    let info = result.unwrap();
                    assert_eq!(info.base_offset, self.end_offset());
                    self.end = info.last_offset + 1;
                    // The batch as stored: its offsets and leader epoch stamped.
                    let stored = self
                        .log()
                        .read(info.base_offset, usize::MAX, true)
                        .unwrap()
                        .read_bytes()
                        .unwrap();
                    let size = first_batch(&stored).size();
                    self.model.push(ModelBatch {
                        base_offset: info.base_offset,
                        bytes: stored[..size].to_vec(),
                        timestamps: ts,
                    });
                }
                self.check_invariants();
                return;
            }
            Op::Read {
                offset_pick,
                max_bytes,
                min_one_batch,
            } => self.check_read(offset_pick, max_bytes, min_one_batch),
            Op::Timestamp { timestamp_ms } => {
                let expected = self.live_records().find(|&(_, t)| t >= timestamp_ms);
                assert_eq!(
                    self.log().offset_for_timestamp(timestamp_ms).unwrap(),
                    expected
                );
            }
            Op::Advance { ms } => self.now_ms += ms,
            Op::Flush => {
                self.log().flush().unwrap();
                let end = self.end_offset();
                assert_eq!(self.log().recovery_point(), end);
            }
            Op::CloseReopen => {
                self.log.take().unwrap().close().unwrap();
                let (log, report) = PartitionLog::open(self.dir, model_config(), true).unwrap();
                assert_eq!(report.rebuilt_indexes, 0);
                self.log = Some(log);
                // Opening deletes segments a roll left wholly below the log start.
                self.forget_deleted_segments();
            }
            Op::Crash { cut_pick } => {
                let log = self.log.take().unwrap();
                let active_base = *log.segment_base_offsets().last().unwrap();
                drop(log);
                let path = segment_file(self.dir, active_base, "log");
                let len = std::fs::metadata(&path).unwrap().len();
                let new_len = len - cut_pick % (len + 1);
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(new_len)
                    .unwrap();
                let mut end = 0u64;
                self.model.retain(|b| {
                    if b.base_offset < active_base {
                        return true;
                    }
                    end += b.bytes.len() as u64;
                    end <= new_len
                });
                let (log, report) = PartitionLog::open(self.dir, model_config(), false).unwrap();
                self.end = self
                    .model
                    .last()
                    .map_or(0, |b| b.last_offset() + 1)
                    .max(active_base);
                if self.end < self.log_start {
                    // The crash lost data DeleteRecords had passed: the log restarts there.
                    assert!(report.deleted_below_log_start > 0);
                    self.model.clear();
                    self.end = self.log_start;
                } else {
                    assert!(report.rebuilt_indexes >= 1);
                }
                assert_eq!(log.log_end_offset(), self.end);
                self.log = Some(log);
                self.forget_deleted_segments();
            }
            Op::DeleteRecords { pick } => {
                let (start, end) = (self.log_start, self.end);
                let offset = start - 1 + (pick % (end - start + 3) as u64) as i64;
                let result = self.log().delete_records(offset);
                if offset < start || offset > end {
                    assert!(matches!(result, Err(StorageError::OffsetOutOfRange { .. })));
                } else {
                    assert_eq!(result.unwrap(), offset);
                    self.log_start = offset;
                    self.forget_deleted_segments();
                }
            }
            Op::RetainBytes { bytes } => {
                let config = LogConfig {
                    retention_bytes: i64::from(bytes),
                    retention_ms: -1,
                    ..model_config()
                };
                self.log().set_config(config);
                let size_before = self.log().size_bytes();
                let bases = self.log().segment_base_offsets();
                let log_start = self.log_start;
                let below_start = bases.windows(2).take_while(|w| w[1] <= log_start).count();
                let now_ms = self.now_ms;
                let outcome = self.log().apply_retention(now_ms).unwrap();
                self.log().set_config(model_config());
                assert_eq!(self.log().size_bytes(), size_before - outcome.deleted_bytes);
                if outcome.deleted_segments > below_start {
                    assert!(self.log().size_bytes() >= u64::from(bytes));
                }
                self.forget_deleted_segments();
                let first_base = self.log().segment_base_offsets()[0];
                self.log_start = self.log_start.max(first_base);
                assert_eq!(outcome.log_start_offset, self.log_start);
            }
        }
        self.check_invariants();
    }

    fn check_read(&mut self, offset_pick: u64, max_bytes: usize, min_one_batch: bool) {
        let end = self.end_offset();
        let offset = (offset_pick % (end as u64 + 3)) as i64 - 1;
        let bases = self.log().segment_base_offsets();
        let result = self.log().read(offset, max_bytes, min_one_batch);
        if offset < 0 || offset > end {
            assert!(
                matches!(result, Err(StorageError::OffsetOutOfRange { .. })),
                "{result:?}"
            );
            return;
        }
        if offset < self.log_start {
            assert!(
                matches!(result, Err(StorageError::OffsetOutOfRange { .. })),
                "{result:?}"
            );
            return;
        }
        let slice = result.unwrap();
        let got = slice.read_bytes().unwrap();
        if offset == end {
            assert!(got.is_empty());
            return;
        }
        let first = self
            .model
            .iter()
            .position(|b| b.last_offset() >= offset)
            .unwrap();
        let segment_of = |base_offset: i64| bases.partition_point(|&b| b <= base_offset);
        let mut expected = Vec::new();
        for (i, b) in self.model[first..].iter().enumerate() {
            let fits = expected.len() + b.bytes.len() <= max_bytes || (i == 0 && min_one_batch);
            if !fits || segment_of(b.base_offset) != segment_of(self.model[first].base_offset) {
                break;
            }
            expected.extend_from_slice(&b.bytes);
        }
        assert_eq!(
            got.len(),
            expected.len(),
            "read({offset}, {max_bytes}, {min_one_batch})"
        );
        assert!(got == expected);
    }

    fn check_invariants(&mut self) {
        let end = self.end_offset();
        let size: usize = self.model.iter().map(|b| b.bytes.len()).sum();
        let log = self.log.as_ref().unwrap();
        assert_eq!(log.log_start_offset(), self.log_start);
        assert_eq!(
            log.log_end_offset(),
            end.max(*log.segment_base_offsets().last().unwrap())
        );
        assert_eq!(log.size_bytes(), size as u64);
        let on_disk = std::fs::read_dir(self.dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "log")
            })
            .count();
        assert_eq!(log.segment_count(), on_disk);
        let mut best: Option<(i64, &ModelBatch)> = None;
        for b in &self.model {
            let max = *b.timestamps.iter().max().unwrap();
            if best.is_none_or(|(m, _)| max > m) {
                best = Some((max, b));
            }
        }
        let expected_max = best.map(|(max, b)| {
            let carried_by_first = b.timestamps.len() == 1 || b.timestamps[0] == max;
            (
                max,
                if carried_by_first {
                    b.base_offset
                } else {
                    b.last_offset()
                },
            )
        });
        assert_eq!(log.max_timestamp_and_offset(), expected_max);
        // Exact: the first record at or after the log start carrying the max.
        let exact = best.and_then(|(max, _)| {
            self.live_records()
                .find(|&(_, t)| t >= max)
                .map(|(offset, t)| (t, offset))
        });
        assert_eq!(log.max_timestamp_record().unwrap(), exact);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = PartitionLog::open(dir.path(), model_config(), true).unwrap();
        let mut h = Harness {
            dir: dir.path(),
            log: Some(log),
            model: Vec::new(),
            now_ms: 1_000_000,
            log_start: 0,
            end: 0,
        };
        for op in ops {
            h.apply(op);
        }
        // Everything from the log start still reads back in order.
        let all: Vec<u8> = h
            .model
            .iter()
            .filter(|b| b.last_offset() >= h.log_start)
            .flat_map(|b| b.bytes.clone())
            .collect();
        prop_assert!(read_all(h.log.as_ref().unwrap()) == all);
    }
}

/// A segment made of `valid` good batches followed by `garbage`, with byte flips and a cut.
fn damaged_segment(valid: usize, garbage: &[u8], flips: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut next = 0;
    for i in 0..valid {
        let mut b = batch(1 + i % 3, 10 * i, i as i64);
        next = kavka_protocol::batch::assign_offsets(&mut b, next, 0, None);
        bytes.extend_from_slice(&b);
    }
    bytes.extend_from_slice(garbage);
    if !bytes.is_empty() {
        for &(at, xor) in flips {
            let len = bytes.len();
            bytes[at % len] ^= xor;
        }
    }
    let keep = bytes.len() - cut % (bytes.len() + 1);
    bytes.truncate(keep);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn recovery_never_panics_on_random_segment_bytes(
        valid in 0usize..5,
        garbage in prop::collection::vec(any::<u8>(), 0..300),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in any::<usize>(),
        index in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        time_index in prop::option::of(prop::collection::vec(any::<u8>(), 0..40)),
        clean in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = damaged_segment(valid, &garbage, &flips, cut);
        std::fs::write(segment_file(dir.path(), 0, "log"), &bytes).unwrap();
        if let Some(index) = index {
            std::fs::write(segment_file(dir.path(), 0, "index"), index).unwrap();
        }
        if let Some(time_index) = time_index {
            std::fs::write(segment_file(dir.path(), 0, "timeindex"), time_index).unwrap();
        }
        let (mut log, _) = PartitionLog::open(dir.path(), model_config(), clean).unwrap();
        if clean {
            // Trusted files may be wrong; only require that nothing panics.
            let _ = log.read(0, 1_000, true).map(|s| s.read_bytes());
            let _ = log.offset_for_timestamp(3);
            return Ok(());
        }
        let kept = read_all(&log);
        prop_assert!(bytes.starts_with(&kept));
        prop_assert_eq!(log.size_bytes(), kept.len() as u64);
        prop_assert!(kept.is_empty() || kavka_protocol::batch::validate_batches(&kept).is_ok());
        let end = log.log_end_offset();
        let info = log.append_batch(&batch(2, 3, 9), 0, 0).unwrap();
        prop_assert_eq!(info.base_offset, end);
        log.close().unwrap();
        let (log, report) = PartitionLog::open(dir.path(), model_config(), false).unwrap();
        prop_assert_eq!(report.truncated_bytes, 0);
        prop_assert_eq!(log.log_end_offset(), end + 2);
    }
}
