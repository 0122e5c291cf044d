//! Errors: [`KafkaError`], a wire error code named as Kafka names it, and [`ClientError`], every
//! way a client call can fail.

use kavka_protocol::ErrorCode;
use thiserror::Error;

/// A Kafka protocol error returned by a broker: the code and the broker's message, if any.
///
/// Displays as Kafka's tools print it: `TOPIC_ALREADY_EXISTS: Topic 'a' already exists.`, with
/// Kafka's default text for the code when the broker sent no message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    /// The error code (an unknown wire code becomes `UNKNOWN_SERVER_ERROR`, the raw code kept in
    /// the message).
    pub code: ErrorCode,
    /// The broker's message, when it sent one.
    pub message: Option<String>,
}

impl KafkaError {
    /// An error with a message of our own.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> KafkaError {
        KafkaError {
            code,
            message: Some(message.into()),
        }
    }

    /// The error for a wire code and optional message; `None` for code 0 (no error).
    pub fn from_wire(code: i16, message: Option<&str>) -> Option<KafkaError> {
        if code == 0 {
            return None;
        }
        let message = message.filter(|m| !m.is_empty()).map(str::to_string);
        Some(match ErrorCode::from_code(code) {
            Some(code) => KafkaError { code, message },
            None => KafkaError {
                code: ErrorCode::UNKNOWN_SERVER_ERROR,
                message: Some(match message {
                    Some(m) => format!("error code {code}: {m}"),
                    None => format!("error code {code} (unknown to this client)"),
                }),
            },
        })
    }

    /// `Err` for a non-zero wire code.
    pub fn check(code: i16, message: Option<&str>) -> Result<(), KafkaError> {
        match KafkaError::from_wire(code, message) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Whether a client may retry the operation (Kafka's `RetriableException`s).
    pub fn is_retriable(&self) -> bool {
        self.code.is_retriable()
    }

    /// The broker's message, or Kafka's default text for the code.
    pub fn text(&self) -> &str {
        self.message
            .as_deref()
            .unwrap_or_else(|| default_message(self.code))
    }
}

impl std::fmt::Display for KafkaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.text())
    }
}

impl std::error::Error for KafkaError {}

/// Why a client call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The broker answered with a Kafka error.
    #[error("{0}")]
    Kafka(KafkaError),
    /// The socket failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// No answer in time (the text says what was awaited).
    #[error("timed out: {0}")]
    Timeout(String),
    /// A request did not encode or a response did not decode.
    #[error("protocol: {0}")]
    Codec(String),
    /// A configuration value is missing or invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// No bootstrap server could be reached.
    #[error("{0}")]
    Unreachable(String),
    /// The broker supports no version of an API that this client can speak.
    #[error("unsupported version: {0}")]
    UnsupportedVersion(String),
    /// The call does not fit the object's state (not subscribed, partition not assigned,
    /// producer closed...).
    #[error("{0}")]
    State(String),
    /// `auto.offset.reset` is `none` and a partition has no committed offset (Kafka's
    /// `NoOffsetForPartitionException`).
    #[error("no committed offset for partition {topic}-{partition} and auto.offset.reset is none")]
    NoOffset {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
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

impl From<KafkaError> for ClientError {
    fn from(e: KafkaError) -> ClientError {
        ClientError::Kafka(e)
    }
}

impl ClientError {
    /// The Kafka error code, when the broker answered with one.
    pub fn kafka_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Kafka(e) => Some(e.code),
            _ => None,
        }
    }

    /// Whether retrying (after a metadata refresh) may succeed: retriable Kafka errors and
    /// connection failures.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka(e) => e.is_retriable(),
            ClientError::Io(_) | ClientError::Timeout(_) => true,
            _ => false,
        }
    }

    /// Whether the group coordinator moved or is not ready: find it again and retry.
    pub(crate) fn is_coordinator_error(&self) -> bool {
        matches!(
            self.kafka_code(),
            Some(
                ErrorCode::NOT_COORDINATOR
                    | ErrorCode::COORDINATOR_NOT_AVAILABLE
                    | ErrorCode::COORDINATOR_LOAD_IN_PROGRESS
            )
        ) || matches!(self, ClientError::Io(_))
    }

    /// A copy for each of many waiters (an I/O error keeps its kind and text).
    pub(crate) fn duplicate(&self) -> ClientError {
        match self {
            ClientError::Kafka(e) => ClientError::Kafka(e.clone()),
            ClientError::Io(e) => ClientError::Io(std::io::Error::new(e.kind(), e.to_string())),
            ClientError::Timeout(s) => ClientError::Timeout(s.clone()),
            ClientError::Codec(s) => ClientError::Codec(s.clone()),
            ClientError::Config(s) => ClientError::Config(s.clone()),
            ClientError::Unreachable(s) => ClientError::Unreachable(s.clone()),
            ClientError::UnsupportedVersion(s) => ClientError::UnsupportedVersion(s.clone()),
            ClientError::State(s) => ClientError::State(s.clone()),
            ClientError::NoOffset { topic, partition } => ClientError::NoOffset {
                topic: topic.clone(),
                partition: *partition,
            },
            ClientError::Correlation { expected, got } => ClientError::Correlation {
                expected: *expected,
                got: *got,
            },
            ClientError::Frame(e) => ClientError::Codec(e.to_string()),
        }
    }
}

/// Kafka's default text for an error code (`Errors.java`).
pub fn default_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::UNKNOWN_SERVER_ERROR => "The server experienced an unexpected error.",
        ErrorCode::TRANSACTION_COORDINATOR_FENCED => "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.",
        ErrorCode::UNSTABLE_OFFSET_COMMIT => "There are unstable offsets that need to be cleared.",
        ErrorCode::OPERATION_NOT_ATTEMPTED => "The broker did not attempt to execute this operation. This may happen for batched RPCs where some operations in the batch failed, causing the broker to respond without trying the rest.",
        ErrorCode::TRANSACTIONAL_ID_NOT_FOUND => "The transactionalId could not be found.",
        ErrorCode::NONE => "No error.",
        ErrorCode::OFFSET_OUT_OF_RANGE => "The requested offset is not within the range of offsets maintained by the server.",
        ErrorCode::CORRUPT_MESSAGE => "The message's CRC or another integrity check failed.",
        ErrorCode::UNKNOWN_TOPIC_OR_PARTITION => "This server does not host this topic-partition.",
        ErrorCode::INVALID_FETCH_SIZE => "The requested fetch size is invalid.",
        ErrorCode::LEADER_NOT_AVAILABLE => "There is no leader for this topic-partition.",
        ErrorCode::NOT_LEADER_OR_FOLLOWER => "This server is not the leader for that topic-partition.",
        ErrorCode::REQUEST_TIMED_OUT => "The request timed out.",
        ErrorCode::BROKER_NOT_AVAILABLE => "The broker is not available.",
        ErrorCode::REPLICA_NOT_AVAILABLE => "The replica is not available for the requested topic-partition.",
        ErrorCode::MESSAGE_TOO_LARGE => "The request included a message larger than the max message size the server will accept.",
        ErrorCode::STALE_CONTROLLER_EPOCH => "The controller moved to another broker.",
        ErrorCode::OFFSET_METADATA_TOO_LARGE => "The metadata field of the offset request was too large.",
        ErrorCode::NETWORK_EXCEPTION => "The server disconnected before a response was received.",
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS => "The coordinator is loading and hence can't process requests.",
        ErrorCode::COORDINATOR_NOT_AVAILABLE => "The coordinator is not available.",
        ErrorCode::NOT_COORDINATOR => "This is not the correct coordinator.",
        ErrorCode::INVALID_TOPIC_EXCEPTION => "The request attempted to perform an operation on an invalid topic.",
        ErrorCode::RECORD_LIST_TOO_LARGE => "The request included a message batch larger than the configured segment size.",
        ErrorCode::NOT_ENOUGH_REPLICAS => "Messages are rejected since there are fewer in-sync replicas than required.",
        ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND => "Messages are written to the log, but to fewer in-sync replicas than required.",
        ErrorCode::INVALID_REQUIRED_ACKS => "Produce request specified an invalid value for required acks.",
        ErrorCode::ILLEGAL_GENERATION => "Specified group generation id is not valid.",
        ErrorCode::INCONSISTENT_GROUP_PROTOCOL => "The group member's supported protocols are incompatible with those of existing members.",
        ErrorCode::INVALID_GROUP_ID => "The configured groupId is invalid.",
        ErrorCode::UNKNOWN_MEMBER_ID => "The coordinator is not aware of this member.",
        ErrorCode::INVALID_SESSION_TIMEOUT => "The session timeout is not within the range allowed by the broker.",
        ErrorCode::REBALANCE_IN_PROGRESS => "The group is rebalancing, so a rejoin is needed.",
        ErrorCode::INVALID_COMMIT_OFFSET_SIZE => "The committing offset data size is not valid.",
        ErrorCode::TOPIC_AUTHORIZATION_FAILED => "Topic authorization failed.",
        ErrorCode::GROUP_AUTHORIZATION_FAILED => "Group authorization failed.",
        ErrorCode::CLUSTER_AUTHORIZATION_FAILED => "Cluster authorization failed.",
        ErrorCode::INVALID_TIMESTAMP => "The timestamp of the message is out of acceptable range.",
        ErrorCode::UNSUPPORTED_SASL_MECHANISM => "The broker does not support the requested SASL mechanism.",
        ErrorCode::ILLEGAL_SASL_STATE => "Request is not valid given the current SASL state.",
        ErrorCode::UNSUPPORTED_VERSION => "The version of API is not supported.",
        ErrorCode::TOPIC_ALREADY_EXISTS => "Topic with this name already exists.",
        ErrorCode::INVALID_PARTITIONS => "Number of partitions is below 1.",
        ErrorCode::INVALID_REPLICATION_FACTOR => "Replication factor is below 1 or larger than the number of available brokers.",
        ErrorCode::INVALID_REPLICA_ASSIGNMENT => "Replica assignment is invalid.",
        ErrorCode::INVALID_CONFIG => "Configuration is invalid.",
        ErrorCode::NOT_CONTROLLER => "This is not the correct controller for this cluster.",
        ErrorCode::INVALID_REQUEST => "This most likely occurs because of a request being malformed by the client library.",
        ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT => "The message format version on the broker does not support the request.",
        ErrorCode::POLICY_VIOLATION => "Request parameters do not satisfy the configured policy.",
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER => "The broker received an out of order sequence number.",
        ErrorCode::DUPLICATE_SEQUENCE_NUMBER => "The broker received a duplicate sequence number.",
        ErrorCode::INVALID_PRODUCER_EPOCH => "Producer attempted to produce with an old epoch.",
        ErrorCode::INVALID_TXN_STATE => "The producer attempted a transactional operation in an invalid state.",
        ErrorCode::INVALID_PRODUCER_ID_MAPPING => "The producer attempted to use a producer id which is not currently assigned.",
        ErrorCode::INVALID_TRANSACTION_TIMEOUT => "The transaction timeout is larger than the maximum value allowed by the broker.",
        ErrorCode::CONCURRENT_TRANSACTIONS => "The producer attempted to update a transaction while another concurrent operation was ongoing.",
        ErrorCode::KAFKA_STORAGE_ERROR => "The disk error when trying to access log file on the disk.",
        ErrorCode::LOG_DIR_NOT_FOUND => "The user-specified log directory is not found in the broker config.",
        ErrorCode::UNKNOWN_PRODUCER_ID => "The broker could not locate the producer metadata.",
        ErrorCode::FENCED_LEADER_EPOCH => "The leader epoch in the request is older than the epoch on the broker.",
        ErrorCode::UNKNOWN_LEADER_EPOCH => "The leader epoch in the request is newer than the epoch on the broker.",
        ErrorCode::FETCH_SESSION_ID_NOT_FOUND => "The fetch session ID was not found.",
        ErrorCode::INVALID_FETCH_SESSION_EPOCH => "The fetch session epoch is invalid.",
        ErrorCode::NON_EMPTY_GROUP => "The group is not empty.",
        ErrorCode::GROUP_ID_NOT_FOUND => "The group id does not exist.",
        ErrorCode::MEMBER_ID_REQUIRED => "The group member needs a valid member id before actually entering a consumer group.",
        ErrorCode::PREFERRED_LEADER_NOT_AVAILABLE => "The preferred leader was not available.",
        ErrorCode::ELIGIBLE_LEADERS_NOT_AVAILABLE => "Eligible topic partition leaders are not available.",
        ErrorCode::NO_REASSIGNMENT_IN_PROGRESS => "No partition reassignment is in progress.",
        ErrorCode::ELECTION_NOT_NEEDED => "Leader election not needed for topic partition.",
        ErrorCode::GROUP_MAX_SIZE_REACHED => "The consumer group has reached its max size.",
        ErrorCode::FENCED_INSTANCE_ID => "The broker rejected this static consumer since another consumer with the same group.instance.id has registered.",
        ErrorCode::PRODUCER_FENCED => "There is a newer producer with the same transactionalId which fences the current one.",
        ErrorCode::OFFSET_NOT_AVAILABLE => "Requested position is not greater than or equal to zero, and less than the size of the partition.",
        ErrorCode::INVALID_RECORD => "The record batch or record is invalid.",
        ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC => "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.",
        ErrorCode::THROTTLING_QUOTA_EXCEEDED => "The throttling quota has been exceeded.",
        ErrorCode::UNKNOWN_TOPIC_ID => "This server does not host this topic ID.",
        ErrorCode::INCONSISTENT_TOPIC_ID => "The topic has a different topic ID than the one given.",
        ErrorCode::FEATURE_UPDATE_FAILED => "Unable to update finalized features.",
        ErrorCode::UNSUPPORTED_ENDPOINT_TYPE => "This endpoint type is not supported yet.",
        ErrorCode::BROKER_ID_NOT_REGISTERED => "The given broker ID was not registered.",
        ErrorCode::STALE_BROKER_EPOCH => "Broker epoch has changed.",
        ErrorCode::INCONSISTENT_CLUSTER_ID => "The clusterId in the request does not match that found on the server.",
        ErrorCode::INVALID_UPDATE_VERSION => "The given update version was invalid.",
        ErrorCode::INELIGIBLE_REPLICA => "The new ISR contains at least one ineligible replica.",
        ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR => "The fetch session encountered inconsistent topic ID usage",
        ErrorCode::NEW_LEADER_ELECTED => "The AlterPartition request successfully updated the partition state but the leader has changed.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_kafka_error() {
        let e = KafkaError::from_wire(36, Some("Topic 'a' already exists.")).unwrap();
        assert_eq!(
            e.to_string(),
            "TOPIC_ALREADY_EXISTS: Topic 'a' already exists."
        );
        let e = KafkaError::from_wire(3, None).unwrap();
        assert_eq!(
            ClientError::Kafka(e).to_string(),
            "UNKNOWN_TOPIC_OR_PARTITION: This server does not host this topic-partition."
        );
        assert!(KafkaError::from_wire(0, Some("x")).is_none());
        let unknown = KafkaError::from_wire(9999, None).unwrap();
        assert_eq!(unknown.code, ErrorCode::UNKNOWN_SERVER_ERROR);
        assert!(unknown.to_string().contains("9999"));
    }
}
