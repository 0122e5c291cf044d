//! Every served version of the group APIs through the real broker: FindCoordinator, a full
//! classic-group life (JoinGroup, SyncGroup, Heartbeat, OffsetCommit, OffsetFetch,
//! DescribeGroups, ListGroups, OffsetDelete, LeaveGroup, DeleteGroups) once per version, then
//! the errors Kafka answers to bad input. Each response must decode for its version and carry
//! the error codes Kafka would.

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use common::*;
use kavka_client::Connection;
use kavka_protocol::api::ApiKey;
use kavka_protocol::codec::StrBytes;
use kavka_protocol::messages::describe_groups_response::DescribedGroup;
use kavka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kavka_protocol::messages::leave_group_request::MemberIdentity;
use kavka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kavka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kavka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kavka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kavka_protocol::messages::*;
use kavka_protocol::request::Request;
use kavka_protocol::response::Response;
use kavka_protocol::ErrorCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

/// Rebalances complete at once; a small `__consumer_offsets`.
const OVERRIDES: &[&str] = &[
    "group.initial.rebalance.delay.ms=0",
    "offsets.topic.num.partitions=3",
];
/// The topic the members subscribe to (2 partitions).
const TOPIC: &str = "gv-topic";
/// Another topic, nobody subscribes to it (1 partition).
const OTHER: &str = "gv-other";
/// Group operations with no authorizer: READ (3), DELETE (6), DESCRIBE (8).
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);
/// The test broker's node id (Kavka's default `node.id`).
const NODE_ID: i32 = 1;

const NONE: i16 = 0;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

fn err(e: ErrorCode) -> i16 {
    e.code()
}

/// ConsumerProtocolSubscription v0 of `topics` (no user data).
fn subscription(topics: &[&str]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(topics.len() as i32);
    for t in topics {
        b.put_i16(t.len() as i16);
        b.put_slice(t.as_bytes());
    }
    b.put_i32(-1);
    b.freeze()
}

/// ConsumerProtocolAssignment v0 of some partitions of one topic (no user data).
fn assignment(topic: &str, partitions: &[i32]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(1);
    b.put_i16(topic.len() as i16);
    b.put_slice(topic.as_bytes());
    b.put_i32(partitions.len() as i32);
    for p in partitions {
        b.put_i32(*p);
    }
    b.put_i32(-1);
    b.freeze()
}

/// (error, node id, host, port) of the coordinator of `group`.
async fn find_coordinator(c: &mut Connection, v: i16, group: &str) -> (i16, i32, String, i32) {
    let req = if v >= 4 {
        FindCoordinatorRequest::default().with_coordinator_keys(vec![s(group)])
    } else {
        FindCoordinatorRequest::default().with_key(s(group))
    };
    let Response::FindCoordinator(r) = c.send(v, Request::FindCoordinator(req)).await.unwrap()
    else {
        panic!()
    };
    if v >= 4 {
        assert_eq!(r.coordinators.len(), 1, "FindCoordinator v{v}");
        let k = &r.coordinators[0];
        assert_eq!(k.key.as_str(), group, "FindCoordinator v{v}");
        (k.error_code, k.node_id.0, k.host.to_string(), k.port)
    } else {
        (r.error_code, r.node_id.0, r.host.to_string(), r.port)
    }
}

/// One JoinGroup of a consumer subscribing to [`TOPIC`] with the "range" protocol.
async fn join(c: &mut Connection, v: i16, group: &str, member_id: &str) -> JoinGroupResponse {
    let mut req = JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(subscription(&[TOPIC]))]);
    if v >= 1 {
        req = req.with_rebalance_timeout_ms(10_000);
    }
    let Response::JoinGroup(r) = c.send(v, Request::JoinGroup(req)).await.unwrap() else {
        panic!()
    };
    r
}

/// A new member joins `group` (v4+: MEMBER_ID_REQUIRED first, then with the id given).
async fn join_new(c: &mut Connection, v: i16, group: &str) -> JoinGroupResponse {
    let first = join(c, v, group, "").await;
    if v < 4 {
        assert_eq!(first.error_code, NONE, "JoinGroup v{v}");
        return first;
    }
    assert_eq!(
        first.error_code,
        err(ErrorCode::MEMBER_ID_REQUIRED),
        "JoinGroup v{v} without member id"
    );
    assert!(!first.member_id.is_empty(), "JoinGroup v{v}: a member id");
    let member_id = first.member_id.to_string();
    let second = join(c, v, group, &member_id).await;
    assert_eq!(second.error_code, NONE, "JoinGroup v{v} with member id");
    assert_eq!(second.member_id.as_str(), member_id, "JoinGroup v{v}");
    second
}

async fn sync(
    c: &mut Connection,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    assignments: &[(&str, Bytes)],
) -> SyncGroupResponse {
    let mut req = SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_assignments(
            assignments
                .iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(m))
                        .with_assignment(a.clone())
                })
                .collect(),
        );
    if v >= 5 {
        req = req
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")));
    }
    let Response::SyncGroup(r) = c.send(v, Request::SyncGroup(req)).await.unwrap() else {
        panic!()
    };
    r
}

async fn heartbeat(
    c: &mut Connection,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(s(member_id));
    let Response::Heartbeat(r) = c.send(v, Request::Heartbeat(req)).await.unwrap() else {
        panic!()
    };
    r.error_code
}

/// An offset to commit: topic, partition, offset, leader epoch, metadata.
type Commit<'a> = (&'a str, i32, i64, i32, &'a str);

/// OffsetCommit by topic name (v2-9): each partition's error, in request order.
async fn commit(
    c: &mut Connection,
    v: i16,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[Commit<'_>],
) -> Vec<i16> {
    let topics = offsets
        .iter()
        .map(|&(topic, partition, offset, epoch, metadata)| {
            let mut p = OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s(metadata)));
            if v >= 6 {
                p = p.with_committed_leader_epoch(epoch);
            }
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![p])
        })
        .collect();
    let req = OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member_id))
        .with_retention_time_ms(-1)
        .with_topics(topics);
    let Response::OffsetCommit(r) = c.send(v, Request::OffsetCommit(req)).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.topics.len(), offsets.len(), "OffsetCommit v{v}");
    r.topics
        .iter()
        .zip(offsets)
        .map(|(t, o)| {
            assert_eq!(t.name.0.as_str(), o.0, "OffsetCommit v{v}");
            assert_eq!(t.partitions.len(), 1, "OffsetCommit v{v}");
            assert_eq!(t.partitions[0].partition_index, o.1, "OffsetCommit v{v}");
            t.partitions[0].error_code
        })
        .collect()
}

/// A fetched offset: topic, partition, offset, leader epoch, metadata, error.
type Fetched = (String, i32, i64, i32, String, i16);

/// Topics asked for in an OffsetFetch, by name: (topic, partitions).
type Asked<'a> = &'a [(&'a str, &'a [i32])];

/// An OffsetFetch v10 answer: topic id, partition, offset, leader epoch, error.
type FetchedById = (Uuid, i32, i64, i32, i16);

/// OffsetFetch by topic name (v1-9) of one group: the group's error (top-level in v2-7, the
/// group's in v8+, 0 in v1) and the partitions answered. `topics` None: every committed one.
async fn fetch_offsets(
    c: &mut Connection,
    v: i16,
    group: &str,
    topics: Option<Asked<'_>>,
) -> (i16, Vec<Fetched>) {
    let (mut groups, error) = fetch_groups(c, v, &[(group, topics)]).await;
    let (g, group_error, partitions) = groups.remove(0);
    assert_eq!(g, group, "OffsetFetch v{v}");
    (if v >= 8 { group_error } else { error }, partitions)
}

/// OffsetFetch of several groups (v8+; one group before): each group's id, error and
/// partitions, and the top-level error (v2-7).
async fn fetch_groups(
    c: &mut Connection,
    v: i16,
    groups: &[(&str, Option<Asked<'_>>)],
) -> (Vec<(String, i16, Vec<Fetched>)>, i16) {
    let req = if v >= 8 {
        OffsetFetchRequest::default().with_groups(
            groups
                .iter()
                .map(|(group, topics)| {
                    OffsetFetchRequestGroup::default()
                        .with_group_id(gid(group))
                        .with_topics(topics.map(|ts| {
                            ts.iter()
                                .map(|(t, ps)| {
                                    OffsetFetchRequestTopics::default()
                                        .with_name(topic_name(t))
                                        .with_partition_indexes(ps.to_vec())
                                })
                                .collect()
                        }))
                })
                .collect(),
        )
    } else {
        assert_eq!(groups.len(), 1);
        let (group, topics) = groups[0];
        OffsetFetchRequest::default()
            .with_group_id(gid(group))
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopic::default()
                            .with_name(topic_name(t))
                            .with_partition_indexes(ps.to_vec())
                    })
                    .collect()
            }))
    };
    let Response::OffsetFetch(r) = c.send(v, Request::OffsetFetch(req)).await.unwrap() else {
        panic!()
    };
    let meta = |m: &Option<StrBytes>| m.as_ref().map(|m| m.to_string()).unwrap_or_default();
    if v >= 8 {
        assert!(r.topics.is_empty(), "OffsetFetch v{v}");
        let answered = r
            .groups
            .iter()
            .map(|g| {
                let partitions = g
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(|p| {
                            (
                                t.name.0.to_string(),
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                meta(&p.metadata),
                                p.error_code,
                            )
                        })
                    })
                    .collect();
                (g.group_id.0.to_string(), g.error_code, partitions)
            })
            .collect();
        (answered, NONE)
    } else {
        assert!(r.groups.is_empty(), "OffsetFetch v{v}");
        let partitions = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.0.to_string(),
                        p.partition_index,
                        p.committed_offset,
                        p.committed_leader_epoch,
                        meta(&p.metadata),
                        p.error_code,
                    )
                })
            })
            .collect();
        (
            vec![(groups[0].0.to_string(), NONE, partitions)],
            r.error_code,
        )
    }
}

async fn describe(c: &mut Connection, v: i16, groups: &[&str]) -> Vec<DescribedGroup> {
    let req = DescribeGroupsRequest::default()
        .with_groups(groups.iter().map(|g| gid(g)).collect())
        .with_include_authorized_operations(v >= 3);
    let Response::DescribeGroups(r) = c.send(v, Request::DescribeGroups(req)).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.groups.len(), groups.len(), "DescribeGroups v{v}");
    for (d, g) in r.groups.iter().zip(groups) {
        assert_eq!(d.group_id.0.as_str(), *g, "DescribeGroups v{v}");
    }
    r.groups
}

async fn list(c: &mut Connection, v: i16, states: &[&str], types: &[&str]) -> ListGroupsResponse {
    let mut req = ListGroupsRequest::default();
    if v >= 4 {
        req = req.with_states_filter(states.iter().map(|x| s(x)).collect());
    }
    if v >= 5 {
        req = req.with_types_filter(types.iter().map(|x| s(x)).collect());
    }
    let Response::ListGroups(r) = c.send(v, Request::ListGroups(req)).await.unwrap() else {
        panic!()
    };
    r
}

async fn delete_groups(c: &mut Connection, v: i16, groups: &[&str]) -> Vec<i16> {
    let req =
        DeleteGroupsRequest::default().with_groups_names(groups.iter().map(|g| gid(g)).collect());
    let Response::DeleteGroups(r) = c.send(v, Request::DeleteGroups(req)).await.unwrap() else {
        panic!()
    };
    assert_eq!(r.results.len(), groups.len(), "DeleteGroups v{v}");
    r.results
        .iter()
        .zip(groups)
        .map(|(res, g)| {
            assert_eq!(res.group_id.0.as_str(), *g, "DeleteGroups v{v}");
            res.error_code
        })
        .collect()
}

/// OffsetDelete v0: the top-level error and (topic, partition, error) of each partition.
async fn offset_delete(
    c: &mut Connection,
    group: &str,
    topics: &[(&str, &[i32])],
) -> (i16, Vec<(String, i32, i16)>) {
    let req = OffsetDeleteRequest::default()
        .with_group_id(gid(group))
        .with_topics(
            topics
                .iter()
                .map(|(t, ps)| {
                    OffsetDeleteRequestTopic::default()
                        .with_name(topic_name(t))
                        .with_partitions(
                            ps.iter()
                                .map(|p| {
                                    OffsetDeleteRequestPartition::default().with_partition_index(*p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let Response::OffsetDelete(r) = c.send(0, Request::OffsetDelete(req)).await.unwrap() else {
        panic!()
    };
    let partitions = r
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    (r.error_code, partitions)
}

/// LeaveGroup of one member: the top-level error and, v3+, the member's.
async fn leave(c: &mut Connection, v: i16, group: &str, member_id: &str) -> (i16, Option<i16>) {
    let req = if v >= 3 {
        LeaveGroupRequest::default()
            .with_group_id(gid(group))
            .with_members(vec![MemberIdentity::default().with_member_id(s(member_id))])
    } else {
        LeaveGroupRequest::default()
            .with_group_id(gid(group))
            .with_member_id(s(member_id))
    };
    let Response::LeaveGroup(r) = c.send(v, Request::LeaveGroup(req)).await.unwrap() else {
        panic!()
    };
    if v >= 3 {
        assert_eq!(r.members.len(), 1, "LeaveGroup v{v}");
        assert_eq!(
            r.members[0].member_id.as_str(),
            member_id,
            "LeaveGroup v{v}"
        );
        (r.error_code, Some(r.members[0].error_code))
    } else {
        (r.error_code, None)
    }
}

fn fetched(topic: &str, partition: i32, offset: i64, epoch: i32, metadata: &str) -> Fetched {
    (
        topic.to_string(),
        partition,
        offset,
        epoch,
        metadata.to_string(),
        NONE,
    )
}

/// Starts a broker with [`TOPIC`] and [`OTHER`], `__consumer_offsets` created by a
/// FindCoordinator.
async fn start() -> (TestBroker, Connection) {
    let b = TestBroker::start(OVERRIDES);
    let mut c = b.connect().await;
    assert_eq!(create_topic(&mut c, TOPIC, 2).await, NONE);
    assert_eq!(create_topic(&mut c, OTHER, 1).await, NONE);
    let (e, ..) = find_coordinator(&mut c, 3, "warm-up").await;
    assert_eq!(e, NONE, "FindCoordinator creates __consumer_offsets");
    (b, c)
}

/// Runs a group's whole life with version `i` of each API (clamped to its served range).
async fn group_life(b: &TestBroker, c: &mut Connection, i: i16) {
    let group = format!("group-v{i}");
    let group = group.as_str();

    let v = i.min(6);
    assert_eq!(
        find_coordinator(c, v, group).await,
        (
            NONE,
            NODE_ID,
            "127.0.0.1".to_string(),
            i32::from(b.addr.port())
        ),
        "FindCoordinator v{v}"
    );

    let v = i.min(9);
    let joined = join_new(c, v, group).await;
    let member_id = joined.member_id.to_string();
    let generation = joined.generation_id;
    assert!(generation >= 1, "JoinGroup v{v}: generation {generation}");
    assert_eq!(joined.leader.as_str(), member_id, "JoinGroup v{v}: leader");
    assert_eq!(
        joined.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range"),
        "JoinGroup v{v}"
    );
    if v >= 7 {
        assert_eq!(
            joined.protocol_type.as_ref().map(|p| p.as_str()),
            Some("consumer"),
            "JoinGroup v{v}"
        );
    }
    assert_eq!(
        joined.members.len(),
        1,
        "JoinGroup v{v}: the leader sees the members"
    );
    assert_eq!(
        joined.members[0].member_id.as_str(),
        member_id,
        "JoinGroup v{v}"
    );
    assert_eq!(
        joined.members[0].metadata,
        subscription(&[TOPIC]),
        "JoinGroup v{v}"
    );

    let v = i.min(5);
    let mine = assignment(TOPIC, &[0, 1]);
    let synced = sync(
        c,
        v,
        group,
        generation,
        &member_id,
        &[(&member_id, mine.clone())],
    )
    .await;
    assert_eq!(synced.error_code, NONE, "SyncGroup v{v}");
    assert_eq!(synced.assignment, mine, "SyncGroup v{v}");
    if v >= 5 {
        assert_eq!(
            synced.protocol_name.as_ref().map(|p| p.as_str()),
            Some("range"),
            "SyncGroup v{v}"
        );
        assert_eq!(
            synced.protocol_type.as_ref().map(|p| p.as_str()),
            Some("consumer"),
            "SyncGroup v{v}"
        );
    }

    let v = i.min(4);
    assert_eq!(
        heartbeat(c, v, group, generation, &member_id).await,
        NONE,
        "Heartbeat v{v}"
    );

    let commit_v = i.clamp(2, 9);
    let offset = 100 + i64::from(i);
    let metadata = format!("meta-{i}");
    assert_eq!(
        commit(
            c,
            commit_v,
            group,
            generation,
            &member_id,
            &[(TOPIC, 0, offset, 7, &metadata)]
        )
        .await,
        vec![NONE],
        "OffsetCommit v{commit_v}"
    );

    let v = i.clamp(1, 9);
    // The epoch went over the wire from OffsetCommit v6 and comes back from OffsetFetch v5.
    let epoch = if commit_v >= 6 && v >= 5 { 7 } else { -1 };
    let (error, partitions) = fetch_offsets(c, v, group, Some(&[(TOPIC, &[0, 1])])).await;
    assert_eq!(error, NONE, "OffsetFetch v{v}");
    assert_eq!(
        partitions,
        vec![
            fetched(TOPIC, 0, offset, epoch, &metadata),
            fetched(TOPIC, 1, -1, -1, ""),
        ],
        "OffsetFetch v{v}"
    );
    if v >= 2 {
        let (error, partitions) = fetch_offsets(c, v, group, None).await;
        assert_eq!(error, NONE, "OffsetFetch v{v} of every partition");
        assert_eq!(
            partitions,
            vec![fetched(TOPIC, 0, offset, epoch, &metadata)],
            "OffsetFetch v{v} of every partition"
        );
    }
    if v >= 8 {
        let never = format!("never-v{i}");
        let (groups, _) = fetch_groups(
            c,
            v,
            &[
                (group, Some(&[(TOPIC, &[0])])),
                (&never, Some(&[(OTHER, &[0])])),
                (group, None),
            ],
        )
        .await;
        assert_eq!(
            groups,
            vec![
                (
                    group.to_string(),
                    NONE,
                    vec![fetched(TOPIC, 0, offset, epoch, &metadata)]
                ),
                (never.clone(), NONE, vec![fetched(OTHER, 0, -1, -1, "")]),
                (
                    group.to_string(),
                    NONE,
                    vec![fetched(TOPIC, 0, offset, epoch, &metadata)]
                ),
            ],
            "OffsetFetch v{v} of several groups"
        );
    }

    let v = i.min(6);
    let d = describe(c, v, &[group]).await.remove(0);
    assert_eq!(d.error_code, NONE, "DescribeGroups v{v}");
    assert_eq!(d.group_state.as_str(), "Stable", "DescribeGroups v{v}");
    assert_eq!(d.protocol_type.as_str(), "consumer", "DescribeGroups v{v}");
    assert_eq!(d.protocol_data.as_str(), "range", "DescribeGroups v{v}");
    assert_eq!(d.error_message, None, "DescribeGroups v{v}");
    assert_eq!(d.members.len(), 1, "DescribeGroups v{v}");
    let m = &d.members[0];
    assert_eq!(m.member_id.as_str(), member_id, "DescribeGroups v{v}");
    assert_eq!(m.group_instance_id, None, "DescribeGroups v{v}");
    assert_eq!(m.client_id.as_str(), "kavka-tests", "DescribeGroups v{v}");
    assert_eq!(m.client_host.as_str(), "/127.0.0.1", "DescribeGroups v{v}");
    assert_eq!(
        m.member_metadata,
        subscription(&[TOPIC]),
        "DescribeGroups v{v}"
    );
    assert_eq!(m.member_assignment, mine, "DescribeGroups v{v}");
    let ops = if v >= 3 { GROUP_OPERATIONS } else { i32::MIN };
    assert_eq!(d.authorized_operations, ops, "DescribeGroups v{v}");

    let v = i.min(5);
    let r = list(c, v, &["STABLE"], &["Classic"]).await;
    assert_eq!(r.error_code, NONE, "ListGroups v{v}");
    let listed = r
        .groups
        .iter()
        .find(|g| g.group_id.0.as_str() == group)
        .unwrap_or_else(|| panic!("ListGroups v{v} lists {group}: {r:?}"));
    assert_eq!(listed.protocol_type.as_str(), "consumer", "ListGroups v{v}");
    if v >= 4 {
        assert_eq!(listed.group_state.as_str(), "Stable", "ListGroups v{v}");
        let r = list(c, v, &["Empty", "Dead"], &[]).await;
        assert_eq!(r.error_code, NONE, "ListGroups v{v}");
        assert!(
            r.groups.iter().all(|g| g.group_id.0.as_str() != group),
            "ListGroups v{v} filters on states: {r:?}"
        );
    }
    if v >= 5 {
        assert_eq!(listed.group_type.as_str(), "classic", "ListGroups v{v}");
        let r = list(c, v, &[], &["consumer"]).await;
        assert_eq!(
            (r.error_code, r.groups.len()),
            (NONE, 0),
            "ListGroups v{v} filters on types"
        );
    }

    // While the member consumes TOPIC its offsets stay; the others may go.
    assert_eq!(
        offset_delete(
            c,
            group,
            &[(TOPIC, &[0]), (OTHER, &[0]), ("gv-missing", &[0])]
        )
        .await,
        (
            NONE,
            vec![
                (TOPIC.into(), 0, err(ErrorCode::GROUP_SUBSCRIBED_TO_TOPIC)),
                (OTHER.into(), 0, NONE),
                (
                    "gv-missing".into(),
                    0,
                    err(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
                ),
            ]
        ),
        "OffsetDelete v0 with a member"
    );

    let delete_v = i.min(2);
    assert_eq!(
        delete_groups(c, delete_v, &[group]).await,
        vec![err(ErrorCode::NON_EMPTY_GROUP)],
        "DeleteGroups v{delete_v} with a member"
    );

    let v = i.min(5);
    let (top, member) = leave(c, v, group, &member_id).await;
    assert_eq!(top, NONE, "LeaveGroup v{v}");
    if v >= 3 {
        assert_eq!(member, Some(NONE), "LeaveGroup v{v}");
    }
    let d = describe(c, i.min(6), &[group]).await.remove(0);
    assert_eq!(
        (d.error_code, d.group_state.as_str(), d.members.len()),
        (NONE, "Empty", 0),
        "DescribeGroups v{} after LeaveGroup",
        i.min(6)
    );

    assert_eq!(
        offset_delete(c, group, &[(TOPIC, &[0])]).await,
        (NONE, vec![(TOPIC.into(), 0, NONE)]),
        "OffsetDelete v0 of an empty group"
    );
    let v = i.clamp(1, 9);
    assert_eq!(
        fetch_offsets(c, v, group, Some(&[(TOPIC, &[0])])).await,
        (NONE, vec![fetched(TOPIC, 0, -1, -1, "")]),
        "OffsetFetch v{v} after OffsetDelete"
    );

    assert_eq!(
        delete_groups(c, delete_v, &[group]).await,
        vec![NONE],
        "DeleteGroups v{delete_v}"
    );
    assert_eq!(
        delete_groups(c, delete_v, &[group]).await,
        vec![err(ErrorCode::GROUP_ID_NOT_FOUND)],
        "DeleteGroups v{delete_v} again"
    );
    assert_eq!(
        offset_delete(c, group, &[(TOPIC, &[0])]).await,
        (err(ErrorCode::GROUP_ID_NOT_FOUND), vec![]),
        "OffsetDelete v0 of a deleted group"
    );
    let v = i.min(6);
    let d = describe(c, v, &[group]).await.remove(0);
    if v >= 6 {
        assert_eq!(
            (d.error_code, d.group_state.as_str()),
            (err(ErrorCode::GROUP_ID_NOT_FOUND), "Dead"),
            "DescribeGroups v{v} of a deleted group"
        );
        assert_eq!(
            d.error_message.as_ref().map(|m| m.as_str()),
            Some(format!("Group {group} not found.").as_str()),
            "DescribeGroups v{v}"
        );
    } else {
        assert_eq!(
            (d.error_code, d.group_state.as_str(), d.members.len()),
            (NONE, "Dead", 0),
            "DescribeGroups v{v} of a deleted group"
        );
    }
    let r = list(c, i.min(5), &[], &[]).await;
    assert!(
        r.groups.iter().all(|g| g.group_id.0.as_str() != group),
        "ListGroups after DeleteGroups: {r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_group_api_version() {
    let (b, mut c) = start().await;
    // FindCoordinator 0-6, JoinGroup 0-9, SyncGroup 0-5, Heartbeat 0-4, LeaveGroup 0-5,
    // OffsetCommit 2-9, OffsetFetch 1-9, DescribeGroups 0-6, ListGroups 0-5, DeleteGroups
    // 0-2, OffsetDelete 0 (v10 of the offset APIs: see `offset_apis_v10`).
    for i in 0..=9 {
        group_life(&b, &mut c, i).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_errors() {
    let (_b, mut c) = start().await;

    // An empty group id.
    for v in 0..=9 {
        let r = join(&mut c, v, "", "").await;
        assert_eq!(
            r.error_code,
            err(ErrorCode::INVALID_GROUP_ID),
            "JoinGroup v{v}"
        );
    }
    for v in 0..=4 {
        assert_eq!(
            heartbeat(&mut c, v, "", 1, "m").await,
            err(ErrorCode::INVALID_GROUP_ID),
            "Heartbeat v{v}"
        );
    }
    for v in 2..=9 {
        assert_eq!(
            commit(&mut c, v, "", -1, "", &[(TOPIC, 0, 1, -1, "")]).await,
            vec![err(ErrorCode::INVALID_GROUP_ID)],
            "OffsetCommit v{v}"
        );
    }
    // OffsetFetch: the partitions carry the error in v1, the top level in v2-7, the group in v8+.
    let (error, partitions) = fetch_offsets(&mut c, 1, "", Some(&[(TOPIC, &[0])])).await;
    assert_eq!(error, NONE, "OffsetFetch v1");
    assert_eq!(
        partitions,
        vec![(
            TOPIC.to_string(),
            0,
            -1,
            -1,
            String::new(),
            err(ErrorCode::INVALID_GROUP_ID)
        )],
        "OffsetFetch v1"
    );
    for v in 2..=9 {
        let (error, partitions) = fetch_offsets(&mut c, v, "", Some(&[(TOPIC, &[0])])).await;
        assert_eq!(
            (error, partitions),
            (err(ErrorCode::INVALID_GROUP_ID), vec![]),
            "OffsetFetch v{v}"
        );
    }
    for v in 0..=2 {
        assert_eq!(
            delete_groups(&mut c, v, &[""]).await,
            vec![err(ErrorCode::INVALID_GROUP_ID)],
            "DeleteGroups v{v}"
        );
    }
    for v in 0..=6 {
        let d = describe(&mut c, v, &[""]).await.remove(0);
        assert_eq!(
            (d.error_code, d.authorized_operations),
            (err(ErrorCode::INVALID_GROUP_ID), i32::MIN),
            "DescribeGroups v{v}"
        );
    }

    // A live group: wrong generation, unknown member, not deletable.
    let group = "live";
    let joined = join_new(&mut c, 9, group).await;
    let member_id = joined.member_id.to_string();
    let generation = joined.generation_id;
    let synced = sync(
        &mut c,
        5,
        group,
        generation,
        &member_id,
        &[(&member_id, assignment(TOPIC, &[0, 1]))],
    )
    .await;
    assert_eq!(synced.error_code, NONE, "SyncGroup");
    for v in 0..=4 {
        assert_eq!(
            heartbeat(&mut c, v, group, generation + 1, &member_id).await,
            err(ErrorCode::ILLEGAL_GENERATION),
            "Heartbeat v{v} of another generation"
        );
        assert_eq!(
            heartbeat(&mut c, v, group, generation, "nobody").await,
            err(ErrorCode::UNKNOWN_MEMBER_ID),
            "Heartbeat v{v} of an unknown member"
        );
    }
    for v in 2..=9 {
        assert_eq!(
            commit(
                &mut c,
                v,
                group,
                generation + 1,
                &member_id,
                &[(TOPIC, 0, 5, -1, "")]
            )
            .await,
            vec![err(ErrorCode::ILLEGAL_GENERATION)],
            "OffsetCommit v{v} of another generation"
        );
        assert_eq!(
            commit(
                &mut c,
                v,
                group,
                generation,
                "nobody",
                &[(TOPIC, 0, 5, -1, "")]
            )
            .await,
            vec![err(ErrorCode::UNKNOWN_MEMBER_ID)],
            "OffsetCommit v{v} of an unknown member"
        );
    }
    for v in 0..=5 {
        let r = sync(&mut c, v, group, generation, "nobody", &[]).await;
        assert_eq!(
            r.error_code,
            err(ErrorCode::UNKNOWN_MEMBER_ID),
            "SyncGroup v{v} of an unknown member"
        );
    }
    for v in 0..=5 {
        let (top, member) = leave(&mut c, v, group, "nobody").await;
        if v >= 3 {
            assert_eq!(
                (top, member),
                (NONE, Some(err(ErrorCode::UNKNOWN_MEMBER_ID))),
                "LeaveGroup v{v} of an unknown member"
            );
        } else {
            assert_eq!(top, err(ErrorCode::UNKNOWN_MEMBER_ID), "LeaveGroup v{v}");
        }
    }
    for v in 0..=2 {
        assert_eq!(
            delete_groups(&mut c, v, &[group, "no-such-group"]).await,
            vec![
                err(ErrorCode::NON_EMPTY_GROUP),
                err(ErrorCode::GROUP_ID_NOT_FOUND)
            ],
            "DeleteGroups v{v}"
        );
    }
    // Nothing was committed by the refused commits.
    assert_eq!(
        fetch_offsets(&mut c, 9, group, Some(&[(TOPIC, &[0])])).await,
        (NONE, vec![fetched(TOPIC, 0, -1, -1, "")]),
        "OffsetFetch after refused commits"
    );

    // Groups that do not exist.
    assert_eq!(
        offset_delete(&mut c, "no-such-group", &[(TOPIC, &[0])]).await,
        (err(ErrorCode::GROUP_ID_NOT_FOUND), vec![]),
        "OffsetDelete of an unknown group"
    );
    for v in 0..=6 {
        let d = describe(&mut c, v, &["no-such-group"]).await.remove(0);
        let expected = if v >= 6 {
            err(ErrorCode::GROUP_ID_NOT_FOUND)
        } else {
            NONE
        };
        assert_eq!(
            (d.error_code, d.group_state.as_str(), d.members.len()),
            (expected, "Dead", 0),
            "DescribeGroups v{v} of an unknown group"
        );
    }

    // Commits outside group management (generation -1, no member) need no group.
    for v in 2..=9 {
        let group = format!("standalone-v{v}");
        assert_eq!(
            commit(&mut c, v, &group, -1, "", &[(TOPIC, 1, 9, -1, "x")]).await,
            vec![NONE],
            "OffsetCommit v{v} outside group management"
        );
        assert_eq!(
            fetch_offsets(&mut c, v, &group, Some(&[(TOPIC, &[1])])).await,
            (NONE, vec![fetched(TOPIC, 1, 9, -1, "x")]),
            "OffsetFetch v{v} outside group management"
        );
    }

    // __consumer_offsets is written by the coordinator only.
    let (e, _) = produce(&mut c, "__consumer_offsets", 0, -1, batch("x", 0, 1)).await;
    assert_eq!(
        e,
        err(ErrorCode::INVALID_TOPIC_EXCEPTION),
        "Produce to __consumer_offsets"
    );
}

// ---- v10 of OffsetCommit and OffsetFetch (topic ids), hand-encoded ----
//
// The codec (proto-kafka 0.22) encodes and decodes OffsetCommit and OffsetFetch requests only
// up to v9, though its responses go to v10; the requests are written here byte by byte.

fn put_uvarint(b: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

fn put_compact_str(b: &mut BytesMut, v: Option<&str>) {
    match v {
        None => put_uvarint(b, 0),
        Some(v) => {
            put_uvarint(b, v.len() as u32 + 1);
            b.put_slice(v.as_bytes());
        }
    }
}

/// Sends a hand-encoded request (header v2) and decodes the response.
async fn send_raw(c: &mut Connection, api_key: ApiKey, version: i16, body: &[u8]) -> Response {
    let correlation_id = 0x5eed;
    let client_id = "kavka-tests";
    let mut frame = BytesMut::new();
    frame.put_i16(api_key as i16);
    frame.put_i16(version);
    frame.put_i32(correlation_id);
    frame.put_i16(client_id.len() as i16);
    frame.put_slice(client_id.as_bytes());
    put_uvarint(&mut frame, 0);
    frame.put_slice(body);
    let stream = c.stream();
    stream
        .write_all(&(frame.len() as i32).to_be_bytes())
        .await
        .unwrap();
    stream.write_all(&frame).await.unwrap();
    let mut size = [0u8; 4];
    stream
        .read_exact(&mut size)
        .await
        .unwrap_or_else(|e| panic!("{api_key:?} v{version}: no response ({e})"));
    let mut response = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut response).await.unwrap();
    let (got, response) =
        kavka_protocol::response::decode_response(api_key, version, Bytes::from(response))
            .unwrap_or_else(|e| panic!("{api_key:?} v{version} response: {e}"));
    assert_eq!(got, correlation_id);
    response
}

/// The advertised version range of an API.
async fn advertised(c: &mut Connection, api_key: ApiKey) -> (i16, i16) {
    let Response::ApiVersions(r) = c
        .send(3, Request::ApiVersions(ApiVersionsRequest::default()))
        .await
        .unwrap()
    else {
        panic!()
    };
    let k = r
        .api_keys
        .iter()
        .find(|k| k.api_key == api_key as i16)
        .unwrap_or_else(|| panic!("{api_key:?} advertised"));
    (k.min_version, k.max_version)
}

async fn topic_id_of(c: &mut Connection, name: &str) -> Uuid {
    use kavka_protocol::messages::metadata_request::MetadataRequestTopic;
    let req = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(topic_name(name)))
    ]));
    let Response::Metadata(m) = c.send(12, Request::Metadata(req)).await.unwrap() else {
        panic!()
    };
    m.topics[0].topic_id
}

/// Every version advertised must be served: v10 of OffsetCommit and OffsetFetch name topics by
/// id (an unknown id answers UNKNOWN_TOPIC_ID).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offset_apis_v10() {
    let (_b, mut c) = start().await;
    let (_, commit_max) = advertised(&mut c, ApiKey::OffsetCommit).await;
    let (_, fetch_max) = advertised(&mut c, ApiKey::OffsetFetch).await;
    if commit_max < 10 && fetch_max < 10 {
        return;
    }
    let id = topic_id_of(&mut c, TOPIC).await;
    let unknown = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
    let group = "group-v10";

    if commit_max >= 10 {
        // A commit outside group management: [TOPIC by id: p0 = 77], [unknown id: p0].
        let mut body = BytesMut::new();
        put_compact_str(&mut body, Some(group));
        body.put_i32(-1); // generation
        put_compact_str(&mut body, Some("")); // member id
        put_compact_str(&mut body, None); // group instance id
        put_uvarint(&mut body, 3); // 2 topics
        for topic_id in [id, unknown] {
            body.put_slice(topic_id.as_bytes());
            put_uvarint(&mut body, 2); // 1 partition
            body.put_i32(0);
            body.put_i64(77);
            body.put_i32(3); // leader epoch
            put_compact_str(&mut body, Some("v10"));
            put_uvarint(&mut body, 0);
            put_uvarint(&mut body, 0);
        }
        put_uvarint(&mut body, 0);
        let Response::OffsetCommit(r) = send_raw(&mut c, ApiKey::OffsetCommit, 10, &body).await
        else {
            panic!()
        };
        let answered: Vec<(Uuid, i32, i16)> = r
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.topic_id, p.partition_index, p.error_code))
            })
            .collect();
        assert_eq!(
            answered,
            vec![
                (id, 0, NONE),
                (unknown, 0, err(ErrorCode::UNKNOWN_TOPIC_ID))
            ],
            "OffsetCommit v10"
        );
        assert_eq!(
            fetch_offsets(&mut c, 9, group, Some(&[(TOPIC, &[0])])).await,
            (NONE, vec![fetched(TOPIC, 0, 77, 3, "v10")]),
            "OffsetFetch v9 of the v10 commit"
        );
    } else {
        assert_eq!(
            commit(&mut c, 9, group, -1, "", &[(TOPIC, 0, 77, 3, "v10")]).await,
            vec![NONE]
        );
    }

    if fetch_max >= 10 {
        // [group: TOPIC p0, p1; unknown id p0], [group: every topic].
        let mut body = BytesMut::new();
        put_uvarint(&mut body, 3); // 2 groups
        for all in [false, true] {
            put_compact_str(&mut body, Some(group));
            put_compact_str(&mut body, None); // member id
            body.put_i32(-1); // member epoch
            if all {
                put_uvarint(&mut body, 0); // null topics
            } else {
                put_uvarint(&mut body, 3); // 2 topics
                body.put_slice(id.as_bytes());
                put_uvarint(&mut body, 3);
                body.put_i32(0);
                body.put_i32(1);
                put_uvarint(&mut body, 0);
                body.put_slice(unknown.as_bytes());
                put_uvarint(&mut body, 2);
                body.put_i32(0);
                put_uvarint(&mut body, 0);
            }
            put_uvarint(&mut body, 0);
        }
        body.put_u8(0); // require stable
        put_uvarint(&mut body, 0);
        let Response::OffsetFetch(r) = send_raw(&mut c, ApiKey::OffsetFetch, 10, &body).await
        else {
            panic!()
        };
        let answered: Vec<(i16, Vec<FetchedById>)> = r
            .groups
            .iter()
            .map(|g| {
                assert_eq!(g.group_id.0.as_str(), group, "OffsetFetch v10");
                let partitions = g
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(|p| {
                            (
                                t.topic_id,
                                p.partition_index,
                                p.committed_offset,
                                p.committed_leader_epoch,
                                p.error_code,
                            )
                        })
                    })
                    .collect();
                (g.error_code, partitions)
            })
            .collect();
        assert_eq!(
            answered,
            vec![
                (
                    NONE,
                    vec![
                        (id, 0, 77, 3, NONE),
                        (id, 1, -1, -1, NONE),
                        (unknown, 0, -1, -1, err(ErrorCode::UNKNOWN_TOPIC_ID)),
                    ]
                ),
                (NONE, vec![(id, 0, 77, 3, NONE)]),
            ],
            "OffsetFetch v10"
        );
    }
}
