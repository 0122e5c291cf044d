//! Malformed records: truncations, lengths that announce more than the bytes hold, invalid
//! fields, unknown value versions and trailing bytes are errors, never panics or huge
//! allocations.

use super::*;

#[test]
fn truncation_at_every_cut_point_is_an_error() {
    let offset = GroupRecord::Offset {
        key: OffsetKey {
            group: "group".into(),
            topic: "topic".into(),
            partition: 3,
        },
        value: None,
    };
    let group = GroupRecord::Group {
        group: "group".into(),
        value: None,
    };
    let o = ocv(1, 2, 3, Some(4));
    let g = gmv(None, 9, vec![member(Some("i")), member(None)]);
    for version in 0..=4 {
        for (key, value) in [
            (offset.encode_key(), o.encode(version)),
            (group.encode_key(), g.encode(version)),
        ] {
            for cut in 0..key.len() {
                assert!(decode(&key[..cut], &value).is_err(), "key cut at {cut}");
            }
            for cut in 0..value.len() {
                let err = decode(&key, &value[..cut]).expect_err("truncated value decoded");
                assert!(
                    matches!(err, RecordDecodeError::Truncated { .. }),
                    "v{version} cut at {cut}: {err}"
                );
            }
        }
    }
}

#[test]
fn huge_announced_lengths_fail_without_allocating() {
    let truncated = |field| Err(RecordDecodeError::Truncated { field });
    // protocolType, generation, null protocol and leader, currentStateTimestamp.
    let head = cat(&[
        &[0, 3, 0, 1, b'c', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff],
        &[0; 8],
    ]);
    // i32::MAX members of >= 15 bytes each would need ~32 GiB.
    let members = cat(&[&head, &i32::MAX.to_be_bytes(), &[0; 20]]);
    assert_eq!(decode(GROUP_KEY, &members), truncated("members"));
    let flexible = cat(&[
        &[0, 4, 2, b'c', 0, 0, 0, 1, 0, 0],
        &[0; 8],
        &[0xff, 0xff, 0xff, 0xff, 0x0f, 0],
    ]);
    assert_eq!(decode(GROUP_KEY, &flexible), truncated("members"));
    let member = [
        0, 0, 0, 1, 0, 1, b'm', 0xff, 0xff, 0, 1, b'c', 0, 1, b'h', 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let subscription = cat(&[&head, &member, &i32::MAX.to_be_bytes(), &[1, 2]]);
    assert_eq!(decode(GROUP_KEY, &subscription), truncated("subscription"));
    let metadata = cat(&[&[0, 3], &[0; 12], &[0x7f, 0xff, b'm']]);
    assert_eq!(decode(OFFSET_KEY, &metadata), truncated("metadata"));
    // A tag section announcing u32::MAX fields, the first of u32::MAX bytes.
    let max = [0xff, 0xff, 0xff, 0xff, 0x0f];
    let tags = cat(&[&[0, 4], &[0; 12], &[2, b'm'], &[0; 8], &max, &[1], &max]);
    assert_eq!(decode(OFFSET_KEY, &tags), truncated("OffsetCommitValue"));
}

#[test]
fn malformed_fields_are_rejected() {
    use RecordDecodeError::*;
    let with_metadata = |prefix: &[u8]| cat(&[&[0, 3], &[0; 12], prefix, &[0; 8]]);
    assert_eq!(
        offset_err(&with_metadata(&[0xff, 0xfe])),
        InvalidLength {
            field: "metadata",
            len: -2
        }
    );
    assert_eq!(
        offset_err(&with_metadata(&[0xff, 0xff])),
        UnexpectedNull { field: "metadata" }
    );
    assert_eq!(
        offset_err(&with_metadata(&[0, 1, 0xff])),
        InvalidUtf8 { field: "metadata" }
    );
    let long_varint = cat(&[&[0, 4], &[0; 12], &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]]);
    assert_eq!(
        offset_err(&long_varint),
        VarintTooLong { field: "metadata" }
    );
    let wide_varint = cat(&[&[0, 4], &[0; 12], &[0x80, 0x80, 0x80, 0x80, 0x10]]);
    assert_eq!(
        offset_err(&wide_varint),
        VarintTooLong { field: "metadata" }
    );
    let null_members = [
        0, 0, 0, 1, b'c', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ];
    let err = decode(GROUP_KEY, &null_members).expect_err("null members decoded");
    assert_eq!(err, UnexpectedNull { field: "members" });
    assert_eq!(err.to_string(), "`members` is null but is not nullable");
}

#[test]
fn unknown_value_versions_are_errors() {
    for version in [5i16, 6, i16::MAX, -1] {
        let value = cat(&[&version.to_be_bytes(), &[0; 30]]);
        let err = offset_err(&value);
        assert_eq!(
            err,
            RecordDecodeError::UnknownValueVersion {
                record: "OffsetCommitValue",
                version
            }
        );
        assert_eq!(
            err.to_string(),
            format!("unknown OffsetCommitValue version {version}")
        );
        let err = decode(GROUP_KEY, &value);
        assert_eq!(
            err,
            Err(RecordDecodeError::UnknownValueVersion {
                record: "GroupMetadataValue",
                version
            })
        );
    }
}

#[test]
fn trailing_bytes_are_rejected() {
    use RecordDecodeError::TrailingBytes;
    let key = cat(&[OFFSET_KEY, &[9]]);
    assert_eq!(
        GroupRecord::decode(&key, None),
        Err(TrailingBytes {
            part: "key",
            bytes: 1
        })
    );
    let value = cat(&[&[0, 0], &[0; 8], &[0, 0], &[0; 8], &[1, 2]]);
    assert_eq!(
        offset_err(&value),
        TrailingBytes {
            part: "OffsetCommitValue",
            bytes: 2
        }
    );
    let group = cat(&[&old_group_value(2), &[0]]);
    assert_eq!(
        decode(GROUP_KEY, &group),
        Err(TrailingBytes {
            part: "GroupMetadataValue",
            bytes: 1
        })
    );
}
