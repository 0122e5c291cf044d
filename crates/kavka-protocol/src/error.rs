//! Kafka wire error codes: one table, shared by every handler. Internal errors of other crates map
//! onto these at the broker's edge.

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $retriable:literal ;)*) => {
        /// A Kafka protocol error code (the `error_code` field of responses). Variants keep
        /// Kafka's own upper-snake names so that they read exactly as in Kafka's `Errors` enum,
        /// client logs and documentation.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(i16)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name = $code, )*
        }

        impl ErrorCode {
            /// The wire value.
            pub fn code(self) -> i16 {
                self as i16
            }

            /// Whether clients retry on this error.
            pub fn is_retriable(self) -> bool {
                match self { $( ErrorCode::$name => $retriable, )* }
            }

            /// The code for a wire value, if known.
            pub fn from_code(code: i16) -> Option<ErrorCode> {
                match code { $( $code => Some(ErrorCode::$name), )* _ => None }
            }

            /// Kafka's upper-snake name of the error (as tools print it).
            pub fn name(self) -> &'static str {
                match self { $( ErrorCode::$name => stringify!($name), )* }
            }
        }
    };
}

error_codes! {
    /// The server experienced an unexpected error.
    UNKNOWN_SERVER_ERROR = -1, false;
    /// No error.
    NONE = 0, false;
    /// The requested offset is not within the range of offsets maintained by the server.
    OFFSET_OUT_OF_RANGE = 1, false;
    /// The message's CRC or another integrity check failed.
    CORRUPT_MESSAGE = 2, true;
    /// This server does not host this topic-partition.
    UNKNOWN_TOPIC_OR_PARTITION = 3, true;
    /// The requested fetch size is invalid.
    INVALID_FETCH_SIZE = 4, false;
    /// There is no leader for this topic-partition.
    LEADER_NOT_AVAILABLE = 5, true;
    /// This server is not the leader for that topic-partition.
    NOT_LEADER_OR_FOLLOWER = 6, true;
    /// The request timed out.
    REQUEST_TIMED_OUT = 7, true;
    /// The broker is not available.
    BROKER_NOT_AVAILABLE = 8, false;
    /// The replica is not available for the requested topic-partition.
    REPLICA_NOT_AVAILABLE = 9, true;
    /// The request included a message larger than the max message size the server will accept.
    MESSAGE_TOO_LARGE = 10, false;
    /// The controller moved to another broker.
    STALE_CONTROLLER_EPOCH = 11, false;
    /// The metadata field of the offset request was too large.
    OFFSET_METADATA_TOO_LARGE = 12, false;
    /// The server disconnected before a response was received.
    NETWORK_EXCEPTION = 13, true;
    /// The coordinator is loading and hence can't process requests.
    COORDINATOR_LOAD_IN_PROGRESS = 14, true;
    /// The coordinator is not available.
    COORDINATOR_NOT_AVAILABLE = 15, true;
    /// This is not the correct coordinator.
    NOT_COORDINATOR = 16, true;
    /// The request attempted to perform an operation on an invalid topic.
    INVALID_TOPIC_EXCEPTION = 17, false;
    /// The request included a message batch larger than the configured segment size.
    RECORD_LIST_TOO_LARGE = 18, false;
    /// Messages are rejected since there are fewer in-sync replicas than required.
    NOT_ENOUGH_REPLICAS = 19, true;
    /// Messages are written to the log, but to fewer in-sync replicas than required.
    NOT_ENOUGH_REPLICAS_AFTER_APPEND = 20, true;
    /// Produce request specified an invalid value for required acks.
    INVALID_REQUIRED_ACKS = 21, false;
    /// Specified group generation id is not valid.
    ILLEGAL_GENERATION = 22, false;
    /// The group member's supported protocols are incompatible with those of existing members.
    INCONSISTENT_GROUP_PROTOCOL = 23, false;
    /// The configured groupId is invalid.
    INVALID_GROUP_ID = 24, false;
    /// The coordinator is not aware of this member.
    UNKNOWN_MEMBER_ID = 25, false;
    /// The session timeout is not within the range allowed by the broker.
    INVALID_SESSION_TIMEOUT = 26, false;
    /// The group is rebalancing, so a rejoin is needed.
    REBALANCE_IN_PROGRESS = 27, false;
    /// The committing offset data size is not valid.
    INVALID_COMMIT_OFFSET_SIZE = 28, false;
    /// Topic authorization failed.
    TOPIC_AUTHORIZATION_FAILED = 29, false;
    /// Group authorization failed.
    GROUP_AUTHORIZATION_FAILED = 30, false;
    /// Cluster authorization failed.
    CLUSTER_AUTHORIZATION_FAILED = 31, false;
    /// The timestamp of the message is out of acceptable range.
    INVALID_TIMESTAMP = 32, false;
    /// The broker does not support the requested SASL mechanism.
    UNSUPPORTED_SASL_MECHANISM = 33, false;
    /// Request is not valid given the current SASL state.
    ILLEGAL_SASL_STATE = 34, false;
    /// The version of API is not supported.
    UNSUPPORTED_VERSION = 35, false;
    /// Topic with this name already exists.
    TOPIC_ALREADY_EXISTS = 36, false;
    /// Number of partitions is below 1.
    INVALID_PARTITIONS = 37, false;
    /// Replication factor is below 1 or larger than the number of available brokers.
    INVALID_REPLICATION_FACTOR = 38, false;
    /// Replica assignment is invalid.
    INVALID_REPLICA_ASSIGNMENT = 39, false;
    /// Configuration is invalid.
    INVALID_CONFIG = 40, false;
    /// This is not the correct controller for this cluster.
    NOT_CONTROLLER = 41, true;
    /// This most likely occurs because of a request being malformed by the client library.
    INVALID_REQUEST = 42, false;
    /// The message format version on the broker does not support the request.
    UNSUPPORTED_FOR_MESSAGE_FORMAT = 43, false;
    /// Request parameters do not satisfy the configured policy.
    POLICY_VIOLATION = 44, false;
    /// The broker received an out of order sequence number.
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45, false;
    /// The broker received a duplicate sequence number.
    DUPLICATE_SEQUENCE_NUMBER = 46, false;
    /// Producer attempted to produce with an old epoch.
    INVALID_PRODUCER_EPOCH = 47, false;
    /// The producer attempted a transactional operation in an invalid state.
    INVALID_TXN_STATE = 48, false;
    /// The producer attempted to use a producer id which is not currently assigned.
    INVALID_PRODUCER_ID_MAPPING = 49, false;
    /// The transaction timeout is larger than the maximum value allowed by the broker.
    INVALID_TRANSACTION_TIMEOUT = 50, false;
    /// The producer attempted to update a transaction while another concurrent operation was ongoing.
    CONCURRENT_TRANSACTIONS = 51, true;
    /// The transaction coordinator sending a WriteTxnMarker is no longer the current one.
    TRANSACTION_COORDINATOR_FENCED = 52, false;
    /// The disk error when trying to access log file on the disk.
    KAFKA_STORAGE_ERROR = 56, true;
    /// The user-specified log directory is not found in the broker config.
    LOG_DIR_NOT_FOUND = 57, false;
    /// The broker could not locate the producer metadata.
    UNKNOWN_PRODUCER_ID = 59, false;
    /// The leader epoch in the request is older than the epoch on the broker.
    FENCED_LEADER_EPOCH = 74, true;
    /// The leader epoch in the request is newer than the epoch on the broker.
    UNKNOWN_LEADER_EPOCH = 75, true;
    /// The fetch session ID was not found.
    FETCH_SESSION_ID_NOT_FOUND = 70, true;
    /// The fetch session epoch is invalid.
    INVALID_FETCH_SESSION_EPOCH = 71, true;
    /// The group is not empty.
    NON_EMPTY_GROUP = 68, false;
    /// The group id does not exist.
    GROUP_ID_NOT_FOUND = 69, false;
    /// The group member needs a valid member id before actually entering a consumer group.
    MEMBER_ID_REQUIRED = 79, false;
    /// The preferred leader was not available.
    PREFERRED_LEADER_NOT_AVAILABLE = 80, true;
    /// Eligible topic partition leaders are not available.
    ELIGIBLE_LEADERS_NOT_AVAILABLE = 83, true;
    /// Leader election not needed for topic partition.
    ELECTION_NOT_NEEDED = 84, true;
    /// No partition reassignment is in progress.
    NO_REASSIGNMENT_IN_PROGRESS = 85, false;
    /// The consumer group has reached its max size.
    GROUP_MAX_SIZE_REACHED = 81, false;
    /// The broker rejected this static consumer since another consumer with the same group.instance.id has registered.
    FENCED_INSTANCE_ID = 82, false;
    /// There is a newer producer with the same transactionalId which fences the current one.
    PRODUCER_FENCED = 90, false;
    /// Requested position is not greater than or equal to zero, and less than the size of the partition.
    OFFSET_NOT_AVAILABLE = 78, true;
    /// The record batch or record is invalid.
    INVALID_RECORD = 87, false;
    /// The consumer's committed offsets of a partition are held by an open transaction.
    UNSTABLE_OFFSET_COMMIT = 88, true;
    /// Another request of the batch failed, so this one was not attempted.
    OPERATION_NOT_ATTEMPTED = 55, false;
    /// The transactional id does not exist.
    TRANSACTIONAL_ID_NOT_FOUND = 105, false;
    /// Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.
    GROUP_SUBSCRIBED_TO_TOPIC = 86, false;
    /// The throttling quota has been exceeded.
    THROTTLING_QUOTA_EXCEEDED = 89, true;
    /// This server does not host this topic ID.
    UNKNOWN_TOPIC_ID = 100, true;
    /// The topic has a different topic ID than the one given.
    INCONSISTENT_TOPIC_ID = 103, true;
    /// Unable to update finalized features.
    FEATURE_UPDATE_FAILED = 96, false;
    /// This endpoint type is not supported yet.
    UNSUPPORTED_ENDPOINT_TYPE = 115, false;
    /// The given broker ID was not registered.
    BROKER_ID_NOT_REGISTERED = 102, false;
    /// Broker epoch has changed.
    STALE_BROKER_EPOCH = 77, false;
    /// The clusterId in the request does not match that found on the server.
    INCONSISTENT_CLUSTER_ID = 104, false;
    /// The given version update is not valid (an AlterPartition against an old partition
    /// epoch).
    INVALID_UPDATE_VERSION = 95, false;
    /// The new ISR contains at least one ineligible replica.
    INELIGIBLE_REPLICA = 107, false;
    /// The fetch session encountered inconsistent topic ID usage (an incremental fetch whose
    /// version does not use topic ids the way the request that created its session did).
    FETCH_SESSION_TOPIC_ID_ERROR = 106, true;
    /// The AlterPartition request successfully updated the partition state but the leader
    /// has changed.
    NEW_LEADER_ELECTED = 108, false;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_round_trip() {
        for code in -1..=120 {
            if let Some(e) = ErrorCode::from_code(code) {
                assert_eq!(e.code(), code);
            }
        }
        assert_eq!(ErrorCode::UNSUPPORTED_VERSION.code(), 35);
        assert_eq!(ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR.code(), 106);
        assert_eq!(ErrorCode::NEW_LEADER_ELECTED.code(), 108);
        assert_eq!(
            ErrorCode::from_code(3),
            Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
        );
    }
}
