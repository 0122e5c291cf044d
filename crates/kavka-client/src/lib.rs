//! kavka-client: a Rust client of the Kafka protocol, speaking through kavka-protocol.
//!
//! Place in the crate graph: above kavka-protocol only; it never touches the broker's crates.
//! So far it offers a [`Connection`] that sends typed requests and returns typed responses
//! (used by the raw protocol and crash tests); the producer, consumer and admin layers of the
//! CLI stage build on it.

use bytes::BytesMut;
use kavka_protocol::api::ApiKey;
use kavka_protocol::frame::{frame_size, SIZE_PREFIX_BYTES};
use kavka_protocol::request::{encode_request, Request};
use kavka_protocol::response::{decode_response, Response};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

/// Largest response frame accepted.
pub const RESPONSE_BYTES_MAX: usize = 512 * 1024 * 1024;

/// A client failure.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The socket failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// A request did not encode or a response did not decode.
    #[error("protocol: {0}")]
    Codec(String),
    /// The response answers another request.
    #[error("response correlation id {got} does not match request {expected}")]
    Correlation {
        /// Sent.
        expected: i32,
        /// Received.
        got: i32,
    },
    /// The response frame is refused.
    #[error("response frame: {0}")]
    Frame(#[from] kavka_protocol::frame::FrameError),
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
}

impl Connection {
    /// Connects to `addr`.
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
        .map_err(|e| ClientError::Codec(e.to_string()))?;
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
            Err(e) => return Err(ClientError::Codec(e.to_string())),
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
}
