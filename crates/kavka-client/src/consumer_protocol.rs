//! The "consumer" embedded protocol of classic groups: `ConsumerProtocolSubscription` (JoinGroup
//! member metadata) and `ConsumerProtocolAssignment` (SyncGroup assignment), versions 0-3, as
//! Kafka's `ConsumerProtocol` writes them: an `int16` version, then the fields of that version
//! (non-flexible encoding). A newer version than 3 is read as version 3, ignoring what follows,
//! as Kafka does.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::ClientError;

/// Highest version written and read in full.
pub const CONSUMER_PROTOCOL_VERSION_MAX: i16 = 3;

/// The protocol type of consumer groups.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Partitions of topics, as both messages list them.
pub type TopicPartitions = Vec<(String, Vec<i32>)>;

/// A member's subscription (`ConsumerProtocolSubscription`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (v1+).
    pub owned_partitions: TopicPartitions,
    /// Generation of `owned_partitions` (v2+; -1 when none).
    pub generation_id: i32,
    /// The member's rack (v3+).
    pub rack_id: Option<String>,
}

/// A member's assignment (`ConsumerProtocolAssignment`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// Assigned partitions.
    pub partitions: TopicPartitions,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
}

impl Subscription {
    /// Encodes at `version` (0-3): fields newer than it are left out.
    pub fn encode(&self, version: i16) -> Bytes {
        assert!((0..=CONSUMER_PROTOCOL_VERSION_MAX).contains(&version));
        let mut out = BytesMut::new();
        out.put_i16(version);
        put_array(&mut out, &self.topics, |o, t| put_string(o, t));
        put_nullable_bytes(&mut out, self.user_data.as_deref());
        if version >= 1 {
            put_topic_partitions(&mut out, &self.owned_partitions);
        }
        if version >= 2 {
            out.put_i32(self.generation_id);
        }
        if version >= 3 {
            put_nullable_string(&mut out, self.rack_id.as_deref());
        }
        out.freeze()
    }

    /// Decodes any version (newer than 3 read as 3).
    pub fn decode(bytes: &[u8]) -> Result<Subscription, ClientError> {
        let mut r = Reader { buf: bytes };
        let version = r.version()?;
        let topics = r.array(|r| r.string())?;
        let user_data = r.nullable_bytes()?;
        let owned_partitions = if version >= 1 {
            r.topic_partitions()?
        } else {
            Vec::new()
        };
        let generation_id = if version >= 2 { r.i32()? } else { -1 };
        let rack_id = if version >= 3 {
            r.nullable_string()?
        } else {
            None
        };
        Ok(Subscription {
            topics,
            user_data,
            owned_partitions,
            generation_id,
            rack_id,
        })
    }
}

impl Assignment {
    /// Encodes at `version` (0-3; the fields are the same in all).
    pub fn encode(&self, version: i16) -> Bytes {
        assert!((0..=CONSUMER_PROTOCOL_VERSION_MAX).contains(&version));
        let mut out = BytesMut::new();
        out.put_i16(version);
        put_topic_partitions(&mut out, &self.partitions);
        put_nullable_bytes(&mut out, self.user_data.as_deref());
        out.freeze()
    }

    /// Decodes any version. An empty buffer is an empty assignment (what the coordinator
    /// sends a member the leader gave nothing).
    pub fn decode(bytes: &[u8]) -> Result<Assignment, ClientError> {
        if bytes.is_empty() {
            return Ok(Assignment::default());
        }
        let mut r = Reader { buf: bytes };
        r.version()?;
        let partitions = r.topic_partitions()?;
        let user_data = r.nullable_bytes()?;
        Ok(Assignment {
            partitions,
            user_data,
        })
    }
}

/// Groups `(topic, partition)` pairs by topic, in order of first appearance.
pub fn group_by_topic(partitions: &[(String, i32)]) -> TopicPartitions {
    let mut out: TopicPartitions = Vec::new();
    for (topic, p) in partitions {
        match out.iter_mut().find(|(t, _)| t == topic) {
            Some((_, ps)) => ps.push(*p),
            None => out.push((topic.clone(), vec![*p])),
        }
    }
    out
}

fn put_array<T>(out: &mut BytesMut, items: &[T], mut put: impl FnMut(&mut BytesMut, &T)) {
    out.put_i32(items.len() as i32);
    for item in items {
        put(out, item);
    }
}

fn put_string(out: &mut BytesMut, s: &str) {
    out.put_i16(s.len() as i16);
    out.put_slice(s.as_bytes());
}

fn put_nullable_string(out: &mut BytesMut, s: Option<&str>) {
    match s {
        None => out.put_i16(-1),
        Some(s) => put_string(out, s),
    }
}

fn put_nullable_bytes(out: &mut BytesMut, b: Option<&[u8]>) {
    match b {
        None => out.put_i32(-1),
        Some(b) => {
            out.put_i32(b.len() as i32);
            out.put_slice(b);
        }
    }
}

fn put_topic_partitions(out: &mut BytesMut, tps: &[(String, Vec<i32>)]) {
    put_array(out, tps, |o, (topic, partitions)| {
        put_string(o, topic);
        put_array(o, partitions, |o, p| o.put_i32(*p));
    });
}

/// A bounds-checked reader of the big-endian fields.
struct Reader<'a> {
    buf: &'a [u8],
}

fn truncated() -> ClientError {
    ClientError::Codec("consumer protocol message truncated".into())
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ClientError> {
        if self.buf.len() < n {
            return Err(truncated());
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn i16(&mut self) -> Result<i16, ClientError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    fn i32(&mut self) -> Result<i32, ClientError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn version(&mut self) -> Result<i16, ClientError> {
        let v = self.i16()?;
        if v < 0 {
            return Err(ClientError::Codec(format!(
                "consumer protocol version {v} is invalid"
            )));
        }
        Ok(v.min(CONSUMER_PROTOCOL_VERSION_MAX))
    }

    fn nullable_string(&mut self) -> Result<Option<String>, ClientError> {
        let len = self.i16()?;
        if len < 0 {
            return Ok(None);
        }
        let bytes = self.take(len as usize)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| ClientError::Codec("consumer protocol string is not UTF-8".into()))
    }

    fn string(&mut self) -> Result<String, ClientError> {
        self.nullable_string()?
            .ok_or_else(|| ClientError::Codec("null string in consumer protocol".into()))
    }

    fn nullable_bytes(&mut self) -> Result<Option<Bytes>, ClientError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        Ok(Some(Bytes::copy_from_slice(self.take(len as usize)?)))
    }

    fn array<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, ClientError>,
    ) -> Result<Vec<T>, ClientError> {
        let n = self.i32()?;
        // Each item takes at least 2 bytes: never reserve more than the input could hold.
        let mut out = Vec::with_capacity((n.max(0) as usize).min(self.buf.len() / 2));
        for _ in 0..n.max(0) {
            out.push(item(self)?);
        }
        Ok(out)
    }

    fn topic_partitions(&mut self) -> Result<TopicPartitions, ClientError> {
        self.array(|r| Ok((r.string()?, r.array(|r| r.i32())?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_round_trips_at_every_version() {
        let full = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(Bytes::from_static(b"ud")),
            owned_partitions: vec![("a".into(), vec![0, 2])],
            generation_id: 7,
            rack_id: Some("r1".into()),
        };
        for version in 0..=3 {
            let decoded = Subscription::decode(&full.encode(version)).unwrap();
            assert_eq!(decoded.topics, full.topics);
            assert_eq!(decoded.user_data, full.user_data);
            assert_eq!(decoded.owned_partitions.is_empty(), version < 1);
            assert_eq!(decoded.generation_id, if version >= 2 { 7 } else { -1 });
            assert_eq!(decoded.rack_id.is_some(), version >= 3);
        }
        assert_eq!(Subscription::decode(&full.encode(3)).unwrap(), full);
    }

    #[test]
    fn subscription_v0_bytes_are_kafkas() {
        let s = Subscription {
            topics: vec!["t".into()],
            ..Subscription::default()
        };
        assert_eq!(
            &s.encode(0)[..],
            &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]
        );
    }

    #[test]
    fn assignment_round_trips_and_newer_versions_are_read() {
        let a = Assignment {
            partitions: vec![("t".into(), vec![1, 3]), ("u".into(), vec![0])],
            user_data: None,
        };
        for version in 0..=3 {
            assert_eq!(Assignment::decode(&a.encode(version)).unwrap(), a);
        }
        let mut v9 = a.encode(3).to_vec();
        v9[1] = 9;
        v9.extend_from_slice(b"future fields");
        assert_eq!(Assignment::decode(&v9).unwrap(), a);
        assert_eq!(Assignment::decode(&[]).unwrap(), Assignment::default());
        assert!(Assignment::decode(&a.encode(0)[..5]).is_err());
        assert_eq!(
            group_by_topic(&[("t".into(), 1), ("u".into(), 0), ("t".into(), 3)]),
            a.partitions
        );
    }
}
