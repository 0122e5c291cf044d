//! Forwarding to the active controller, as a Kafka broker of a KRaft cluster does: a node that
//! does not lead the metadata quorum passes the controller's requests on to the node that does.
//!
//! - Client requests of the controller APIs ([`is_controller_api`]: CreateTopics,
//!   DeleteTopics, CreatePartitions, AlterConfigs, IncrementalAlterConfigs, DescribeQuorum,
//!   UnregisterBroker, BrokerRegistration, BrokerHeartbeat, AlterPartition, ElectLeaders) are relayed byte for byte
//!   ([`relay`]): the same frame to the leader's client listener, its response frame back
//!   unchanged (same correlation id and version), so the client cannot tell.
//! - Decisions a node makes for itself (auto-creating a topic, a coordinator's internal topic,
//!   a producer id) become ordinary requests to the leader ([`call`]).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::BytesMut;
use kavka_protocol::api::ApiKey;
use kavka_protocol::frame::{frame_size, SIZE_PREFIX_BYTES};
use kavka_protocol::request::{encode_request, Request};
use kavka_protocol::response::{decode_response, Response};
use kavka_protocol::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::broker::{Broker, ControllerTarget};
use crate::controller::Refusal;

/// Largest response frame taken from the controller.
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;
/// How long a request forwarded to the controller may take, retries included.
const FORWARD_TIMEOUT_MS: u64 = 30_000;
/// How long a request waits while no leader of the metadata quorum is known.
const LEADER_WAIT_MAX_MS: u64 = 5_000;
/// Pause before a forwarded request is tried again (no leader known, or the last one failed).
const FORWARD_RETRY_MS: u64 = 100;
/// Connect timeout to the controller.
const CONNECT_TIMEOUT_MS: u64 = 2_000;
/// The client id of requests a node sends for itself.
const CLIENT_ID: &str = "kavka-broker-forwarding";

/// The APIs only the active controller answers.
pub fn is_controller_api(api_key: ApiKey) -> bool {
    matches!(
        api_key,
        ApiKey::CreateTopics
            | ApiKey::DeleteTopics
            | ApiKey::CreatePartitions
            | ApiKey::AlterConfigs
            | ApiKey::IncrementalAlterConfigs
            | ApiKey::DescribeQuorum
            | ApiKey::UnregisterBroker
            | ApiKey::BrokerRegistration
            | ApiKey::BrokerHeartbeat
            | ApiKey::AlterPartition
            | ApiKey::ElectLeaders
            | ApiKey::AlterPartitionReassignments
            | ApiKey::ListPartitionReassignments
    )
}

/// The active controller's response to a controller request (`frame`, without its size
/// prefix) when another node leads the metadata quorum, relayed unchanged; `None` to answer
/// here: this node leads, it is not a controller API, no leader was known for
/// [`LEADER_WAIT_MAX_MS`], or no controller answered within [`FORWARD_TIMEOUT_MS`] (the
/// handler then answers NOT_CONTROLLER and the client retries).
///
/// As Kafka's broker-to-controller channel does, a request waits while no leader is known (an
/// election, or a node just started that has not heard from the leader) and is sent again to
/// the next leader when the one asked fails or is replaced before answering.
pub async fn to_controller(broker: &Broker, api_key: ApiKey, frame: &[u8]) -> Option<Vec<u8>> {
    if !is_controller_api(api_key) {
        return None;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_millis(FORWARD_TIMEOUT_MS);
    let retry = Duration::from_millis(FORWARD_RETRY_MS);
    let mut leaderless_since = None;
    loop {
        let address = match broker.controller_target() {
            ControllerTarget::Here => return None,
            ControllerTarget::At(address) => address,
            ControllerTarget::Unknown => {
                // An election ends within a few election timeouts; a node cut off from the
                // quorum knows no leader for good, and its client hears so soon.
                let since = *leaderless_since.get_or_insert_with(tokio::time::Instant::now);
                let now = tokio::time::Instant::now();
                if now + retry >= deadline
                    || now.duration_since(since) >= Duration::from_millis(LEADER_WAIT_MAX_MS)
                {
                    return None;
                }
                tokio::time::sleep(retry).await;
                continue;
            }
        };
        leaderless_since = None;
        // A leader that stops answering (stopped, cut off) is replaced within an election
        // timeout: the request goes to its successor then.
        let deposed = async {
            loop {
                tokio::time::sleep(retry).await;
                if broker.controller_target() != ControllerTarget::At(address.clone()) {
                    return;
                }
            }
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::select! {
            relayed = relay(&address, frame, left) => match relayed {
                Ok(response) => return Some(response),
                Err(e) => tracing::warn!(api = ?api_key, controller = %address, error = %e, "request not forwarded to the controller"),
            },
            () = deposed => tracing::info!(api = ?api_key, controller = %address, "the controller changed while a forwarded request waited"),
        }
        if tokio::time::Instant::now() + retry >= deadline {
            return None;
        }
        tokio::time::sleep(retry).await;
    }
}

/// Sends the request `frame` (without its size prefix) to `address` and returns the response
/// frame (without its size prefix), within `timeout`.
pub async fn relay(address: &str, frame: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        stream
            .write_all(&(frame.len() as u32).to_be_bytes())
            .await?;
        stream.write_all(frame).await?;
        let mut prefix = [0u8; SIZE_PREFIX_BYTES];
        stream.read_exact(&mut prefix).await?;
        let size = frame_size(prefix, RESPONSE_BYTES_MAX)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let mut response = vec![0u8; size];
        stream.read_exact(&mut response).await?;
        Ok(response)
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "controller did not answer")
    })?
}

/// Sends `request` at `version` to `address` and waits for its response (blocking: handlers
/// run on blocking threads). Failures are COORDINATOR-style retriable refusals.
pub fn call(
    address: &str,
    version: i16,
    request: &Request,
    timeout: Duration,
) -> Result<Response, Refusal> {
    let unavailable = |what: &str, e: &dyn std::fmt::Display| {
        (
            ErrorCode::NOT_CONTROLLER,
            format!("the active controller at {address} could not be asked ({what}: {e})"),
        )
    };
    let api_key: ApiKey = request.api_key();
    let mut out = BytesMut::new();
    encode_request(&mut out, version, 1, Some(CLIENT_ID), request)
        .map_err(|e| unavailable("encode", &e))?;
    let addr = address
        .to_socket_addrs()
        .map_err(|e| unavailable("resolve", &e))?
        .next()
        .ok_or_else(|| unavailable("resolve", &"no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(CONNECT_TIMEOUT_MS))
        .map_err(|e| unavailable("connect", &e))?;
    let io = |e: std::io::Error| unavailable("exchange", &e);
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let _ = stream.set_nodelay(true);
    stream.write_all(&out).map_err(io)?;
    let mut prefix = [0u8; SIZE_PREFIX_BYTES];
    stream.read_exact(&mut prefix).map_err(io)?;
    let size = frame_size(prefix, RESPONSE_BYTES_MAX).map_err(|e| unavailable("frame", &e))?;
    let mut frame = BytesMut::zeroed(size);
    stream.read_exact(&mut frame).map_err(io)?;
    let (_, response) =
        decode_response(api_key, version, frame.freeze()).map_err(|e| unavailable("decode", &e))?;
    Ok(response)
}
