//! One TCP connection to a broker: typed requests in, typed responses out, one at a time (a
//! Kafka broker serves a connection's requests in order, one at a time), and the API versions
//! negotiated on it with ApiVersions.

use bytes::BytesMut;
use kavka_protocol::api::{codec_versions, ApiKey};
use kavka_protocol::codec::StrBytes;
use kavka_protocol::frame::{frame_size, SIZE_PREFIX_BYTES};
use kavka_protocol::messages::ApiVersionsRequest;
use kavka_protocol::request::{encode_request, Request};
use kavka_protocol::response::{decode_response, Response};
use kavka_protocol::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::error::{ClientError, KafkaError};

/// Largest response frame accepted.
pub const RESPONSE_BYTES_MAX: usize = 512 * 1024 * 1024;

/// Software name sent in ApiVersions v3+ (KIP-511).
const CLIENT_SOFTWARE_NAME: &str = "kavka-client";

/// The range of versions a broker serves for one API, as ApiVersions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionRange {
    /// API key.
    pub api_key: i16,
    /// Kafka's name of the API (`Produce`, `Fetch`...), `Unknown(<key>)` for keys unknown to
    /// this client.
    pub name: String,
    /// Lowest version served.
    pub min: i16,
    /// Highest version served.
    pub max: i16,
}

impl ApiVersionRange {
    /// The version this client uses for this API against this broker: the highest version both
    /// the broker and the codec support; `None` when the ranges do not meet (or the API is
    /// unknown to the codec).
    pub fn usable(&self) -> Option<i16> {
        let api = ApiKey::try_from(self.api_key).ok()?;
        let (codec_min, codec_max) = codec_versions(api);
        let version = self.max.min(codec_max);
        (version >= self.min.max(codec_min)).then_some(version)
    }
}

/// Kafka's name of an API key.
pub fn api_name(api_key: i16) -> String {
    match ApiKey::try_from(api_key) {
        Ok(api) => format!("{api:?}"),
        Err(()) => format!("Unknown({api_key})"),
    }
}

/// Picks, per API, the highest version both the broker (its ranges) and the codec support.
pub(crate) fn choose_version(broker: &[ApiVersionRange], api: ApiKey) -> Result<i16, ClientError> {
    let range = broker
        .iter()
        .find(|r| r.api_key == api as i16)
        .ok_or_else(|| {
            ClientError::UnsupportedVersion(format!("the broker does not serve {api:?}"))
        })?;
    range.usable().ok_or_else(|| {
        let (min, max) = codec_versions(api);
        ClientError::UnsupportedVersion(format!(
            "the broker serves {api:?} v{}-{}, this client speaks v{min}-{max}",
            range.min, range.max
        ))
    })
}

/// One connection to a broker; requests are sent and answered one at a time.
#[derive(Debug)]
pub struct Connection {
    /// The socket.
    stream: TcpStream,
    /// Next correlation id.
    next_correlation_id: i32,
    /// `client.id` sent in headers.
    client_id: String,
    /// Reused encode buffer.
    out: BytesMut,
    /// The broker's API version ranges, once [`Connection::negotiate`] ran.
    versions: Vec<ApiVersionRange>,
}

impl Connection {
    /// Connects to `addr` (no version negotiation: see [`Connection::negotiate`]).
    pub async fn connect(
        addr: impl ToSocketAddrs,
        client_id: &str,
    ) -> Result<Connection, ClientError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            next_correlation_id: 1,
            client_id: client_id.to_string(),
            out: BytesMut::new(),
            versions: Vec::new(),
        })
    }

    async fn write(&mut self, version: i16, request: &Request) -> Result<i32, ClientError> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = self.next_correlation_id.wrapping_add(1);
        self.out.clear();
        encode_request(
            &mut self.out,
            version,
            correlation_id,
            Some(&self.client_id),
            request,
        )
        .map_err(|e| ClientError::Codec(format!("{:?} v{version}: {e}", request.api_key())))?;
        self.stream.write_all(&self.out).await?;
        Ok(correlation_id)
    }

    /// Sends a request and waits for its response.
    pub async fn send(&mut self, version: i16, request: Request) -> Result<Response, ClientError> {
        let api_key: ApiKey = request.api_key();
        let correlation_id = self.write(version, &request).await?;
        let mut prefix = [0u8; SIZE_PREFIX_BYTES];
        self.stream.read_exact(&mut prefix).await?;
        let size = frame_size(prefix, RESPONSE_BYTES_MAX)?;
        let mut frame = BytesMut::zeroed(size);
        self.stream.read_exact(&mut frame).await?;
        // ApiVersions answers a too-new version with a v0 body.
        let (got, response) = match decode_response(api_key, version, frame.clone().freeze()) {
            Ok(r) => r,
            Err(_) if api_key == ApiKey::ApiVersions => decode_response(api_key, 0, frame.freeze())
                .map_err(|e| ClientError::Codec(e.to_string()))?,
            Err(e) => {
                return Err(ClientError::Codec(format!(
                    "{api_key:?} v{version} response: {e}"
                )))
            }
        };
        if got != correlation_id {
            return Err(ClientError::Correlation {
                expected: correlation_id,
                got,
            });
        }
        Ok(response)
    }

    /// Sends a request that gets no response (acks=0 produce).
    pub async fn send_only(&mut self, version: i16, request: Request) -> Result<(), ClientError> {
        self.write(version, &request).await.map(|_| ())
    }

    /// The raw socket, for tests that write bytes of their own.
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// Asks the broker for its API version ranges (ApiVersions at the highest version the codec
    /// knows, then, if the broker refuses it with UNSUPPORTED_VERSION, at the highest version
    /// the broker names), keeps them for [`Connection::version`] and returns them.
    pub async fn negotiate(&mut self) -> Result<Vec<ApiVersionRange>, ClientError> {
        let (_, mut version) = codec_versions(ApiKey::ApiVersions);
        for _ in 0..2 {
            let request = ApiVersionsRequest::default()
                .with_client_software_name(StrBytes::from_static_str(CLIENT_SOFTWARE_NAME))
                .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
            let response = match self.send(version, Request::ApiVersions(request)).await? {
                Response::ApiVersions(r) => r,
                other => return Err(unexpected(ApiKey::ApiVersions, &other)),
            };
            let ranges: Vec<ApiVersionRange> = response
                .api_keys
                .iter()
                .map(|k| ApiVersionRange {
                    api_key: k.api_key,
                    name: api_name(k.api_key),
                    min: k.min_version,
                    max: k.max_version,
                })
                .collect();
            if response.error_code == ErrorCode::UNSUPPORTED_VERSION.code() {
                let theirs = ranges
                    .iter()
                    .find(|r| r.api_key == ApiKey::ApiVersions as i16);
                if let Some(r) = theirs.filter(|r| r.max < version) {
                    version = r.max;
                    continue;
                }
            }
            KafkaError::check(response.error_code, None)?;
            self.versions = ranges.clone();
            return Ok(ranges);
        }
        Err(ClientError::UnsupportedVersion(
            "the broker refused every ApiVersions version".into(),
        ))
    }

    /// The broker's API version ranges learnt by [`Connection::negotiate`] (empty before).
    pub fn versions(&self) -> &[ApiVersionRange] {
        &self.versions
    }

    /// The version to use for `api` on this connection (after [`Connection::negotiate`]).
    pub fn version(&self, api: ApiKey) -> Result<i16, ClientError> {
        choose_version(&self.versions, api)
    }
}

/// The error for a response of another API than the request's.
pub(crate) fn unexpected(api: ApiKey, got: &Response) -> ClientError {
    ClientError::Codec(format!(
        "expected a {api:?} response, got {:?}",
        got.api_key()
    ))
}

/// Unwraps a [`Response`] variant, or a codec error naming both APIs.
macro_rules! expect_response {
    ($response:expr, $variant:ident) => {
        match $response {
            kavka_protocol::response::Response::$variant(r) => Ok(r),
            other => Err($crate::connection::unexpected(
                kavka_protocol::api::ApiKey::$variant,
                &other,
            )),
        }
    };
}
pub(crate) use expect_response;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_common_version_is_chosen() {
        let broker = vec![ApiVersionRange {
            api_key: ApiKey::Metadata as i16,
            name: api_name(3),
            min: 0,
            max: 99,
        }];
        let (_, codec_max) = codec_versions(ApiKey::Metadata);
        assert_eq!(
            choose_version(&broker, ApiKey::Metadata).unwrap(),
            codec_max
        );
        assert_eq!(broker[0].name, "Metadata");
        assert!(choose_version(&broker, ApiKey::Produce).is_err());
        let old = vec![ApiVersionRange {
            api_key: ApiKey::Produce as i16,
            name: api_name(0),
            min: 0,
            max: 2,
        }];
        assert!(matches!(
            choose_version(&old, ApiKey::Produce),
            Err(ClientError::UnsupportedVersion(_))
        ));
        assert_eq!(api_name(999), "Unknown(999)");
    }
}
