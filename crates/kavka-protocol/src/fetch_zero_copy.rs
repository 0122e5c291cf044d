//! A Fetch response encoded in pieces so that stored record bytes go from the segment file to the
//! socket without being copied through user space (`sendfile`): the encoder writes every field
//! itself and, where a partition's records belong, leaves a [`Piece::Records`] naming what the
//! caller will send.
//!
//! It covers the fields the broker sets, including a partition's diverging epoch and current
//! leader (tagged fields of v12+); not unknown tagged fields, a snapshot id or node endpoints:
//! [`encode`] returns `None` for any response using them, and the caller then uses the
//! generated codec. A property test checks the pieces, with the records
//! filled in, are byte for byte what the codec writes, for every version 4–18.

use bytes::{BufMut, BytesMut};

use crate::messages::FetchResponse;

/// A part of an encoded response frame.
#[derive(Debug)]
pub enum Piece<R> {
    /// Bytes to write as they are.
    Bytes(BytesMut),
    /// A partition's records, `len` bytes, sent by the caller.
    Records(R, usize),
}

fn put_uvarint(out: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        out.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    out.put_u8(v as u8);
}

fn put_array_len(out: &mut BytesMut, flexible: bool, len: Option<usize>) {
    match (flexible, len) {
        (true, None) => put_uvarint(out, 0),
        (true, Some(n)) => put_uvarint(out, n as u64 + 1),
        (false, None) => out.put_i32(-1),
        (false, Some(n)) => out.put_i32(n as i32),
    }
}

/// Encodes a whole Fetch response frame (size prefix, header, body) of `version`, taking each
/// partition's records from `records(topic_index, partition_index)` when that returns
/// `Some((source, len))` (the partition's own `records` field is then ignored). `None` when the
/// response uses a field this encoder does not write.
pub fn encode<R>(
    correlation_id: i32,
    version: i16,
    response: &FetchResponse,
    mut records: impl FnMut(usize, usize) -> Option<(R, usize)>,
) -> Option<Vec<Piece<R>>> {
    if !(4..=18).contains(&version)
        || !response.unknown_tagged_fields.is_empty()
        || !response.node_endpoints.is_empty()
    {
        return None;
    }
    let flexible = version >= 12;
    let mut pieces = Vec::new();
    let mut out = BytesMut::with_capacity(256);
    out.put_i32(0); // size, filled in below
    out.put_i32(correlation_id);
    if flexible {
        out.put_u8(0); // response header tagged fields
    }
    out.put_i32(response.throttle_time_ms);
    if version >= 7 {
        out.put_i16(response.error_code);
        out.put_i32(response.session_id);
    } else if response.error_code != 0 || response.session_id != 0 {
        return None;
    }
    put_array_len(&mut out, flexible, Some(response.responses.len()));
    let mut total = 0usize;
    for (t, topic) in response.responses.iter().enumerate() {
        if !topic.unknown_tagged_fields.is_empty() {
            return None;
        }
        if version >= 13 {
            out.put_slice(topic.topic_id.as_bytes());
        } else {
            let name = topic.topic.0.as_str().as_bytes();
            if flexible {
                put_uvarint(&mut out, name.len() as u64 + 1);
            } else {
                out.put_i16(i16::try_from(name.len()).ok()?);
            }
            out.put_slice(name);
        }
        put_array_len(&mut out, flexible, Some(topic.partitions.len()));
        for (p, part) in topic.partitions.iter().enumerate() {
            let defaults = kavka_defaults();
            let diverging = part.diverging_epoch != defaults.diverging_epoch;
            let current_leader = part.current_leader != defaults.current_leader;
            if !part.unknown_tagged_fields.is_empty()
                || (diverging || current_leader) && !flexible
                || !part.diverging_epoch.unknown_tagged_fields.is_empty()
                || !part.current_leader.unknown_tagged_fields.is_empty()
                || part.snapshot_id != defaults.snapshot_id
                || (version < 11 && part.preferred_read_replica.0 != -1)
            {
                return None;
            }
            out.put_i32(part.partition_index);
            out.put_i16(part.error_code);
            out.put_i64(part.high_watermark);
            out.put_i64(part.last_stable_offset);
            if version >= 5 {
                out.put_i64(part.log_start_offset);
            }
            match &part.aborted_transactions {
                None => put_array_len(&mut out, flexible, None),
                Some(aborted) => {
                    put_array_len(&mut out, flexible, Some(aborted.len()));
                    for a in aborted {
                        if !a.unknown_tagged_fields.is_empty() {
                            return None;
                        }
                        out.put_i64(a.producer_id.0);
                        out.put_i64(a.first_offset);
                        if flexible {
                            out.put_u8(0);
                        }
                    }
                }
            }
            if version >= 11 {
                out.put_i32(part.preferred_read_replica.0);
            }
            match records(t, p) {
                Some((source, len)) => {
                    if flexible {
                        put_uvarint(&mut out, len as u64 + 1);
                    } else {
                        out.put_i32(i32::try_from(len).ok()?);
                    }
                    if len > 0 {
                        total += out.len();
                        pieces.push(Piece::Bytes(std::mem::replace(
                            &mut out,
                            BytesMut::with_capacity(128),
                        )));
                        pieces.push(Piece::Records(source, len));
                        total += len;
                    }
                }
                None => match &part.records {
                    None => put_array_len(&mut out, flexible, None),
                    Some(b) => {
                        put_array_len(&mut out, flexible, Some(b.len()));
                        out.put_slice(b);
                    }
                },
            }
            if flexible {
                put_partition_tags(&mut out, part, diverging, current_leader);
            }
        }
        if flexible {
            out.put_u8(0); // topic tagged fields
        }
    }
    if flexible {
        out.put_u8(0); // response tagged fields
    }
    total += out.len();
    pieces.push(Piece::Bytes(out));
    let size = i32::try_from(total - 4).ok()?;
    match pieces.first_mut() {
        Some(Piece::Bytes(first)) => first[..4].copy_from_slice(&size.to_be_bytes()),
        _ => unreachable!("the first piece is the header"),
    }
    Some(pieces)
}

/// A partition's tagged fields (v12+): tag 0 the diverging epoch (epoch, end offset), tag 1 the
/// current leader (id, epoch), each with its own empty tagged-field list, when set.
fn put_partition_tags(
    out: &mut BytesMut,
    part: &crate::messages::fetch_response::PartitionData,
    diverging: bool,
    current_leader: bool,
) {
    out.put_u8(u8::from(diverging) + u8::from(current_leader));
    if diverging {
        put_uvarint(out, 0);
        put_uvarint(out, 4 + 8 + 1);
        out.put_i32(part.diverging_epoch.epoch);
        out.put_i64(part.diverging_epoch.end_offset);
        out.put_u8(0);
    }
    if current_leader {
        put_uvarint(out, 1);
        put_uvarint(out, 4 + 4 + 1);
        out.put_i32(part.current_leader.leader_id.0);
        out.put_i32(part.current_leader.leader_epoch);
        out.put_u8(0);
    }
}

fn kavka_defaults() -> crate::messages::fetch_response::PartitionData {
    crate::messages::fetch_response::PartitionData::default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::fetch_response::{
        AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, PartitionData,
    };
    use crate::messages::{BrokerId, ProducerId, TopicName};
    use crate::response::{encode_response, Response};
    use bytes::Bytes;
    use proptest::prelude::*;

    /// (partition index, records, has an aborted-transaction list, diverging epoch and current
    /// leader (set only from v12, where they exist)).
    type TestPartition = (
        i32,
        Option<Vec<u8>>,
        bool,
        Option<(i32, i64)>,
        Option<(i32, i32)>,
    );

    fn response(version: i16, topics: &[(String, Vec<TestPartition>)]) -> FetchResponse {
        FetchResponse::default()
            .with_throttle_time_ms(3)
            .with_error_code(0)
            .with_session_id(0)
            .with_responses(
                topics
                    .iter()
                    .map(|(name, parts)| {
                        FetchableTopicResponse::default()
                            .with_topic(TopicName(crate::codec::StrBytes::from_string(
                                if version >= 13 {
                                    String::new()
                                } else {
                                    name.clone()
                                },
                            )))
                            .with_topic_id(uuid::Uuid::from_u128(name.len() as u128 + 7))
                            .with_partitions(
                                parts
                                    .iter()
                                    .map(|(index, records, aborted, diverging, leader)| {
                                        let tagged = version >= 12;
                                        let diverging = diverging.filter(|_| tagged).map_or_else(
                                            EpochEndOffset::default,
                                            |(epoch, end_offset)| {
                                                EpochEndOffset::default()
                                                    .with_epoch(epoch)
                                                    .with_end_offset(end_offset)
                                            },
                                        );
                                        let leader = leader.filter(|_| tagged).map_or_else(
                                            LeaderIdAndEpoch::default,
                                            |(id, epoch)| {
                                                LeaderIdAndEpoch::default()
                                                    .with_leader_id(BrokerId(id))
                                                    .with_leader_epoch(epoch)
                                            },
                                        );
                                        PartitionData::default()
                                            .with_diverging_epoch(diverging)
                                            .with_current_leader(leader)
                                            .with_partition_index(*index)
                                            .with_high_watermark(100 + i64::from(*index))
                                            .with_last_stable_offset(99)
                                            .with_log_start_offset(if version >= 5 {
                                                4
                                            } else {
                                                -1
                                            })
                                            .with_preferred_read_replica(BrokerId(-1))
                                            .with_aborted_transactions(aborted.then(|| {
                                                vec![AbortedTransaction::default()
                                                    .with_producer_id(ProducerId(9))
                                                    .with_first_offset(8)]
                                            }))
                                            .with_records(records.clone().map(Bytes::from))
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 400, .. ProptestConfig::default() })]

        #[test]
        fn pieces_equal_the_codec_for_every_version(
            version in 4i16..=18,
            topics in proptest::collection::vec(
                ("[a-z]{1,12}", proptest::collection::vec(
                    (
                        0i32..50,
                        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
                        any::<bool>(),
                        proptest::option::of((-1i32..100, -1i64..10_000)),
                        proptest::option::of((-1i32..5, -1i32..100)),
                    ),
                    0..4)),
                0..4),
            from_file in any::<bool>(),
        ) {
            let r = response(version, &topics);
            let mut expected = BytesMut::new();
            encode_response(&mut expected, 42, version, &Response::Fetch(r.clone())).unwrap();
            // Records either inline (the response's own field) or as pieces the caller sends.
            let pieces = encode(42, version, &r, |t, p| {
                if !from_file {
                    return None;
                }
                r.responses[t].partitions[p].records.clone().map(|b| {
                    let n = b.len();
                    (b, n)
                })
            })
            .unwrap();
            let mut got = Vec::new();
            for piece in pieces {
                match piece {
                    Piece::Bytes(b) => got.extend_from_slice(&b),
                    Piece::Records(b, n) => {
                        prop_assert_eq!(b.len(), n);
                        got.extend_from_slice(&b);
                    }
                }
            }
            prop_assert_eq!(got, expected.to_vec());
        }
    }
}
