//! One client connection: read a frame (size checked before any allocation), decode, hand it to
//! the router, write the response. Requests on one connection are answered in order, one at a
//! time, as Kafka does. Any protocol violation closes this connection only.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use kavka_protocol::api::ApiKey;
use kavka_protocol::frame::{frame_size, SIZE_PREFIX_BYTES};
use kavka_protocol::request::{decode_request, peek_header};
use kavka_protocol::response::encode_response;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::broker::Broker;
use crate::forward;
use crate::handlers::{self, api_versions, fetch, Outcome, RequestContext};
use kavka_protocol::fetch_zero_copy::{self, Piece};
use kavka_protocol::response::Response;
use tokio::io::Interest;

/// How long a request waits for this broker to catch up with the metadata quorum before its
/// connection is closed (Kafka's broker accepts no connection before then).
const CATCH_UP_WAIT_MAX_MS: u64 = 30_000;
/// Read buffer capacity kept between requests.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// A Fetch response with at most this many record bytes is copied into one write; a larger
/// one is sent from the files (`sendfile`).
const FETCH_COPY_BYTES_MAX: usize = 64 * 1024;
/// Largest request frame of any API but Produce. The generated decoder reserves memory per
/// array element announced, and an element can cost a hundred bytes of memory for two bytes of
/// input; real clients' non-produce requests stay far below this.
pub const NON_PRODUCE_REQUEST_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Serves a connection that came through listener `listener` until the peer closes it or
/// breaks the protocol.
pub async fn serve(
    broker: Arc<Broker>,
    mut stream: TcpStream,
    peer: SocketAddr,
    listener: Arc<str>,
) {
    let frame_bytes_max = broker.config().socket_request_max_bytes;
    let idle = std::time::Duration::from_millis(broker.config().connections_max_idle_ms);
    let mut read_buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let mut write_buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    let _counted = broker.metrics().map(|m| m.connection_opened(&listener));
    loop {
        let frame = match read_frame(&mut stream, &mut read_buf, frame_bytes_max, idle).await {
            Ok(frame) => frame,
            Err(FrameEnd::Closed) => return,
            Err(FrameEnd::Refused(why)) => {
                tracing::warn!(%peer, "closing connection: {why}");
                return;
            }
            Err(FrameEnd::Failed(e)) => {
                tracing::debug!(%peer, error = %e, "connection read failed");
                return;
            }
            Err(FrameEnd::Idle) => {
                tracing::debug!(%peer, "closing idle connection (connections.max.idle.ms)");
                return;
            }
        };

        let peek = match peek_header(&frame) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad request header");
                return;
            }
        };
        let Ok(api_key) = ApiKey::try_from(peek.api_key) else {
            tracing::warn!(%peer, api_key = peek.api_key, "closing connection: unknown api key");
            return;
        };
        // The request's total time runs from here to its response written.
        let arrived = std::time::Instant::now();
        let answered = || {
            if let Some(m) = broker.metrics() {
                m.request_done(api_key, peek.api_version, arrived);
            }
        };
        write_buf.clear();
        if api_key == ApiKey::ApiVersions && peek.api_version > api_versions::VERSION_MAX {
            // KIP-511: answer a too-new ApiVersions with a v0 response carrying
            // UNSUPPORTED_VERSION and our ranges, so the client can retry with a version we know.
            let response = api_versions::unsupported_version_response();
            encode_response(&mut write_buf, peek.correlation_id, 0, &response)
                .expect("ApiVersions v0 encodes");
        } else {
            if !handlers::serves(api_key, peek.api_version) {
                tracing::warn!(%peer, api = ?api_key, version = peek.api_version, "closing connection: api version not served");
                return;
            }
            if forward::is_controller_api(api_key) {
                // Checked here: a request the controller cannot read must not be retried
                // against it until the forwarding deadline.
                if let Err(e) = decode_request(frame.clone()) {
                    tracing::warn!(%peer, error = %e, "closing connection: undecodable request");
                    return;
                }
            } else if waits_for_metadata(api_key) {
                let max = std::time::Duration::from_millis(CATCH_UP_WAIT_MAX_MS);
                if !broker.wait_caught_up(max).await {
                    tracing::info!(%peer, api = ?api_key, "closing connection: this broker has not caught up with the metadata quorum");
                    return;
                }
            }
            if let Some(response) = forward::to_controller(&broker, api_key, &frame).await {
                write_buf.extend_from_slice(&(response.len() as u32).to_be_bytes());
                write_buf.extend_from_slice(&response);
                if let Err(e) = stream.write_all(&write_buf).await {
                    tracing::debug!(%peer, error = %e, "connection write failed");
                    return;
                }
                answered();
                continue;
            }
            let (header, request) = match decode_request(frame) {
                Ok(decoded) => decoded,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "closing connection: undecodable request");
                    return;
                }
            };
            let ctx = RequestContext {
                broker: &broker,
                header: &header,
                peer,
                listener: &listener,
            };
            let response = match handlers::handle(&ctx, request).await {
                Outcome::Respond(response) => response,
                Outcome::RespondFetch(mut response, reads) => {
                    let sent = send_fetch(
                        &mut stream,
                        header.correlation_id,
                        header.api_version,
                        &response,
                        &reads,
                        &mut write_buf,
                    )
                    .await;
                    match sent {
                        Ok(true) => {
                            answered();
                            continue;
                        }
                        Ok(false) => {
                            fetch::read_into(&mut response, reads);
                            Response::Fetch(response)
                        }
                        Err(e) => {
                            tracing::debug!(%peer, error = %e, "closing connection: fetch response not sent");
                            return;
                        }
                    }
                }
                Outcome::Silent => {
                    answered();
                    continue;
                }
                Outcome::Close(why) => {
                    tracing::info!(%peer, reason = why, "closing connection");
                    return;
                }
            };
            if let Err(e) = encode_response(
                &mut write_buf,
                header.correlation_id,
                header.api_version,
                &response,
            ) {
                tracing::error!(%peer, api = ?api_key, error = %e, "closing connection: response does not encode");
                return;
            }
        }
        if let Err(e) = stream.write_all(&write_buf).await {
            tracing::debug!(%peer, error = %e, "connection write failed");
            return;
        }
        answered();
        // Large requests or responses must not pin large buffers to an idle connection.
        if write_buf.capacity() > 16 * READ_BUFFER_BYTES {
            write_buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
        }
    }
}

/// Whether answering `api_key` needs this broker's image caught up with the metadata quorum:
/// everything a client asks but ApiVersions, the controller's APIs (answered by the active
/// controller) and the replication reads (Fetch, OffsetForLeaderEpoch: a broker not caught up
/// leads nothing and says so).
fn waits_for_metadata(api_key: ApiKey) -> bool {
    !matches!(
        api_key,
        ApiKey::ApiVersions | ApiKey::Fetch | ApiKey::OffsetForLeaderEpoch
    )
}

/// Why no frame was read.
enum FrameEnd {
    /// The peer closed the connection between frames.
    Closed,
    /// The peer sent nothing for `connections.max.idle.ms`.
    Idle,
    /// The frame breaks a limit (why).
    Refused(String),
    /// Reading failed, or the peer closed mid-frame.
    Failed(std::io::Error),
}

/// Reads into `buf` what the socket has (up to its spare capacity); false at end of stream.
async fn fill(stream: &mut TcpStream, buf: &mut BytesMut) -> std::io::Result<bool> {
    if buf.capacity() == buf.len() {
        buf.reserve(READ_BUFFER_BYTES);
    }
    Ok(stream.read_buf(buf).await? > 0)
}

/// The next request frame (without its size prefix). Reads are buffered: one read takes
/// whatever the socket holds, so a frame and the next one's start usually cost one syscall.
/// The size is checked before the buffer grows for it (`socket.request.max.bytes`, and
/// [`NON_PRODUCE_REQUEST_BYTES_MAX`] for any API but Produce).
async fn read_frame(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    frame_bytes_max: usize,
    idle: std::time::Duration,
) -> Result<bytes::Bytes, FrameEnd> {
    if buf.is_empty() && buf.capacity() > 16 * READ_BUFFER_BYTES {
        // A large request must not pin a large buffer to an idle connection.
        *buf = BytesMut::with_capacity(READ_BUFFER_BYTES);
    }
    while buf.len() < SIZE_PREFIX_BYTES {
        match tokio::time::timeout(idle, fill(stream, buf)).await {
            Ok(Ok(true)) => {}
            Ok(Ok(false)) if buf.is_empty() => return Err(FrameEnd::Closed),
            Ok(Ok(false)) => {
                return Err(FrameEnd::Failed(std::io::ErrorKind::UnexpectedEof.into()))
            }
            Ok(Err(e)) => return Err(FrameEnd::Failed(e)),
            Err(_) => return Err(FrameEnd::Idle),
        }
    }
    let prefix: [u8; SIZE_PREFIX_BYTES] = buf[..SIZE_PREFIX_BYTES].try_into().expect("4 bytes");
    let size = frame_size(prefix, frame_bytes_max)
        .map_err(|e| FrameEnd::Refused(format!("request frame refused: {e}")))?;
    if size > NON_PRODUCE_REQUEST_BYTES_MAX {
        // Look at the api key before sizing the buffer for the frame.
        while buf.len() < SIZE_PREFIX_BYTES + 2 {
            if !fill(stream, buf).await.map_err(FrameEnd::Failed)? {
                return Err(FrameEnd::Failed(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
        let key = i16::from_be_bytes([buf[SIZE_PREFIX_BYTES], buf[SIZE_PREFIX_BYTES + 1]]);
        if key != ApiKey::Produce as i16 {
            return Err(FrameEnd::Refused(format!(
                "request of {size} bytes (api key {key}) is larger than {NON_PRODUCE_REQUEST_BYTES_MAX} bytes and not a Produce"
            )));
        }
    }
    let total = SIZE_PREFIX_BYTES + size;
    if buf.capacity() < total {
        buf.reserve(total - buf.len());
    }
    while buf.len() < total {
        if !fill(stream, buf).await.map_err(FrameEnd::Failed)? {
            return Err(FrameEnd::Failed(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    let _ = buf.split_to(SIZE_PREFIX_BYTES);
    Ok(buf.split_to(size).freeze())
}

/// Writes a Fetch response whose records come from the segment files. A response of at most
/// [`FETCH_COPY_BYTES_MAX`] record bytes is read into one buffer and written with one write
/// (one segment on the wire: for small responses the syscalls and packets of a piecewise send
/// cost more than the copy); a larger one is sent in pieces, the stored bytes with `sendfile`
/// from the page cache to the socket without passing through this process, under `TCP_CORK`
/// so that the pieces still leave in full segments. `Ok(false)` when the response uses fields
/// the piecewise encoder does not write (nothing was sent; the caller encodes it the ordinary
/// way).
async fn send_fetch(
    stream: &mut TcpStream,
    correlation_id: i32,
    version: i16,
    response: &kavka_protocol::messages::FetchResponse,
    reads: &fetch::FetchReads,
    buf: &mut BytesMut,
) -> std::io::Result<bool> {
    let Some(pieces) = fetch_zero_copy::encode(correlation_id, version, response, |t, p| {
        reads
            .get(t)
            .and_then(|r| r.get(p))
            .and_then(Option::as_ref)
            .map(|(_, plan)| (&plan.slice, plan.len()))
    }) else {
        return Ok(false);
    };
    let records: usize = pieces
        .iter()
        .map(|p| match p {
            Piece::Records(_, len) => *len,
            Piece::Bytes(_) => 0,
        })
        .sum();
    if records <= FETCH_COPY_BYTES_MAX {
        buf.clear();
        for piece in &pieces {
            match piece {
                Piece::Bytes(bytes) => buf.extend_from_slice(bytes),
                Piece::Records(slice, _) => slice.read_into(buf)?,
            }
        }
        stream.write_all(buf).await?;
        return Ok(true);
    }
    // Cork failures only cost segments: the response is sent either way.
    let _ = rustix::net::sockopt::set_tcp_cork(&*stream, true);
    let sent = send_pieces(stream, pieces).await;
    let _ = rustix::net::sockopt::set_tcp_cork(&*stream, false);
    sent.map(|()| true)
}

async fn send_pieces(
    stream: &mut TcpStream,
    pieces: Vec<Piece<&kavka_storage::ReadSlice>>,
) -> std::io::Result<()> {
    for piece in pieces {
        match piece {
            Piece::Bytes(bytes) => stream.write_all(&bytes).await?,
            Piece::Records(slice, len) => {
                let Some(file) = slice.file.as_ref() else {
                    return Err(std::io::Error::other("planned read without a file"));
                };
                send_file(stream, file, slice.position, len).await?;
            }
        }
    }
    Ok(())
}

/// `sendfile` of `len` bytes at `position` of `file` to the socket, waiting while it is full.
async fn send_file(
    stream: &TcpStream,
    file: &std::fs::File,
    mut position: u64,
    mut len: usize,
) -> std::io::Result<()> {
    while len > 0 {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(stream, file, Some(&mut position), len)
                .map_err(std::io::Error::from)
        });
        match sent {
            // The file is shorter than planned: the frame cannot be completed.
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => len -= n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
