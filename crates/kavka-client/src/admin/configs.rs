//! DescribeConfigs and IncrementalAlterConfigs of topics and brokers.

use kavka_protocol::api::ApiKey;
use kavka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kavka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kavka_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};
use kavka_protocol::request::Request;

use super::Admin;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::str_bytes;

/// Resource type of topics on the wire.
const RESOURCE_TOPIC: i8 = 2;
/// Resource type of brokers on the wire.
const RESOURCE_BROKER: i8 = 4;

/// What a config belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// A broker by node id (`"0"`), or `""` for the cluster-wide default of every broker.
    Broker(String),
}

impl ConfigResource {
    fn wire(&self) -> (i8, &str) {
        match self {
            ConfigResource::Topic(name) => (RESOURCE_TOPIC, name),
            ConfigResource::Broker(id) => (RESOURCE_BROKER, id),
        }
    }

    /// The broker that must answer: a broker resource names one; else any.
    fn node(&self) -> Option<i32> {
        match self {
            ConfigResource::Broker(id) => id.parse().ok(),
            ConfigResource::Topic(_) => None,
        }
    }
}

/// Where a config value comes from (Kafka's `ConfigSource` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum ConfigSource {
    /// Source unknown (or a future one).
    UNKNOWN,
    /// Set on the topic.
    DYNAMIC_TOPIC_CONFIG,
    /// Set dynamically on this broker.
    DYNAMIC_BROKER_CONFIG,
    /// Set dynamically as every broker's default.
    DYNAMIC_DEFAULT_BROKER_CONFIG,
    /// From the broker's properties file.
    STATIC_BROKER_CONFIG,
    /// Kafka's default.
    DEFAULT_CONFIG,
    /// A broker logger level.
    DYNAMIC_BROKER_LOGGER_CONFIG,
    /// A client-metrics resource's config.
    CLIENT_METRICS_CONFIG,
    /// A group's config.
    GROUP_CONFIG,
}

impl ConfigSource {
    /// The source of a wire value.
    pub fn from_code(code: i8) -> ConfigSource {
        match code {
            1 => ConfigSource::DYNAMIC_TOPIC_CONFIG,
            2 => ConfigSource::DYNAMIC_BROKER_CONFIG,
            3 => ConfigSource::DYNAMIC_DEFAULT_BROKER_CONFIG,
            4 => ConfigSource::STATIC_BROKER_CONFIG,
            5 => ConfigSource::DEFAULT_CONFIG,
            6 => ConfigSource::DYNAMIC_BROKER_LOGGER_CONFIG,
            7 => ConfigSource::CLIENT_METRICS_CONFIG,
            8 => ConfigSource::GROUP_CONFIG,
            _ => ConfigSource::UNKNOWN,
        }
    }
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// One config of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Config name.
    pub name: String,
    /// Value (`None` for a sensitive or unset value).
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether it cannot be changed dynamically.
    pub read_only: bool,
    /// Whether the value is hidden.
    pub sensitive: bool,
    /// The layers that set it, most specific first (name, value, source), when asked for.
    pub synonyms: Vec<(String, Option<String>, ConfigSource)>,
}

/// How [`AlterConfigOp`] changes a config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterOpType {
    /// Sets the value.
    Set,
    /// Removes the value (back to the next layer).
    Delete,
    /// Adds to a list value.
    Append,
    /// Removes from a list value.
    Subtract,
}

impl AlterOpType {
    fn code(self) -> i8 {
        match self {
            AlterOpType::Set => 0,
            AlterOpType::Delete => 1,
            AlterOpType::Append => 2,
            AlterOpType::Subtract => 3,
        }
    }
}

/// One change of an IncrementalAlterConfigs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    /// Config name.
    pub name: String,
    /// Value (`None` for `Delete`).
    pub value: Option<String>,
    /// Operation.
    pub op: AlterOpType,
}

impl Admin {
    /// The configs of a resource (every config; with their synonyms when asked).
    pub async fn describe_configs(
        &self,
        resource: &ConfigResource,
        include_synonyms: bool,
    ) -> Result<Vec<ConfigEntry>, ClientError> {
        let (resource_type, resource_name) = resource.wire();
        let build = |_| {
            Request::DescribeConfigs(
                DescribeConfigsRequest::default()
                    .with_resources(vec![DescribeConfigsResource::default()
                        .with_resource_type(resource_type)
                        .with_resource_name(str_bytes(resource_name))
                        .with_configuration_keys(None)])
                    .with_include_synonyms(include_synonyms),
            )
        };
        let (_, response) = match resource.node() {
            Some(node) => {
                self.client
                    .request(node, kavka_protocol::api::ApiKey::DescribeConfigs, build)
                    .await?
            }
            None => {
                self.client
                    .request_any(ApiKey::DescribeConfigs, build)
                    .await?
            }
        };
        let r = expect_response!(response, DescribeConfigs)?;
        let result = r
            .results
            .first()
            .ok_or_else(|| ClientError::Codec("DescribeConfigs answered no resource".into()))?;
        KafkaError::check(result.error_code, result.error_message.as_deref())?;
        Ok(result
            .configs
            .iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                source: ConfigSource::from_code(c.config_source),
                read_only: c.read_only,
                sensitive: c.is_sensitive,
                synonyms: c
                    .synonyms
                    .iter()
                    .map(|s| {
                        (
                            s.name.to_string(),
                            s.value.as_ref().map(|v| v.to_string()),
                            ConfigSource::from_code(s.source),
                        )
                    })
                    .collect(),
            })
            .collect())
    }

    /// Applies `ops` to a resource's configs, all or none.
    pub async fn incremental_alter_configs(
        &self,
        resource: &ConfigResource,
        ops: &[AlterConfigOp],
    ) -> Result<(), ClientError> {
        let (resource_type, resource_name) = resource.wire();
        let configs: Vec<AlterableConfig> = ops
            .iter()
            .map(|o| {
                AlterableConfig::default()
                    .with_name(str_bytes(&o.name))
                    .with_config_operation(o.op.code())
                    .with_value(o.value.as_deref().map(str_bytes))
            })
            .collect();
        let build = |_| {
            Request::IncrementalAlterConfigs(
                IncrementalAlterConfigsRequest::default().with_resources(vec![
                    AlterConfigsResource::default()
                        .with_resource_type(resource_type)
                        .with_resource_name(str_bytes(resource_name))
                        .with_configs(configs.clone()),
                ]),
            )
        };
        let (_, response) = match resource.node() {
            Some(node) => {
                self.client
                    .request(node, ApiKey::IncrementalAlterConfigs, build)
                    .await?
            }
            None => {
                self.client
                    .request_any(ApiKey::IncrementalAlterConfigs, build)
                    .await?
            }
        };
        let r = expect_response!(response, IncrementalAlterConfigs)?;
        if let ConfigResource::Topic(name) = resource {
            self.client.invalidate_topic(name);
        }
        let result = r.responses.first().ok_or_else(|| {
            ClientError::Codec("IncrementalAlterConfigs answered no resource".into())
        })?;
        Ok(KafkaError::check(
            result.error_code,
            result.error_message.as_deref(),
        )?)
    }
}
