use proptest::option::of;
use proptest::prelude::*;

use super::*;

#[path = "records_malformed_tests.rs"]
mod malformed;

/// Key of an offset of group `g`, topic `t`, partition 0 (version 1).
const OFFSET_KEY: &[u8] = &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 0];
/// Key of group `g` (version 2).
const GROUP_KEY: &[u8] = &[0, 2, 0, 1, b'g'];

/// Concatenates hand-assembled pieces.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn decode(key: &[u8], value: &[u8]) -> Result<Option<GroupRecord>, RecordDecodeError> {
    GroupRecord::decode(key, Some(value))
}

fn offset_value(value: &[u8]) -> OffsetCommitValue {
    match decode(OFFSET_KEY, value) {
        Ok(Some(GroupRecord::Offset { value: Some(v), .. })) => v,
        other => panic!("not an offset value: {other:?}"),
    }
}

fn group_value(value: &[u8]) -> GroupMetadataValue {
    match decode(GROUP_KEY, value) {
        Ok(Some(GroupRecord::Group { value: Some(v), .. })) => v,
        other => panic!("not a group value: {other:?}"),
    }
}

fn offset_err(value: &[u8]) -> RecordDecodeError {
    decode(OFFSET_KEY, value).expect_err("malformed value decoded")
}

/// An offset with metadata `m`.
fn ocv(
    offset: i64,
    leader_epoch: i32,
    commit_ms: i64,
    expire_ms: Option<i64>,
) -> OffsetCommitValue {
    OffsetCommitValue {
        offset,
        leader_epoch,
        metadata: "m".into(),
        commit_timestamp_ms: commit_ms,
        expire_timestamp_ms: expire_ms,
    }
}

/// A `consumer` group in generation 1 with protocol `range`.
fn gmv(leader: Option<&str>, state_ms: i64, members: Vec<MemberMetadata>) -> GroupMetadataValue {
    GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 1,
        protocol: Some("range".into()),
        leader: leader.map(Into::into),
        current_state_timestamp_ms: state_ms,
        members,
    }
}

fn member(instance: Option<&str>) -> MemberMetadata {
    MemberMetadata {
        member_id: "m1".into(),
        group_instance_id: instance.map(Into::into),
        client_id: "c".into(),
        client_host: "/h".into(),
        rebalance_timeout_ms: 300,
        session_timeout_ms: 10,
        subscription: Bytes::from_static(&[1, 2]),
        assignment: Bytes::from_static(&[3]),
    }
}

/// What an offset reads back as after being written at `version`.
fn offset_at(mut v: OffsetCommitValue, version: i16) -> OffsetCommitValue {
    if version < 3 {
        v.leader_epoch = -1;
    }
    if version != 1 {
        v.expire_timestamp_ms = None;
    }
    v
}

/// What a group reads back as after being written at `version`.
fn group_at(mut v: GroupMetadataValue, version: i16) -> GroupMetadataValue {
    if version < 2 {
        v.current_state_timestamp_ms = -1;
    }
    for m in &mut v.members {
        if version < 3 {
            m.group_instance_id = None;
        }
        if version < 1 {
            m.rebalance_timeout_ms = m.session_timeout_ms;
        }
    }
    v
}

fn round_trip(record: &GroupRecord) -> GroupRecord {
    let value = record.encode_value();
    match GroupRecord::decode(&record.encode_key(), value.as_deref()) {
        Ok(Some(decoded)) => decoded,
        other => panic!("{record:?} decoded as {other:?}"),
    }
}

fn arb_string() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn arb_bytes() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..16).prop_map(Bytes::from)
}

prop_compose! {
    fn arb_offset_value()(
        offset: i64, leader_epoch: i32, metadata in arb_string(), commit_timestamp_ms: i64,
        expire_timestamp_ms in of(any::<i64>().prop_filter("-1 reads as None", |t| *t != -1)),
    ) -> OffsetCommitValue {
        OffsetCommitValue { offset, leader_epoch, metadata, commit_timestamp_ms, expire_timestamp_ms }
    }
}

prop_compose! {
    fn arb_member()(
        member_id in arb_string(), group_instance_id in of(arb_string()), client_id in arb_string(),
        client_host in arb_string(), rebalance_timeout_ms: i32, session_timeout_ms: i32,
        subscription in arb_bytes(), assignment in arb_bytes(),
    ) -> MemberMetadata {
        MemberMetadata {
            member_id, group_instance_id, client_id, client_host, rebalance_timeout_ms,
            session_timeout_ms, subscription, assignment,
        }
    }
}

prop_compose! {
    fn arb_group_value()(
        protocol_type in arb_string(), generation: i32, protocol in of(arb_string()),
        leader in of(arb_string()), current_state_timestamp_ms: i64,
        members in proptest::collection::vec(arb_member(), 0..4),
    ) -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type, generation, protocol, leader, current_state_timestamp_ms, members,
        }
    }
}

proptest! {
    #[test]
    fn offset_records_round_trip(
        group in arb_string(), topic in arb_string(), partition: i32,
        value in of(arb_offset_value()),
    ) {
        let key = OffsetKey { group, topic, partition };
        let record = GroupRecord::Offset { key: key.clone(), value: value.clone() };
        // Version 1, written when an expiry is set, has no leader epoch.
        let version = if value.as_ref().is_some_and(|v| v.expire_timestamp_ms.is_some()) { 1 } else { 3 };
        let expected = GroupRecord::Offset { key, value: value.map(|v| offset_at(v, version)) };
        let decoded = round_trip(&record);
        prop_assert_eq!(decoded.group(), record.group());
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn group_records_round_trip(group in arb_string(), value in of(arb_group_value())) {
        let record = GroupRecord::Group { group, value };
        prop_assert_eq!(round_trip(&record), record);
    }

    #[test]
    fn values_round_trip_at_every_version(offset in arb_offset_value(), group in arb_group_value()) {
        for version in 0..=4 {
            prop_assert_eq!(offset_value(&offset.encode(version)), offset_at(offset.clone(), version));
            prop_assert_eq!(group_value(&group.encode(version)), group_at(group.clone(), version));
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        key_version in 0u8..4, key in proptest::collection::vec(any::<u8>(), 0..40),
        value_version in 0u8..6, value in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let _ = decode(&cat(&[&[0, key_version], &key]), &cat(&[&[0, value_version], &value]));
    }

    #[test]
    fn corrupted_encodings_never_panic(
        value in arb_group_value(), version in 0i16..=4, at: usize, byte: u8,
    ) {
        let mut bytes = value.encode(version).to_vec();
        let at = at % bytes.len();
        bytes[at] = byte;
        let _ = decode(GROUP_KEY, &bytes);
    }
}

#[test]
fn offset_key_and_values_match_the_schema_byte_for_byte() {
    let key = OffsetKey {
        group: "g".into(),
        topic: "t".into(),
        partition: 5,
    };
    let record = GroupRecord::Offset {
        key: key.clone(),
        value: Some(ocv(7, 2, 1000, None)),
    };
    // Key version 1: group, topic (int16-length strings), partition int32.
    let key_bytes = [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 5];
    assert_eq!(record.encode_key()[..], key_bytes);
    // Value version 3: offset int64, leaderEpoch int32, metadata string, commitTimestamp int64.
    let v3 = cat(&[
        &[0, 3],
        &7i64.to_be_bytes(),
        &2i32.to_be_bytes(),
        &[0, 1, b'm'],
        &1000i64.to_be_bytes(),
    ]);
    assert_eq!(record.encode_value().as_deref(), Some(&v3[..]));
    assert_eq!(decode(&key_bytes, &v3), Ok(Some(record)));
    // With an expiry, version 1: offset, metadata, commitTimestamp, expireTimestamp.
    let record = GroupRecord::Offset {
        key,
        value: Some(ocv(7, 2, 1000, Some(2000))),
    };
    let v1 = cat(&[
        &[0, 1],
        &7i64.to_be_bytes(),
        &[0, 1, b'm'],
        &1000i64.to_be_bytes(),
        &2000i64.to_be_bytes(),
    ]);
    assert_eq!(record.encode_value().as_deref(), Some(&v1[..]));
}

#[test]
fn group_key_and_value_match_the_schema_byte_for_byte() {
    let record = GroupRecord::Group {
        group: "g".into(),
        value: Some(gmv(Some("m1"), 9, vec![member(None)])),
    };
    assert_eq!(record.encode_key()[..], *GROUP_KEY);
    let expected = cat(&[
        &[0, 3, 0, 8],
        b"consumer",
        &[0, 0, 0, 1, 0, 5], // generation, protocol length
        b"range",
        &[0, 2, b'm', b'1'],
        &9i64.to_be_bytes(),
        &[0, 0, 0, 1], // one member: memberId, groupInstanceId null, clientId, clientHost
        &[0, 2, b'm', b'1', 0xff, 0xff, 0, 1, b'c', 0, 2, b'/', b'h'],
        &[0, 0, 1, 0x2c, 0, 0, 0, 10], // rebalanceTimeout 300 precedes sessionTimeout 10
        &[0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 3], // subscription, assignment: int32-length bytes
    ]);
    assert_eq!(record.encode_value().as_deref(), Some(&expected[..]));
    assert_eq!(decode(GROUP_KEY, &expected), Ok(Some(record)));
}

#[test]
fn decodes_old_and_flexible_offset_values() {
    let body = cat(&[&7i64.to_be_bytes(), &[0, 1, b'm'], &1000i64.to_be_bytes()]);
    assert_eq!(
        offset_value(&cat(&[&[0, 0], &body])),
        ocv(7, -1, 1000, None)
    );
    assert_eq!(
        offset_value(&cat(&[&[0, 2], &body])),
        ocv(7, -1, 1000, None)
    );
    let v1 = cat(&[&[0, 1], &body, &2000i64.to_be_bytes()]);
    assert_eq!(offset_value(&v1), ocv(7, -1, 1000, Some(2000)));
    let v1_no_expiry = cat(&[&[0, 1], &body, &(-1i64).to_be_bytes()]);
    assert_eq!(offset_value(&v1_no_expiry), ocv(7, -1, 1000, None));
    // Version 4: compact metadata (length + 1), then one unknown tagged field (tag 3, 2 bytes).
    let v4 = cat(&[
        &[0, 4],
        &7i64.to_be_bytes(),
        &5i32.to_be_bytes(),
        &[2, b'm'],
        &1000i64.to_be_bytes(),
        &[1, 3, 2, 0xab, 0xcd],
    ]);
    assert_eq!(offset_value(&v4), ocv(7, 5, 1000, None));
}

/// A version 0-2 group value with one member, as Kafka wrote it.
fn old_group_value(version: u8) -> Vec<u8> {
    let rebalance: &[u8] = if version >= 1 { &[0, 0, 1, 0x2c] } else { &[] };
    let timestamp: &[u8] = if version >= 2 {
        &[0, 0, 0, 0, 0, 0, 0, 9]
    } else {
        &[]
    };
    cat(&[
        &[0, version, 0, 8],
        b"consumer",
        &[0, 0, 0, 1, 0, 5],
        b"range",
        &[0, 2, b'm', b'1'],
        timestamp,
        &[0, 0, 0, 1, 0, 2, b'm', b'1', 0, 1, b'c', 0, 2, b'/', b'h'],
        rebalance,
        &[0, 0, 0, 10, 0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 3],
    ])
}

#[test]
fn decodes_old_group_values() {
    let full = gmv(Some("m1"), 9, vec![member(None)]);
    let v0 = group_value(&old_group_value(0));
    assert_eq!(v0.current_state_timestamp_ms, -1);
    assert_eq!(
        v0.members[0].rebalance_timeout_ms, 10,
        "v0 rebalance timeout = session timeout"
    );
    assert_eq!(v0, group_at(full.clone(), 0));
    assert_eq!(group_value(&old_group_value(1)), group_at(full.clone(), 1));
    assert_eq!(group_value(&old_group_value(2)), full);
}

#[test]
fn decodes_flexible_group_value_skipping_unknown_tags() {
    let v4 = cat(&[
        &[0, 4, 9],
        b"consumer",
        &[0, 0, 0, 1, 6],
        b"range",
        &[0], // leader null
        &9i64.to_be_bytes(),
        &[2], // one member
        &[3, b'm', b'1', 2, b'i', 2, b'c', 3, b'/', b'h'],
        &[0, 0, 1, 0x2c, 0, 0, 0, 10, 3, 1, 2, 2, 3],
        &[1, 0, 1, 0xaa],             // member tags: tag 0, 1 byte
        &[2, 7, 0, 0x80, 0x01, 1, 2], // tags 7 (empty) and 128 (1 byte)
    ]);
    assert_eq!(group_value(&v4), gmv(None, 9, vec![member(Some("i"))]));
}

#[test]
fn key_version_0_is_an_offset_key_and_tombstones_decode() {
    let key = OffsetKey {
        group: "g".into(),
        topic: "t".into(),
        partition: 0,
    };
    let expected = Ok(Some(GroupRecord::Offset { key, value: None }));
    assert_eq!(
        GroupRecord::decode(&cat(&[&[0, 0], &OFFSET_KEY[2..]]), None),
        expected
    );
    let group = GroupRecord::decode(GROUP_KEY, None);
    assert_eq!(
        group,
        Ok(Some(GroupRecord::Group {
            group: "g".into(),
            value: None
        }))
    );
}

#[test]
fn unknown_key_versions_are_skipped() {
    for version in [3i16, 4, 5, 8, 16, 1000, i16::MAX, -1] {
        let key = cat(&[&version.to_be_bytes(), &[0, 1, b'g', 0xff]]);
        assert_eq!(
            decode(&key, &[0xde, 0xad]),
            Ok(None),
            "key version {version}"
        );
        assert_eq!(GroupRecord::decode(&key, None), Ok(None));
    }
}
