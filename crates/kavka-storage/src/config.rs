//! Per-partition log configuration: Kafka's topic-level `segment.*`, `flush.*`,
//! `max.message.bytes` and `message.timestamp.type`, with Kafka's defaults.

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

/// Which timestamp a topic keeps in its batches (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Keep the producer's timestamps.
    #[default]
    CreateTime,
    /// Stamp every batch with the broker's time at append.
    LogAppendTime,
}

/// Configuration of one partition log. Field names follow Kafka's topic configs.
#[derive(Clone, Debug)]
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
