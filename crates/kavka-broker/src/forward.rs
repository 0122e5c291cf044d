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

use crate::controller::Refusal;

/// Largest response frame taken from the controller.
const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;
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
