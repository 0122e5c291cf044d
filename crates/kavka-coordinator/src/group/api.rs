//! Requests and answers of the coordinator's operations, free of any wire version: the broker's
//! handlers translate each API version to and from these.

use bytes::Bytes;
use kavka_protocol::ErrorCode;

/// A JoinGroup request.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Group id.
    pub group_id: String,
    /// Member id; empty for a member joining for the first time.
    pub member_id: String,
    /// Static membership id (KIP-345).
    pub group_instance_id: Option<String>,
    /// How long the member may go without a heartbeat.
    pub session_timeout_ms: i32,
    /// How long the group waits for the member to rejoin in a rebalance.
    pub rebalance_timeout_ms: i32,
    /// "consumer", "connect", ...
    pub protocol_type: String,
    /// Protocols the member supports (name, metadata), most preferred first.
    pub protocols: Vec<(String, Bytes)>,
    /// Client id of the request header.
    pub client_id: String,
    /// Address the member connected from.
    pub client_host: String,
    /// v4+: an unknown member first gets MEMBER_ID_REQUIRED and its id (KIP-394).
    pub require_known_member_id: bool,
    /// v9+: a static leader rejoining a stable group may be told to skip the assignment.
    pub supports_skip_assignment: bool,
}

/// A member as the leader sees it in a JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    /// Error, NONE on success.
    pub error: ErrorCode,
    /// Generation the member joined.
    pub generation_id: i32,
    /// Protocol type of the group.
    pub protocol_type: Option<String>,
    /// The protocol chosen for this generation.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// The leader keeps the current assignment (static leader rejoin, v9+).
    pub skip_assignment: bool,
    /// The member's id (assigned by the coordinator for new members).
    pub member_id: String,
    /// Every member, for the leader only.
    pub members: Vec<JoinMember>,
}

impl JoinResponse {
    /// An error answer naming the member id the client should use.
    pub fn error(error: ErrorCode, member_id: &str) -> JoinResponse {
        JoinResponse {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    /// Group id.
    pub group_id: String,
    /// Generation the member joined.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// v5+: protocol type the member expects.
    pub protocol_type: Option<String>,
    /// v5+: protocol name the member expects.
    pub protocol_name: Option<String>,
    /// The leader's assignment (member id, assignment); empty for followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    /// Error, NONE on success.
    pub error: ErrorCode,
    /// Protocol type of the group.
    pub protocol_type: Option<String>,
    /// Protocol of the generation.
    pub protocol_name: Option<String>,
    /// The member's assignment.
    pub assignment: Bytes,
}

impl SyncResponse {
    /// An error answer.
    pub fn error(error: ErrorCode) -> SyncResponse {
        SyncResponse {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// A Heartbeat request.
#[derive(Debug, Clone)]
pub struct HeartbeatRequest {
    /// Group id.
    pub group_id: String,
    /// Generation the member believes current.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
}

/// A member named in a LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// Member id (may be empty for a static member named by instance id).
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
}

/// One partition of an OffsetCommit.
#[derive(Debug, Clone)]
pub struct CommitPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Offset of the next record to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record, -1 when unknown.
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: Option<String>,
}

/// An OffsetCommit request.
#[derive(Debug, Clone)]
pub struct CommitRequest {
    /// Group id.
    pub group_id: String,
    /// Generation, -1 for a commit outside group management.
    pub generation_id: i32,
    /// Member id, empty outside group management.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// v2-4: how long to keep the offsets (-1: the broker's retention).
    pub retention_time_ms: i64,
    /// Offsets to commit.
    pub partitions: Vec<CommitPartition>,
}

/// A committed offset as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Offset, -1 when nothing is committed.
    pub offset: i64,
    /// Leader epoch, -1 when unknown.
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: String,
    /// An open transaction holds a newer offset of this partition (TxnOffsetCommit): a
    /// consumer asking for stable offsets gets UNSTABLE_OFFSET_COMMIT.
    pub pending: bool,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static membership id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata for the chosen protocol (only while Stable).
    pub metadata: Bytes,
    /// Assignment (only while Stable).
    pub assignment: Bytes,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Kafka's state name ("Stable", "Empty", ...).
    pub state: &'static str,
    /// Protocol type, empty when none.
    pub protocol_type: String,
    /// Chosen protocol (only while Stable).
    pub protocol_name: String,
    /// Members.
    pub members: Vec<MemberDescription>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// Protocol type, empty when none.
    pub protocol_type: String,
    /// Kafka's state name.
    pub state: &'static str,
}
