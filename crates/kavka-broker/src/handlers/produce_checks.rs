//! The checks Kafka makes on a produced batch before it is appended: from the batch header
//! (`check_batches`), and, on compacted topics only, that every record has a key (KIP-467's
//! per-record errors; the one check that decodes records, as in Kafka).

use kavka_protocol::batch::{BatchHeader, BatchIter, BatchView};
use kavka_protocol::records::{RecordError, RecordIter};
use kavka_protocol::ErrorCode;

use crate::replica_manager::ProducePolicy;

/// Header checks Kafka makes before appending. Malformed bytes pass through: the log's
/// validation reports them with the right code.
pub(super) fn check_batches(
    records: &[u8],
    policy: &ProducePolicy,
    acks: i16,
    isr_size: usize,
    now: i64,
) -> Result<(), (ErrorCode, String)> {
    let mut iter = BatchIter::new(records);
    let first = match iter.next() {
        Some(Ok(view)) => view,
        _ => return Ok(()),
    };
    if iter.position() < records.len() {
        return Err((
            ErrorCode::INVALID_RECORD,
            "Produce requests with version 3 and above must contain exactly one record batch per partition".into(),
        ));
    }
    let header = BatchHeader::parse(first.as_bytes())
        .map_err(|e| (ErrorCode::CORRUPT_MESSAGE, e.to_string()))?;
    if first.is_control() {
        return Err((
            ErrorCode::INVALID_RECORD,
            "Clients may not produce control batches".into(),
        ));
    }
    if header.size_bytes as u64 > policy.segment_bytes {
        return Err((
            ErrorCode::RECORD_LIST_TOO_LARGE,
            format!(
                "The batch of {} bytes is larger than the segment size {}",
                header.size_bytes, policy.segment_bytes
            ),
        ));
    }
    if !policy.log_append_time {
        if header.max_timestamp > now.saturating_add(policy.timestamp_after_max_ms) {
            return Err((
                ErrorCode::INVALID_TIMESTAMP,
                format!(
                    "Timestamp {} is more than message.timestamp.after.max.ms={} ahead of the broker's time {now}",
                    header.max_timestamp, policy.timestamp_after_max_ms
                ),
            ));
        }
        if header.base_timestamp >= 0
            && header.base_timestamp < now.saturating_sub(policy.timestamp_before_max_ms)
        {
            return Err((
                ErrorCode::INVALID_TIMESTAMP,
                format!(
                    "Timestamp {} is more than message.timestamp.before.max.ms={} behind the broker's time {now}",
                    header.base_timestamp, policy.timestamp_before_max_ms
                ),
            ));
        }
    }
    if acks == -1 && i64::from(policy.min_insync_replicas) > isr_size as i64 {
        return Err((
            ErrorCode::NOT_ENOUGH_REPLICAS,
            format!(
                "The size of the current ISR ({isr_size}) is insufficient to satisfy the min.isr requirement of {}",
                policy.min_insync_replicas
            ),
        ));
    }
    Ok(())
}

/// Indexes (within the batch) of the records without a key, for a compacted topic. Records are
/// decoded one at a time; memory is bounded by the decompressed batch.
pub(super) fn keyless_records(records: &[u8]) -> Result<Vec<i32>, RecordError> {
    let mut keyless = Vec::new();
    for view in BatchIter::new(records) {
        let view: BatchView<'_> = view?;
        for (index, record) in RecordIter::new(&view)?.enumerate() {
            if record?.key.is_none() {
                keyless.push(i32::try_from(index).unwrap_or(i32::MAX));
            }
        }
    }
    Ok(keyless)
}

/// The producer id and epoch of a transactional batch (`None` for any other batch).
pub(super) fn transactional_producer(records: &[u8]) -> Option<(i64, i16)> {
    let view = BatchView::parse(records).ok()?;
    (view.is_transactional() && !view.is_control())
        .then(|| (view.producer_id(), view.producer_epoch()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_protocol::batch::Compression;
    use kavka_protocol::records::BatchBuilder;

    fn policy() -> ProducePolicy {
        ProducePolicy {
            min_insync_replicas: 1,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: 3_600_000,
            segment_bytes: 1 << 30,
            log_append_time: false,
            may_fsync: false,
            compacted: false,
            compression: None,
        }
    }

    fn batch(ts: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None);
        b.append(ts, None, Some(b"v"), &[]);
        b.build().unwrap().to_vec()
    }

    #[test]
    fn kafkas_header_checks() {
        let now = 1_800_000_000_000;
        assert!(check_batches(&batch(now), &policy(), 1, 1, now).is_ok());
        let two = [batch(now), batch(now)].concat();
        assert_eq!(
            check_batches(&two, &policy(), 1, 1, now).unwrap_err().0,
            ErrorCode::INVALID_RECORD
        );
        let future = batch(now + 7_200_000);
        assert_eq!(
            check_batches(&future, &policy(), 1, 1, now).unwrap_err().0,
            ErrorCode::INVALID_TIMESTAMP
        );
        let p = ProducePolicy {
            log_append_time: true,
            ..policy()
        };
        assert!(
            check_batches(&future, &p, 1, 1, now).is_ok(),
            "LogAppendTime replaces the timestamp"
        );
        let p = ProducePolicy {
            timestamp_before_max_ms: 1000,
            ..policy()
        };
        assert_eq!(
            check_batches(&batch(now - 5000), &p, 1, 1, now)
                .unwrap_err()
                .0,
            ErrorCode::INVALID_TIMESTAMP
        );
        let p = ProducePolicy {
            min_insync_replicas: 2,
            ..policy()
        };
        assert_eq!(
            check_batches(&batch(now), &p, -1, 1, now).unwrap_err().0,
            ErrorCode::NOT_ENOUGH_REPLICAS
        );
        assert!(
            check_batches(&batch(now), &p, 1, 1, now).is_ok(),
            "acks=1 ignores min.insync.replicas"
        );
        assert!(
            check_batches(&batch(now), &p, -1, 2, now).is_ok(),
            "an ISR of two satisfies min.insync.replicas=2"
        );
        let p = ProducePolicy {
            segment_bytes: 20,
            ..policy()
        };
        assert_eq!(
            check_batches(&batch(now), &p, 1, 1, now).unwrap_err().0,
            ErrorCode::RECORD_LIST_TOO_LARGE
        );
        let mut control = batch(now);
        control[22] |= 0x20;
        let crc = crc32c::crc32c(&control[21..]);
        control[17..21].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            check_batches(&control, &policy(), 1, 1, now).unwrap_err().0,
            ErrorCode::INVALID_RECORD
        );
    }

    #[test]
    fn keyless_records_are_found_by_index_in_any_codec() {
        for codec in [Compression::None, Compression::Zstd, Compression::Gzip] {
            let mut b = BatchBuilder::new(codec);
            b.append(1, Some(b"k"), Some(b"v"), &[]);
            b.append(1, None, Some(b"v"), &[]);
            b.append(1, Some(b"k"), None, &[]);
            b.append(1, None, None, &[]);
            let bytes = b.build().unwrap();
            assert_eq!(keyless_records(&bytes).unwrap(), vec![1, 3], "{codec:?}");
        }
        let mut keyed = BatchBuilder::new(Compression::None);
        keyed.append(1, Some(b"k"), Some(b"v"), &[]);
        assert!(keyless_records(&keyed.build().unwrap()).unwrap().is_empty());
        assert!(
            keyless_records(&[0u8; 70]).is_err(),
            "garbage is an error, not a panic"
        );
    }
}
