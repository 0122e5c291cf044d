//! The controller channel's bytes: what one voter sends another over TCP. No I/O here.
//!
//! A connection opens with a hello frame naming the sender, its cluster and whether it is a
//! voter or an observer, so a node of another cluster (or a stray client) is refused before
//! any Raft message is stepped; on a voter's connection every frame after it is one Raft
//! message in raft-rs's protobuf encoding (an observer's are in [`super::observer_wire`]). A frame is a 4-byte
//! big-endian length then the payload; lengths above [`FRAME_BYTES_MAX`] are refused before
//! anything is allocated.

use raft::eraftpb::Message;

/// The largest frame accepted (a snapshot of a large image travels as one message).
pub const FRAME_BYTES_MAX: usize = 256 * 1024 * 1024;

/// The first bytes of a voter's hello payload.
const HELLO_MAGIC: &[u8; 4] = b"KVQ\x01";
/// The first bytes of an observer's hello payload.
const OBSERVER_HELLO_MAGIC: &[u8; 4] = b"KVO\x01";

/// Whether the first 8 bytes of a connection (a frame header and the start of its payload)
/// open the controller channel: a hello of a voter or of an observer. Anything else on the
/// controller port is taken for the Kafka protocol.
pub fn is_channel_prefix(prefix: &[u8; 8]) -> bool {
    &prefix[4..] == HELLO_MAGIC || &prefix[4..] == OBSERVER_HELLO_MAGIC
}

/// Longest cluster id a hello may carry.
const CLUSTER_ID_BYTES_MAX: usize = 64;

/// What a voter says first on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The sender's Raft id.
    pub from: u64,
    /// The sender's cluster id.
    pub cluster_id: String,
    /// Whether the sender is an observer (a broker-only node pulling the committed log)
    /// rather than a voter sending Raft messages.
    pub observer: bool,
}

/// Bytes that are not the controller channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A frame length above [`FRAME_BYTES_MAX`].
    #[error("frame of {0} bytes is above the {FRAME_BYTES_MAX}-byte limit")]
    TooLarge(usize),
    /// A hello that does not parse.
    #[error("not a controller-channel hello")]
    BadHello,
    /// A frame that is not a Raft message.
    #[error("not a raft message")]
    BadMessage,
}

/// `payload` behind its 4-byte length.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload length a frame header announces, refused above [`FRAME_BYTES_MAX`].
pub fn frame_len(header: [u8; 4]) -> Result<usize, WireError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > FRAME_BYTES_MAX {
        return Err(WireError::TooLarge(len));
    }
    Ok(len)
}

/// A hello payload.
pub fn encode_hello(hello: &Hello) -> Vec<u8> {
    let id = hello.cluster_id.as_bytes();
    let id = &id[..id.len().min(CLUSTER_ID_BYTES_MAX)];
    let mut out = Vec::with_capacity(4 + 8 + 1 + id.len());
    out.extend_from_slice(if hello.observer {
        OBSERVER_HELLO_MAGIC
    } else {
        HELLO_MAGIC
    });
    out.extend_from_slice(&hello.from.to_be_bytes());
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    out
}

/// Parses a hello payload.
pub fn decode_hello(bytes: &[u8]) -> Result<Hello, WireError> {
    let (observer, rest) = match bytes.get(..4) {
        Some(m) if m == HELLO_MAGIC => (false, &bytes[4..]),
        Some(m) if m == OBSERVER_HELLO_MAGIC => (true, &bytes[4..]),
        _ => return Err(WireError::BadHello),
    };
    if rest.len() < 9 {
        return Err(WireError::BadHello);
    }
    let from = u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"));
    let len = rest[8] as usize;
    let id = &rest[9..];
    if id.len() != len || len > CLUSTER_ID_BYTES_MAX {
        return Err(WireError::BadHello);
    }
    let cluster_id = std::str::from_utf8(id).map_err(|_| WireError::BadHello)?;
    Ok(Hello {
        from,
        cluster_id: cluster_id.to_string(),
        observer,
    })
}

/// Encodes a Raft message (protobuf, raft-rs's own encoding).
pub fn encode_message(message: &Message) -> Vec<u8> {
    use protobuf::Message as _;
    message.write_to_bytes().unwrap_or_default()
}

/// Decodes a Raft message.
pub fn decode_message(bytes: &[u8]) -> Result<Message, WireError> {
    use protobuf::Message as _;
    Message::parse_from_bytes(bytes).map_err(|_| WireError::BadMessage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips_and_refuses_other_bytes() {
        let hello = Hello {
            from: 3,
            cluster_id: "MkU3OEVBNTcwNTJENDM2Qk".into(),
            observer: false,
        };
        assert_eq!(decode_hello(&encode_hello(&hello)), Ok(hello.clone()));
        let observer = Hello {
            observer: true,
            ..hello.clone()
        };
        let bytes = encode_hello(&observer);
        assert_eq!(decode_hello(&bytes), Ok(observer));
        let framed = frame(&bytes);
        assert!(is_channel_prefix(framed[..8].try_into().unwrap()));
        assert!(!is_channel_prefix(&[0, 0, 0, 20, 0, 18, 0, 3]));
        let mut bytes = encode_hello(&hello);
        bytes.push(b'x');
        assert_eq!(decode_hello(&bytes), Err(WireError::BadHello));
        assert_eq!(decode_hello(b"\0\0\0\x2a"), Err(WireError::BadHello));
        assert_eq!(decode_hello(b""), Err(WireError::BadHello));
    }

    #[test]
    fn oversized_frames_are_refused_from_the_header() {
        assert_eq!(frame_len(16u32.to_be_bytes()), Ok(16));
        assert_eq!(
            frame_len(u32::MAX.to_be_bytes()),
            Err(WireError::TooLarge(u32::MAX as usize))
        );
        assert_eq!(&frame(b"ab")[..], &[0, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn messages_round_trip() {
        let mut m = Message::default();
        m.set_msg_type(raft::eraftpb::MessageType::MsgHeartbeat);
        m.from = 1;
        m.to = 2;
        m.term = 7;
        m.commit = 41;
        assert_eq!(decode_message(&encode_message(&m)), Ok(m));
        assert!(decode_message(&[0xff, 0xff, 0xff]).is_err());
    }
}
