//! Response encoding: size prefix, response header (v0, or v1 with tagged fields for flexible
//! versions; ApiVersions always v0), body.

use bytes::{BufMut, Bytes, BytesMut};

use crate::api::{for_each_served_api, ApiKey};
use crate::codec::{CodecError, Decodable, Encodable, HeaderVersion};
use crate::frame::SIZE_PREFIX_BYTES;
use crate::messages::*;

macro_rules! define_response {
    ($( ($variant:ident, $req:ident, $resp:ident) ),* $(,)?) => {
        /// A response body of an API Kavka serves.
        #[derive(Debug, Clone)]
        pub enum Response {
            $( #[doc = stringify!($resp)] $variant($resp), )*
        }

        impl Response {
            /// The API of this response.
            pub fn api_key(&self) -> ApiKey {
                match self { $( Response::$variant(_) => ApiKey::$variant, )* }
            }

            fn header_version(&self, version: i16) -> i16 {
                match self { $( Response::$variant(_) => <$resp as HeaderVersion>::header_version(version), )* }
            }

            fn encode_body(&self, out: &mut BytesMut, version: i16) -> Result<(), CodecError> {
                match self { $( Response::$variant(r) => r.encode(out, version), )* }
            }
        }

        fn decode_body(api_key: ApiKey, version: i16, buf: &mut Bytes) -> Result<Response, CodecError> {
            match api_key {
                $( ApiKey::$variant => $resp::decode(buf, version).map(Response::$variant), )*
                _ => Err(CodecError::UnknownApiKey),
            }
        }

        fn response_header_version(api_key: ApiKey, version: i16) -> i16 {
            match api_key {
                $( ApiKey::$variant => <$resp as HeaderVersion>::header_version(version), )*
                _ => 0,
            }
        }
    };
}

for_each_served_api!(define_response);

/// Appends a whole response frame (size prefix, header, body) to `out`.
pub fn encode_response(
    out: &mut BytesMut,
    correlation_id: i32,
    api_version: i16,
    response: &Response,
) -> Result<(), CodecError> {
    let start = out.len();
    out.put_i32(0);
    out.put_i32(correlation_id);
    if response.header_version(api_version) >= 1 {
        out.put_u8(0); // no tagged fields
    }
    if let Err(e) = response.encode_body(out, api_version) {
        out.truncate(start);
        return Err(e);
    }
    let size = (out.len() - start - SIZE_PREFIX_BYTES) as i32;
    out[start..start + SIZE_PREFIX_BYTES].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// Decodes a response frame (the bytes after the size prefix) of a request sent with
/// `api_key`/`api_version`. Returns the correlation id and the body.
pub fn decode_response(
    api_key: ApiKey,
    api_version: i16,
    mut frame: Bytes,
) -> Result<(i32, Response), CodecError> {
    let header = crate::messages::ResponseHeader::decode(
        &mut frame,
        response_header_version(api_key, api_version),
    )?;
    let body = decode_body(api_key, api_version, &mut frame)?;
    Ok((header.correlation_id, body))
}
