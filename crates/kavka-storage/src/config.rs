//! Per-partition log configuration: Kafka's topic-level `segment.*`, `flush.*`,
//! `max.message.bytes`, `message.timestamp.type`, retention (`retention.*`) and compaction
//! (`cleanup.policy`, `*.compaction.lag.ms`, ...) configs, with Kafka's defaults.

use std::fmt;

use crate::index::OFFSET_ENTRY_BYTES;
use crate::time_index::TIME_ENTRY_BYTES;

/// Kafka's default `segment.bytes`: 1 GiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;
/// Kafka's default `segment.ms`: 7 days.
pub const DEFAULT_SEGMENT_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka's default `segment.index.bytes`: 10 MiB.
pub const DEFAULT_SEGMENT_INDEX_BYTES: u64 = 10 << 20;
/// Kafka's default `index.interval.bytes`.
pub const DEFAULT_INDEX_INTERVAL_BYTES: u64 = 4096;
/// Kafka's default `max.message.bytes` (1 MiB plus the 12-byte log overhead).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1_048_588;
/// Largest segment the format allows: index positions are `u32`.
pub const SEGMENT_BYTES_MAX: u64 = u32::MAX as u64;
/// Kafka's default `retention.ms`: 7 days.
pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Kafka's default `delete.retention.ms`: 1 day.
pub const DEFAULT_DELETE_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// Kafka's default `min.cleanable.dirty.ratio`.
pub const DEFAULT_MIN_CLEANABLE_DIRTY_RATIO: f64 = 0.5;
/// Kafka's default `file.delete.delay.ms`.
pub const DEFAULT_FILE_DELETE_DELAY_MS: i64 = 60_000;

/// Which timestamp a topic keeps in its batches (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Stamp every batch with the broker's time at append.
    LogAppendTime,
}

/// `cleanup.policy`: what happens to old data. Kafka allows `delete`, `compact` or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Delete whole segments past `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// Keep only the latest record of each key (the log cleaner).
    pub compact: bool,
}

impl Default for CleanupPolicy {
    /// Kafka's default: `delete`.
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}

impl CleanupPolicy {
    /// Parses Kafka's list syntax (`delete`, `compact`, `compact,delete`, `delete, compact`);
    /// `None` for an unknown or empty entry.
    pub fn parse(value: &str) -> Option<CleanupPolicy> {
        let mut policy = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for part in value.split(',') {
            match part.trim() {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                _ => return None,
            }
        }
        Some(policy)
    }
}

impl fmt::Display for CleanupPolicy {
    /// Kafka's spelling: `delete`, `compact` or `compact,delete` (empty when neither).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.compact, self.delete) {
            (true, true) => f.write_str("compact,delete"),
            (true, false) => f.write_str("compact"),
            (false, true) => f.write_str("delete"),
            (false, false) => Ok(()),
        }
    }
}

/// Configuration of one partition log. Field names follow Kafka's topic configs.
#[derive(Clone, Debug, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll when the active segment would grow past this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll when the active segment's first append is older than this.
    pub segment_ms: i64,
    /// `segment.index.bytes`: size of a full offset (or time) index; a full index rolls the segment.
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes appended between two sparse index entries.
    pub index_interval_bytes: u64,
    /// `flush.messages`: fsync once this many records are unflushed; `None` leaves it to the OS.
    pub flush_messages: Option<u64>,
    /// `flush.ms`: fsync when the oldest unflushed append is this old; `None` never flushes by time.
    pub flush_ms: Option<i64>,
    /// `max.message.bytes`: largest batch accepted.
    pub max_message_bytes: usize,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `retention.ms`: delete a closed segment once its largest timestamp is older than this;
    /// -1 (any negative value) keeps data forever. Applies with `cleanup_policy.delete`.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest closed segments while the log would stay at least
    /// this large without them; -1 (any negative value) is unlimited.
    pub retention_bytes: i64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long a tombstone survives after the cleaner first saw it.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`: records newer than this (by segment largest timestamp) are not
    /// compacted yet.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a log whose oldest dirty record is older than this is cleaned
    /// whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`: clean when dirty bytes / (clean + dirty bytes) of the closed
    /// segments reach this.
    pub min_cleanable_dirty_ratio: f64,
    /// `file.delete.delay.ms`: accepted for compatibility but not applied: deleted segment files
    /// are unlinked at once, which is safe because readers hold the open file (`Arc<File>`).
    pub file_delete_delay_ms: i64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_ms: DEFAULT_SEGMENT_MS,
            segment_index_bytes: DEFAULT_SEGMENT_INDEX_BYTES,
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            flush_messages: None,
            flush_ms: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            message_timestamp_type: TimestampType::CreateTime,
            retention_ms: DEFAULT_RETENTION_MS,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::default(),
            delete_retention_ms: DEFAULT_DELETE_RETENTION_MS,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: DEFAULT_MIN_CLEANABLE_DIRTY_RATIO,
            file_delete_delay_ms: DEFAULT_FILE_DELETE_DELAY_MS,
        }
    }
}

impl LogConfig {
    /// The segment size actually enforced: `segment_bytes` capped by what a `u32` position holds.
    pub(crate) fn segment_bytes_max(&self) -> u64 {
        self.segment_bytes.clamp(1, SEGMENT_BYTES_MAX)
    }

    /// Entries in a full offset index (at least one, so that a tiny setting still makes progress).
    pub(crate) fn offset_index_entries_max(&self) -> usize {
        usize::try_from(self.segment_index_bytes / OFFSET_ENTRY_BYTES as u64)
            .unwrap_or(usize::MAX)
            .max(1)
    }

    /// Entries in a full time index (at least one).
    pub(crate) fn time_index_entries_max(&self) -> usize {
        usize::try_from(self.segment_index_bytes / TIME_ENTRY_BYTES as u64)
            .unwrap_or(usize::MAX)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_kafka() {
        let c = LogConfig::default();
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.segment_index_bytes, 10_485_760);
        assert_eq!(c.offset_index_entries_max(), 10_485_760 / 8);
        assert_eq!(c.time_index_entries_max(), 10_485_760 / 12);
        assert_eq!(c.message_timestamp_type, TimestampType::CreateTime);
        assert_eq!(c.retention_ms, 604_800_000);
        assert_eq!(c.retention_bytes, -1);
        assert_eq!(
            c.cleanup_policy,
            CleanupPolicy {
                delete: true,
                compact: false
            }
        );
        assert_eq!(c.delete_retention_ms, 86_400_000);
        assert_eq!(c.min_compaction_lag_ms, 0);
        assert_eq!(c.max_compaction_lag_ms, i64::MAX);
        assert_eq!(c.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(c.file_delete_delay_ms, 60_000);
    }

    #[test]
    fn cleanup_policy_parses_and_prints_kafka_lists() {
        let both = CleanupPolicy {
            delete: true,
            compact: true,
        };
        assert_eq!(CleanupPolicy::parse("compact, delete"), Some(both));
        assert_eq!(CleanupPolicy::parse("delete,compact"), Some(both));
        assert_eq!(both.to_string(), "compact,delete");
        let compact = CleanupPolicy::parse("compact").unwrap();
        assert!(compact.compact && !compact.delete);
        assert_eq!(compact.to_string(), "compact");
        assert_eq!(CleanupPolicy::default().to_string(), "delete");
        assert_eq!(CleanupPolicy::parse("compacted"), None);
        assert_eq!(CleanupPolicy::parse(""), None);
    }

    #[test]
    fn limits_are_clamped() {
        let c = LogConfig {
            segment_bytes: u64::MAX,
            segment_index_bytes: 3,
            ..LogConfig::default()
        };
        assert_eq!(c.segment_bytes_max(), u64::from(u32::MAX));
        assert_eq!(c.offset_index_entries_max(), 1);
        assert_eq!(c.time_index_entries_max(), 1);
    }
}
