//! Finding a group's coordinator (FindCoordinator, cached per group) and retrying a group
//! request while the coordinator moves or loads.

use std::future::Future;
use std::time::{Duration, Instant};

use kavka_protocol::api::ApiKey;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::FindCoordinatorRequest;
use kavka_protocol::request::Request;
use kavka_protocol::ErrorCode;

use crate::client::{Client, RETRY_BACKOFF_MS};
use crate::cluster::BrokerInfo;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};

/// FindCoordinator key type of groups.
const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator key type of transactional ids.
const KEY_TYPE_TRANSACTION: i8 = 1;

impl Client {
    /// The node id of `group_id`'s coordinator (cached; FindCoordinator otherwise, retried
    /// while the coordinator is not available, up to `request_timeout_ms`).
    pub async fn coordinator(&self, group_id: &str) -> Result<BrokerInfo, ClientError> {
        let node = self.coordinator_id(group_id).await?;
        self.broker(node).ok_or_else(|| {
            KafkaError::new(
                ErrorCode::COORDINATOR_NOT_AVAILABLE,
                format!("coordinator {node} is not in the metadata"),
            )
            .into()
        })
    }

    pub(crate) async fn coordinator_id(&self, group_id: &str) -> Result<i32, ClientError> {
        if let Some(node) = self.cached_coordinator(group_id) {
            return Ok(node);
        }
        let deadline = Instant::now() + self.request_timeout();
        loop {
            match self.find_coordinator(group_id).await {
                Ok(broker) => {
                    let node = broker.node_id;
                    self.learn_broker(broker);
                    self.set_coordinator(group_id, Some(node));
                    return Ok(node);
                }
                Err(e) if e.is_coordinator_error() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The node id of `transactional_id`'s transaction coordinator (FindCoordinator with key
    /// type 1, retried while the coordinator is not available, up to `request_timeout_ms`).
    pub async fn transaction_coordinator(
        &self,
        transactional_id: &str,
    ) -> Result<i32, ClientError> {
        let deadline = Instant::now() + self.request_timeout();
        loop {
            match self
                .find_coordinator_of(transactional_id, KEY_TYPE_TRANSACTION)
                .await
            {
                Ok(broker) => {
                    let node = broker.node_id;
                    self.learn_broker(broker);
                    return Ok(node);
                }
                Err(e) if e.is_coordinator_error() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn find_coordinator(&self, group_id: &str) -> Result<BrokerInfo, ClientError> {
        self.find_coordinator_of(group_id, KEY_TYPE_GROUP).await
    }

    async fn find_coordinator_of(
        &self,
        key: &str,
        key_type: i8,
    ) -> Result<BrokerInfo, ClientError> {
        let key = StrBytes::from_string(key.to_string());
        let (version, response) = self
            .request_any(ApiKey::FindCoordinator, |v| {
                let r = FindCoordinatorRequest::default();
                let r = if v >= 4 {
                    r.with_coordinator_keys(vec![key.clone()])
                } else {
                    r.with_key(key.clone())
                };
                Request::FindCoordinator(if v >= 1 { r.with_key_type(key_type) } else { r })
            })
            .await?;
        let r = expect_response!(response, FindCoordinator)?;
        if version >= 4 {
            let c = r.coordinators.first().ok_or_else(|| {
                ClientError::Codec("FindCoordinator answered no coordinator".into())
            })?;
            KafkaError::check(c.error_code, c.error_message.as_deref())?;
            Ok(BrokerInfo {
                node_id: c.node_id.0,
                host: c.host.to_string(),
                port: c.port,
                rack: None,
            })
        } else {
            KafkaError::check(r.error_code, r.error_message.as_deref())?;
            Ok(BrokerInfo {
                node_id: r.node_id.0,
                host: r.host.to_string(),
                port: r.port,
                rack: None,
            })
        }
    }

    /// Runs `op` against `group_id`'s coordinator; when it fails because the coordinator
    /// moved, is loading or cannot be reached, finds the coordinator again and retries, up to
    /// `request_timeout_ms`.
    pub(crate) async fn with_coordinator<T, F, Fut>(
        &self,
        group_id: &str,
        mut op: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(i32) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let deadline = Instant::now() + self.request_timeout();
        loop {
            let node = self.coordinator_id(group_id).await?;
            match op(node).await {
                Err(e) if e.is_coordinator_error() && Instant::now() < deadline => {
                    if e.kafka_code() != Some(ErrorCode::COORDINATOR_LOAD_IN_PROGRESS) {
                        self.set_coordinator(group_id, None);
                    }
                    tokio::time::sleep(Duration::from_millis(RETRY_BACKOFF_MS)).await;
                }
                r => return r,
            }
        }
    }
}
