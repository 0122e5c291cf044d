//! kavka-protocol: the Kafka wire protocol, without any I/O.
//!
//! Place in the crate graph: the bottom layer. It depends only on the generated `proto-kafka`
//! codec (wrapped here so that it can be swapped), `bytes` and the compression crates. Everything
//! above (storage, metadata, broker, client) speaks the protocol through this crate.
//!
//! - [`frame`]: the 4-byte size prefix and its limit, checked before any allocation.
//! - [`request`] / [`response`]: request header + body decoding into [`request::Request`],
//!   response encoding with the right header version (ApiVersions' v0 header quirk included).
//! - [`error`]: the table of Kafka wire error codes.
//! - [`batch`]: the zero-copy v2 record-batch header view the broker validates and stores.
//! - [`records`] / [`compression`]: record-level reading and batch building (off the hot path).

pub mod batch;
pub mod compression;
pub mod records;
