//! A follower's connection to one leader: Kafka requests over one TCP stream, one at a time,
//! each answer bounded in size before it is read and in time.

use std::time::Duration;

use bytes::BytesMut;
use kavka_protocol::frame::{frame_size, SIZE_PREFIX_BYTES};
use kavka_protocol::request::{encode_request, Request};
use kavka_protocol::response::{decode_response, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response frame taken from a leader.
const RESPONSE_BYTES_MAX: usize = 128 * 1024 * 1024;
/// The client id of a follower's fetches.
const CLIENT_ID: &str = "kavka-replica-fetcher";

/// One connection to a leader.
#[derive(Debug)]
pub struct Peer {
    /// The leader's address.
    pub address: String,
    stream: TcpStream,
    correlation_id: i32,
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

impl Peer {
    /// Connects to `address` within `timeout`.
    pub async fn connect(address: &str, timeout: Duration) -> std::io::Result<Peer> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        stream.set_nodelay(true)?;
        Ok(Peer {
            address: address.to_string(),
            stream,
            correlation_id: 0,
        })
    }

    /// Sends `request` at `version` and waits up to `timeout` for its answer.
    pub async fn call(
        &mut self,
        version: i16,
        request: &Request,
        timeout: Duration,
    ) -> std::io::Result<Response> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let mut out = BytesMut::new();
        encode_request(&mut out, version, correlation_id, Some(CLIENT_ID), request)
            .map_err(invalid)?;
        let api_key = request.api_key();
        let exchange = async {
            self.stream.write_all(&out).await?;
            let mut prefix = [0u8; SIZE_PREFIX_BYTES];
            self.stream.read_exact(&mut prefix).await?;
            let size = frame_size(prefix, RESPONSE_BYTES_MAX).map_err(invalid)?;
            // Filled as it arrives, never zeroed first (answers run to megabytes).
            let mut frame = BytesMut::with_capacity(size);
            while frame.len() < size {
                let want = (size - frame.len()) as u64;
                if (&mut self.stream).take(want).read_buf(&mut frame).await? == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
            }
            let (id, response) =
                decode_response(api_key, version, frame.freeze()).map_err(invalid)?;
            if id != correlation_id {
                return Err(invalid(format!("answer {id} to request {correlation_id}")));
            }
            Ok(response)
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "leader did not answer")
        })?
    }
}
