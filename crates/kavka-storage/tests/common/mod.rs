//! Helpers shared by the integration tests: building batches and reading the log back.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use kavka_protocol::batch::{BatchIter, BatchView, Compression};
use kavka_protocol::records::BatchBuilder;
use kavka_storage::{LogConfig, PartitionLog};

/// A CreateTime batch with one record per timestamp, values of `value_bytes` bytes.
pub fn batch_with_timestamps(timestamps: &[i64], value_bytes: usize) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None);
    for (i, &ts) in timestamps.iter().enumerate() {
        let value = vec![b'a' + (i % 26) as u8; value_bytes];
        b.append(ts, Some(format!("key-{i}").as_bytes()), Some(&value), &[]);
    }
    b.build().unwrap().to_vec()
}

/// A batch of `records` records stamped `timestamp_ms`.
pub fn batch(records: usize, value_bytes: usize, timestamp_ms: i64) -> Vec<u8> {
    batch_with_timestamps(&vec![timestamp_ms; records], value_bytes)
}

/// (base offset, last offset, size) of every batch in `bytes`.
pub fn batch_spans(bytes: &[u8]) -> Vec<(i64, i64, usize)> {
    BatchIter::new(bytes)
        .map(|b| {
            let b = b.unwrap();
            (b.base_offset(), b.last_offset(), b.size())
        })
        .collect()
}

/// The first batch of `bytes`.
pub fn first_batch(bytes: &[u8]) -> BatchView<'_> {
    BatchView::parse(bytes).unwrap()
}

/// Reads the whole log by following `next_offset` from the log start.
pub fn read_all(log: &PartitionLog) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let slice = log.read(offset, usize::MAX, true).unwrap();
        assert!(!slice.is_empty(), "no data at {offset}");
        out.extend_from_slice(&slice.read_bytes().unwrap());
        offset = slice.next_offset;
    }
    out
}

/// Small segments and a dense index so that tests exercise rolls and index lookups.
pub fn small_config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// Path of the segment file with base offset `base` and extension `ext`.
pub fn segment_file(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// A record as tests write it: (key, value), `None` for null.
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// A CreateTime batch of keyed records `(key, value)` (value `None`: a tombstone), all stamped
/// `timestamp_ms`, compressed with `codec`.
pub fn keyed_batch(records: &[KeyValue<'_>], timestamp_ms: i64, codec: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new(codec);
    for (key, value) in records {
        b.append(timestamp_ms, *key, *value, &[]);
    }
    b.build().unwrap().to_vec()
}

/// Every record readable from the log, following `next_offset` from the log start.
pub fn read_records(log: &PartitionLog) -> Vec<kavka_protocol::records::Record> {
    let bytes = read_all(log);
    let mut out = Vec::new();
    for view in BatchIter::new(&bytes) {
        out.extend(kavka_protocol::records::decode_records(&view.unwrap()).unwrap());
    }
    out
}

/// Names of the files of `dir`, sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Appends one batch as the produce path does (`append_batch`, which leaves `bytes` as they
/// are) and returns the append and the batch as stored: offsets and leader epoch stamped.
pub fn append(
    log: &mut kavka_storage::PartitionLog,
    bytes: &[u8],
    leader_epoch: i32,
    now_ms: i64,
) -> (kavka_storage::AppendInfo, Vec<u8>) {
    let info = log.append_batch(bytes, leader_epoch, now_ms).unwrap();
    let stored = log
        .read(info.base_offset, usize::MAX, true)
        .unwrap()
        .read_bytes()
        .unwrap();
    let size = first_batch(&stored).size();
    (info, stored[..size].to_vec())
}
