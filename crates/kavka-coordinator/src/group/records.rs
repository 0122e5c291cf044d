//! Keys and values of the records the group coordinator writes to `__consumer_offsets`,
//! byte-compatible with Apache Kafka (the `OffsetCommitKey`, `OffsetCommitValue`,
//! `GroupMetadataKey` and `GroupMetadataValue` schemas of Kafka's group coordinator), so Kafka's
//! tools can read the partition. All integers are big-endian.
//!
//! ```text
//! key   = version i16 | fields        0, 1: group string, topic string, partition i32
//!                                     2:    group string
//!                                     3+:   other group types (KIP-848, share, streams): skipped
//! value = version i16 | fields        0-3 non-flexible, 4 flexible (see the types for fields)
//! ```
//!
//! Non-flexible versions prefix strings with an `i16` length (`-1` = null) and bytes and arrays
//! with an `i32` one. The flexible version prefixes all three with an unsigned varint of
//! length + 1 (`0` = null) and ends every struct with tagged fields (a varint count, then
//! tag, size and bytes each); these schemas define no tags, so all are skipped.
//!
//! Decoding trusts nothing: each length is checked against the bytes left before anything is
//! allocated, trailing bytes are rejected, and no input makes it panic.

use bytes::{BufMut, Bytes};

use super::wire::{Reader, Writer};

/// The longest string a record can hold, in bytes (Kafka's limit in every version). Callers
/// validate group ids, topics, metadata and member strings against it before building records.
pub const MAX_STRING_BYTES: usize = i16::MAX as usize;

/// Whether a string fits a `__consumer_offsets` record.
pub(crate) fn fits_record(s: &str) -> bool {
    s.len() <= MAX_STRING_BYTES
}

/// Key version written for offset commits (`0` is the same layout, read too).
const OFFSET_KEY_VERSION: i16 = 1;
/// Key version of group metadata.
const GROUP_KEY_VERSION: i16 = 2;
/// The newest value version of both value types; also the first flexible one.
pub(crate) const MAX_VALUE_VERSION: i16 = 4;
/// Fewest bytes one encoded member takes (v4: 4 compact strings, 2 `i32`, 2 compact bytes, an
/// empty tag section); bounds the capacity reserved for an announced member count.
const MIN_MEMBER_BYTES: usize = 15;

/// Key of a committed offset: one group's position in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetKey {
    /// The group id.
    pub group: String,
    /// The topic name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    /// The next offset the group will consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, `-1` for none. Version 1 cannot carry it.
    pub leader_epoch: i32,
    /// Free-form client metadata.
    pub metadata: String,
    /// When the commit was appended, in ms since the epoch.
    pub commit_timestamp_ms: i64,
    /// Explicit expiry in ms since the epoch (old OffsetCommit requests with a retention time).
    /// Only value version 1 carries one; there, `-1` reads as `None`, as in Kafka.
    pub expire_timestamp_ms: Option<i64>,
}

/// One member of a classic group, as stored at the end of a rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    /// The member id the coordinator assigned.
    pub member_id: String,
    /// The static membership id (`group.instance.id`), if any; from value version 3.
    pub group_instance_id: Option<String>,
    /// The client id of the member's connection.
    pub client_id: String,
    /// The host the member connected from.
    pub client_host: String,
    /// Rebalance timeout in ms; version 0 lacks it and reads as the session timeout.
    pub rebalance_timeout_ms: i32,
    /// Session timeout in ms.
    pub session_timeout_ms: i32,
    /// The member's subscription for the chosen protocol (opaque to the coordinator).
    pub subscription: Bytes,
    /// The assignment the leader gave the member (opaque to the coordinator).
    pub assignment: Bytes,
}

/// The state of a classic group after a rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// The protocol type (`consumer`, `connect`, ...); empty for a group without members ever.
    pub protocol_type: String,
    /// The generation id.
    pub generation: i32,
    /// The chosen protocol (assignor), `None` when the group is empty.
    pub protocol: Option<String>,
    /// The leader's member id, `None` when the group is empty.
    pub leader: Option<String>,
    /// When the group entered its current state, in ms since the epoch; `-1` when absent
    /// (versions 0 and 1 lack it).
    pub current_state_timestamp_ms: i64,
    /// The members.
    pub members: Vec<MemberMetadata>,
}

/// One record of `__consumer_offsets`; value `None` = tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    /// A committed offset, or its deletion.
    Offset {
        /// Which group, topic and partition.
        key: OffsetKey,
        /// The offset; `None` deletes it.
        value: Option<OffsetCommitValue>,
    },
    /// A classic group's metadata, or its deletion.
    Group {
        /// The group id.
        group: String,
        /// The metadata; `None` deletes the group.
        value: Option<GroupMetadataValue>,
    },
}

/// Why the bytes of a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordDecodeError {
    /// The bytes end inside a field, or a length announces more bytes than are left.
    #[error("record truncated: `{field}` runs past the end of the bytes")]
    Truncated {
        /// The field being read.
        field: &'static str,
    },
    /// A length prefix is negative but not the null marker `-1`.
    #[error("invalid length {len} for `{field}`")]
    InvalidLength {
        /// The field being read.
        field: &'static str,
        /// The length found.
        len: i64,
    },
    /// A field the schema does not allow to be null is null.
    #[error("`{field}` is null but is not nullable")]
    UnexpectedNull {
        /// The field being read.
        field: &'static str,
    },
    /// A string is not valid UTF-8.
    #[error("`{field}` is not valid UTF-8")]
    InvalidUtf8 {
        /// The field being read.
        field: &'static str,
    },
    /// An unsigned varint is longer than 5 bytes or exceeds 32 bits.
    #[error("unsigned varint in `{field}` exceeds 32 bits")]
    VarintTooLong {
        /// The field being read.
        field: &'static str,
    },
    /// The value's version is not one this build reads.
    #[error("unknown {record} version {version}")]
    UnknownValueVersion {
        /// The value type (`OffsetCommitValue` or `GroupMetadataValue`).
        record: &'static str,
        /// The version found.
        version: i16,
    },
    /// Bytes are left after the last field.
    #[error("{bytes} trailing bytes after the {part}")]
    TrailingBytes {
        /// What was decoded (`key`, or the value type).
        part: &'static str,
        /// How many bytes were left.
        bytes: usize,
    },
}

impl GroupRecord {
    /// The group the record belongs to.
    pub fn group(&self) -> &str {
        match self {
            Self::Offset { key, .. } => &key.group,
            Self::Group { group, .. } => group,
        }
    }

    /// The record key: offset keys as version 1, group keys as version 2.
    ///
    /// # Panics
    /// If a string exceeds [`MAX_STRING_BYTES`].
    pub fn encode_key(&self) -> Bytes {
        let mut w = Writer::new(false);
        match self {
            Self::Offset { key, .. } => {
                w.buf.put_i16(OFFSET_KEY_VERSION);
                w.string(&key.group);
                w.string(&key.topic);
                w.buf.put_i32(key.partition);
            }
            Self::Group { group, .. } => {
                w.buf.put_i16(GROUP_KEY_VERSION);
                w.string(group);
            }
        }
        w.finish()
    }

    /// The record value, `None` for a tombstone. Offsets are written as version 3, or as
    /// version 1 (which drops `leader_epoch`) when `expire_timestamp_ms` is set; group
    /// metadata as version 3. Kafka writes the same versions.
    ///
    /// # Panics
    /// If a string exceeds [`MAX_STRING_BYTES`].
    pub fn encode_value(&self) -> Option<Bytes> {
        match self {
            Self::Offset { value, .. } => value.as_ref().map(|v| {
                v.encode(if v.expire_timestamp_ms.is_some() {
                    1
                } else {
                    3
                })
            }),
            Self::Group { value, .. } => value.as_ref().map(|v| v.encode(3)),
        }
    }

    /// Decodes one record (`value` `None` = tombstone). `Ok(None)` for key versions this
    /// coordinator does not know (records of other group types): skip them.
    pub fn decode(
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<Option<GroupRecord>, RecordDecodeError> {
        let mut r = Reader::new(key, false);
        let record = match r.i16("key version")? {
            0 | 1 => {
                let key = OffsetKey {
                    group: r.string("group")?,
                    topic: r.string("topic")?,
                    partition: r.i32("partition")?,
                };
                r.finish("key")?;
                let value = value.map(OffsetCommitValue::decode).transpose()?;
                GroupRecord::Offset { key, value }
            }
            2 => {
                let group = r.string("group")?;
                r.finish("key")?;
                let value = value.map(GroupMetadataValue::decode).transpose()?;
                GroupRecord::Group { group, value }
            }
            _ => return Ok(None),
        };
        Ok(Some(record))
    }
}

impl OffsetCommitValue {
    /// Encodes as value `version` (0-4), dropping the fields that version lacks.
    pub(crate) fn encode(&self, version: i16) -> Bytes {
        let mut w = Writer::new(version >= 4);
        w.buf.put_i16(version);
        w.buf.put_i64(self.offset);
        if version >= 3 {
            w.buf.put_i32(self.leader_epoch);
        }
        w.string(&self.metadata);
        w.buf.put_i64(self.commit_timestamp_ms);
        if version == 1 {
            w.buf.put_i64(self.expire_timestamp_ms.unwrap_or(-1));
        }
        w.tagged_fields();
        w.finish()
    }

    fn decode(bytes: &[u8]) -> Result<Self, RecordDecodeError> {
        const RECORD: &str = "OffsetCommitValue";
        let (version, mut r) = Reader::versioned(bytes, RECORD)?;
        let value = OffsetCommitValue {
            offset: r.i64("offset")?,
            leader_epoch: r.field_if(version >= 3, -1, |r| r.i32("leaderEpoch"))?,
            metadata: r.string("metadata")?,
            commit_timestamp_ms: r.i64("commitTimestamp")?,
            // Kafka reads the `-1` default as no expiry.
            expire_timestamp_ms: r
                .field_if(version == 1, -1, |r| r.i64("expireTimestamp"))
                .map(|t| Some(t).filter(|&t| t != -1))?,
        };
        r.tagged_fields(RECORD)?;
        r.finish(RECORD)?;
        Ok(value)
    }
}

impl GroupMetadataValue {
    /// Encodes as value `version` (0-4), dropping the fields that version lacks.
    pub(crate) fn encode(&self, version: i16) -> Bytes {
        let mut w = Writer::new(version >= 4);
        w.buf.put_i16(version);
        w.string(&self.protocol_type);
        w.buf.put_i32(self.generation);
        w.nullable_string(self.protocol.as_deref());
        w.nullable_string(self.leader.as_deref());
        if version >= 2 {
            w.buf.put_i64(self.current_state_timestamp_ms);
        }
        w.length(self.members.len());
        for m in &self.members {
            w.string(&m.member_id);
            if version >= 3 {
                w.nullable_string(m.group_instance_id.as_deref());
            }
            w.string(&m.client_id);
            w.string(&m.client_host);
            if version >= 1 {
                w.buf.put_i32(m.rebalance_timeout_ms);
            }
            w.buf.put_i32(m.session_timeout_ms);
            w.bytes(&m.subscription);
            w.bytes(&m.assignment);
            w.tagged_fields();
        }
        w.tagged_fields();
        w.finish()
    }

    fn decode(bytes: &[u8]) -> Result<Self, RecordDecodeError> {
        const RECORD: &str = "GroupMetadataValue";
        let (version, mut r) = Reader::versioned(bytes, RECORD)?;
        let mut value = GroupMetadataValue {
            protocol_type: r.string("protocolType")?,
            generation: r.i32("generation")?,
            protocol: r.nullable_string("protocol")?,
            leader: r.nullable_string("leader")?,
            current_state_timestamp_ms: r
                .field_if(version >= 2, -1, |r| r.i64("currentStateTimestamp"))?,
            members: Vec::new(),
        };
        let count = r.array_len("members", MIN_MEMBER_BYTES)?;
        value.members.reserve_exact(count);
        for _ in 0..count {
            value.members.push(MemberMetadata::decode(&mut r, version)?);
        }
        r.tagged_fields(RECORD)?;
        r.finish(RECORD)?;
        Ok(value)
    }
}

impl MemberMetadata {
    fn decode(r: &mut Reader<'_>, version: i16) -> Result<Self, RecordDecodeError> {
        let mut member = MemberMetadata {
            member_id: r.string("memberId")?,
            group_instance_id: r
                .field_if(version >= 3, None, |r| r.nullable_string("groupInstanceId"))?,
            client_id: r.string("clientId")?,
            client_host: r.string("clientHost")?,
            rebalance_timeout_ms: r.field_if(version >= 1, -1, |r| r.i32("rebalanceTimeout"))?,
            session_timeout_ms: r.i32("sessionTimeout")?,
            subscription: r.bytes("subscription")?,
            assignment: r.bytes("assignment")?,
        };
        if version == 0 {
            // Kafka loads a version 0 member with its session timeout as rebalance timeout.
            member.rebalance_timeout_ms = member.session_timeout_ms;
        }
        r.tagged_fields("MemberMetadata")?;
        Ok(member)
    }
}

#[cfg(test)]
#[path = "records_tests.rs"]
mod tests;

impl crate::runtime::CoordinatorRecord for GroupRecord {
    fn encode_key(&self) -> Bytes {
        GroupRecord::encode_key(self)
    }

    fn encode_value(&self) -> Option<Bytes> {
        GroupRecord::encode_value(self)
    }

    fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<Option<Self>, String> {
        GroupRecord::decode(key, value).map_err(|e| e.to_string())
    }
}
