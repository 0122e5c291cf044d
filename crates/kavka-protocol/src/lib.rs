//! kavka-protocol: the Kafka wire protocol, without any I/O.
//!
//! Place in the crate graph: the bottom layer. It depends only on the generated `proto-kafka`
//! codec (wrapped here so that it can be swapped: no other crate names it), `bytes` and the
//! compression crates. Everything above (storage, metadata, broker, client) speaks the protocol
//! through this crate.
//!
//! - [`frame`]: the 4-byte size prefix and its limit, checked before any allocation.
//! - [`request`] / [`response`]: request header + body decoding into [`request::Request`],
//!   response encoding with the right header version (ApiVersions' v0 header quirk included).
//! - [`api`]: the list of served APIs and the codec's version ranges.
//! - [`error`]: the table of Kafka wire error codes.
//! - [`batch`]: the zero-copy v2 record-batch header view the broker validates and stores.
//! - [`records`] / [`compression`]: record-level reading and batch building (off the hot path).

pub mod api;
pub mod batch;
pub mod compression;
pub mod error;
pub mod fetch_zero_copy;
pub mod frame;
pub mod recompress;
pub mod records;
pub mod request;
pub mod response;

/// The generated request and response types (Kafka 4.1 message specs).
pub mod messages {
    pub use proto_kafka::messages::*;
}

/// Codec traits and primitive types of the generated messages.
pub mod codec {
    pub use proto_kafka::indexmap;
    pub use proto_kafka::protocol::{
        Decodable, Encodable, HeaderVersion, Message, Request as RequestMessage, StrBytes,
        VersionRange,
    };
    pub use proto_kafka::ProtoError as CodecError;
}

pub use error::ErrorCode;
