//! Request decoding: header, then the body of the APIs Kavka serves.
//!
//! [`peek_header`] reads api key, version and correlation id from fixed positions without
//! decoding anything (used to answer unsupported versions and to route); [`decode_request`]
//! decodes the header and the body. Both return errors for hostile input, never panic.

use bytes::{BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::api::{for_each_served_api, ApiKey};
use crate::codec::{CodecError, Decodable, Encodable, HeaderVersion, StrBytes};
use crate::frame::SIZE_PREFIX_BYTES;
use crate::messages::*;

/// Fields of the request header every version has, at fixed positions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPeek {
    /// API key.
    pub api_key: i16,
    /// API version.
    pub api_version: i16,
    /// Correlation id, echoed in the response.
    pub correlation_id: i32,
}

/// Why a request could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// Fewer bytes than the fixed header fields.
    #[error("request frame of {0} bytes is too short for a header")]
    Truncated(usize),
    /// An API key the protocol does not define.
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    /// An API the protocol defines but Kavka does not serve.
    #[error("api {0:?} is not served")]
    NotServed(ApiKey),
    /// A version outside the codec's range for the API.
    #[error("unsupported version {version} of api {api_key:?}")]
    UnsupportedVersion {
        /// API.
        api_key: ApiKey,
        /// Requested version.
        version: i16,
    },
    /// The bytes do not decode.
    #[error("malformed {api_key:?} v{version} request: {reason}")]
    Malformed {
        /// API.
        api_key: ApiKey,
        /// Version.
        version: i16,
        /// Decoder message.
        reason: String,
    },
}

/// Reads api key, version and correlation id (the first 8 bytes of every request header).
pub fn peek_header(frame: &[u8]) -> Result<HeaderPeek, DecodeError> {
    if frame.len() < 8 {
        return Err(DecodeError::Truncated(frame.len()));
    }
    Ok(HeaderPeek {
        api_key: i16::from_be_bytes([frame[0], frame[1]]),
        api_version: i16::from_be_bytes([frame[2], frame[3]]),
        correlation_id: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
    })
}

/// The decoded request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    /// API.
    pub api_key: ApiKey,
    /// Version.
    pub api_version: i16,
    /// Correlation id.
    pub correlation_id: i32,
    /// Client id, when sent.
    pub client_id: Option<String>,
}

macro_rules! define_request {
    ($( ($variant:ident, $req:ident, $resp:ident) ),* $(,)?) => {
        /// A decoded request body of an API Kavka serves.
        #[derive(Debug, Clone)]
        pub enum Request {
            $( #[doc = stringify!($req)] $variant($req), )*
        }

        impl Request {
            /// The API of this request.
            pub fn api_key(&self) -> ApiKey {
                match self { $( Request::$variant(_) => ApiKey::$variant, )* }
            }

            fn encode_body(&self, out: &mut BytesMut, version: i16) -> Result<(), crate::codec::CodecError> {
                match self { $( Request::$variant(r) => r.encode(out, version), )* }
            }
        }

        fn decode_body(api_key: ApiKey, version: i16, buf: &mut Bytes) -> Result<Request, DecodeError> {
            let malformed = |e: crate::codec::CodecError| DecodeError::Malformed {
                api_key,
                version,
                reason: e.to_string(),
            };
            match api_key {
                $( ApiKey::$variant => $req::decode(buf, version).map(Request::$variant).map_err(malformed), )*
                other => Err(DecodeError::NotServed(other)),
            }
        }

        fn request_header_version(api_key: ApiKey, version: i16) -> Option<i16> {
            match api_key {
                $( ApiKey::$variant => Some(<$req as HeaderVersion>::header_version(version)), )*
                _ => None,
            }
        }
    };
}

for_each_served_api!(define_request);

/// Decodes header and body of a request frame (the bytes after the size prefix). `frame` is
/// consumed; byte fields of the body (produce records) stay zero-copy slices of it.
pub fn decode_request(mut frame: Bytes) -> Result<(RequestHeader, Request), DecodeError> {
    let peek = peek_header(&frame)?;
    let api_key =
        ApiKey::try_from(peek.api_key).map_err(|()| DecodeError::UnknownApiKey(peek.api_key))?;
    let range = api_key.valid_versions();
    if peek.api_version < range.min || peek.api_version > range.max {
        return Err(DecodeError::UnsupportedVersion {
            api_key,
            version: peek.api_version,
        });
    }
    let header_version =
        request_header_version(api_key, peek.api_version).ok_or(DecodeError::NotServed(api_key))?;
    let header =
        crate::messages::RequestHeader::decode(&mut frame, header_version).map_err(|e| {
            DecodeError::Malformed {
                api_key,
                version: peek.api_version,
                reason: e.to_string(),
            }
        })?;
    let body = decode_body(api_key, peek.api_version, &mut frame)?;
    Ok((
        RequestHeader {
            api_key,
            api_version: peek.api_version,
            correlation_id: header.correlation_id,
            client_id: header.client_id.map(|s| s.to_string()),
        },
        body,
    ))
}

/// Appends a whole request frame (size prefix, header, body) to `out`.
pub fn encode_request(
    out: &mut BytesMut,
    api_version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    request: &Request,
) -> Result<(), CodecError> {
    let api_key = request.api_key();
    let header_version = request_header_version(api_key, api_version).unwrap_or(1);
    let header = crate::messages::RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(api_version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(|c| StrBytes::from_string(c.to_string())));
    let start = out.len();
    out.put_i32(0);
    let result = header
        .encode(out, header_version)
        .and_then(|()| request.encode_body(out, api_version));
    if let Err(e) = result {
        out.truncate(start);
        return Err(e);
    }
    let size = (out.len() - start - SIZE_PREFIX_BYTES) as i32;
    out[start..start + SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Ok(())
}
