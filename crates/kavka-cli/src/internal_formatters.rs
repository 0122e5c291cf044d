//! Kafka's formatters of the internal topics for `console-consumer --formatter`, under their
//! Kafka 3 and Kafka 4 class names: offsets and group metadata of `__consumer_offsets`, and the
//! transaction log of `__transaction_state`. Each record prints as one JSON line in Kafka 4's
//! layout: `{"key":{"type"|"version":N,"data":{...}},"value":{"version":N,"data":{...}}}`
//! (`"value":null` for a tombstone); records of another kind are skipped, as Kafka skips them.

use bytes::Bytes;
use kavka_coordinator::group::records::GroupRecord;
use kavka_coordinator::txn::TxnRecord;

/// One of Kafka's internal-topic formatters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InternalFormatter {
    /// `OffsetsMessageFormatter`: committed offsets.
    Offsets,
    /// `GroupMetadataMessageFormatter`: classic group metadata.
    GroupMetadata,
    /// `TransactionLogMessageFormatter`: transaction states.
    TransactionLog,
}

impl InternalFormatter {
    /// The formatter a Kafka class name names.
    pub fn by_class(class: &str) -> Option<InternalFormatter> {
        let simple = class.rsplit(['.', '$']).next().unwrap_or(class);
        match simple {
            "OffsetsMessageFormatter" => Some(InternalFormatter::Offsets),
            "GroupMetadataMessageFormatter" => Some(InternalFormatter::GroupMetadata),
            "TransactionLogMessageFormatter" => Some(InternalFormatter::TransactionLog),
            _ => None,
        }
    }

    /// The JSON line of a record, `None` when this formatter skips it.
    pub fn format(self, key: Option<&[u8]>, value: Option<&[u8]>) -> Option<String> {
        let key = key?;
        let version = |v: &Option<Bytes>| v.as_ref().map(|b| i16::from_be_bytes([b[0], b[1]]));
        match self {
            InternalFormatter::Offsets | InternalFormatter::GroupMetadata => {
                let record = GroupRecord::decode(key, value).ok()??;
                let key_type = i16::from_be_bytes([key[0], key[1]]);
                let (data, value_json) = match (&record, self) {
                    (GroupRecord::Offset { key: k, value: v }, InternalFormatter::Offsets) => (
                        format!(
                            "{{\"group\":{},\"topic\":{},\"partition\":{}}}",
                            s(&k.group),
                            s(&k.topic),
                            k.partition
                        ),
                        v.as_ref().map(|v| {
                            let mut d = format!(
                                "{{\"offset\":{},\"leaderEpoch\":{},\"metadata\":{},\"commitTimestamp\":{}",
                                v.offset,
                                v.leader_epoch,
                                s(&v.metadata),
                                v.commit_timestamp_ms
                            );
                            if let Some(e) = v.expire_timestamp_ms {
                                d.push_str(&format!(",\"expireTimestamp\":{e}"));
                            }
                            d.push('}');
                            d
                        }),
                    ),
                    (GroupRecord::Group { group, value: v }, InternalFormatter::GroupMetadata) => (
                        format!("{{\"group\":{}}}", s(group)),
                        v.as_ref().map(|v| {
                            let members: Vec<String> = v
                                .members
                                .iter()
                                .map(|m| {
                                    format!(
                                        "{{\"memberId\":{},\"groupInstanceId\":{},\"clientId\":{},\"clientHost\":{},\"rebalanceTimeout\":{},\"sessionTimeout\":{},\"subscription\":{},\"assignment\":{}}}",
                                        s(&m.member_id),
                                        opt(m.group_instance_id.as_deref()),
                                        s(&m.client_id),
                                        s(&m.client_host),
                                        m.rebalance_timeout_ms,
                                        m.session_timeout_ms,
                                        s(&base64(&m.subscription)),
                                        s(&base64(&m.assignment))
                                    )
                                })
                                .collect();
                            format!(
                                "{{\"protocolType\":{},\"generation\":{},\"protocol\":{},\"leader\":{},\"currentStateTimestamp\":{},\"members\":[{}]}}",
                                s(&v.protocol_type),
                                v.generation,
                                opt(v.protocol.as_deref()),
                                opt(v.leader.as_deref()),
                                v.current_state_timestamp_ms,
                                members.join(",")
                            )
                        }),
                    ),
                    _ => return None,
                };
                let value_version = version(&record.encode_value());
                Some(envelope("type", key_type, &data, value_version, value_json))
            }
            InternalFormatter::TransactionLog => {
                let record = TxnRecord::decode(key, value).ok()??;
                let data = format!("{{\"transactionalId\":{}}}", s(&record.transactional_id));
                let value_json = record.value.as_ref().map(|v| {
                    let partitions: Vec<String> = v
                        .partitions
                        .iter()
                        .map(|(t, ids)| {
                            let ids: Vec<String> = ids.iter().map(i32::to_string).collect();
                            format!("{{\"topic\":{},\"partitionIds\":[{}]}}", s(t), ids.join(","))
                        })
                        .collect();
                    format!(
                        "{{\"producerId\":{},\"producerEpoch\":{},\"transactionTimeoutMs\":{},\"transactionStatus\":{},\"transactionPartitions\":[{}],\"transactionLastUpdateTimestampMs\":{},\"transactionStartTimestampMs\":{}}}",
                        v.producer_id,
                        v.producer_epoch,
                        v.timeout_ms,
                        v.status.id(),
                        partitions.join(","),
                        v.last_update_ms,
                        v.start_ms
                    )
                });
                let value_version = version(&record.encode_value());
                Some(envelope("version", 0, &data, value_version, value_json))
            }
        }
    }
}

/// `{"key":{"<kind>":N,"data":KEY},"value":{"version":V,"data":VALUE}|null}`.
fn envelope(
    kind: &str,
    key_version: i16,
    key: &str,
    value_version: Option<i16>,
    value: Option<String>,
) -> String {
    let value = match (value_version, value) {
        (Some(v), Some(data)) => format!("{{\"version\":{v},\"data\":{data}}}"),
        _ => "null".to_string(),
    };
    format!("{{\"key\":{{\"{kind}\":{key_version},\"data\":{key}}},\"value\":{value}}}")
}

/// A JSON string.
fn s(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON string or null.
fn opt(text: Option<&str>) -> String {
    text.map_or_else(|| "null".to_string(), s)
}

/// Standard base64 with padding (how Kafka's JSON converters print bytes).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_coordinator::group::records::{OffsetCommitValue, OffsetKey};
    use kavka_coordinator::txn::{TxnLogValue, TxnStatus};

    #[test]
    fn class_names_of_kafka_3_and_4() {
        for class in [
            "kafka.coordinator.group.GroupMetadataManager$OffsetsMessageFormatter",
            "org.apache.kafka.tools.consumer.OffsetsMessageFormatter",
        ] {
            assert_eq!(
                InternalFormatter::by_class(class),
                Some(InternalFormatter::Offsets)
            );
        }
        assert_eq!(
            InternalFormatter::by_class(
                "kafka.coordinator.transaction.TransactionLog$TransactionLogMessageFormatter"
            ),
            Some(InternalFormatter::TransactionLog)
        );
        assert_eq!(InternalFormatter::by_class("com.example.Mine"), None);
    }

    #[test]
    fn offsets_and_transactions_print_as_kafka_4() {
        let r = GroupRecord::Offset {
            key: OffsetKey {
                group: "g".into(),
                topic: "t".into(),
                partition: 2,
            },
            value: Some(OffsetCommitValue {
                offset: 5,
                leader_epoch: -1,
                metadata: "m\"x".into(),
                commit_timestamp_ms: 1000,
                expire_timestamp_ms: None,
            }),
        };
        let line = InternalFormatter::Offsets
            .format(Some(&r.encode_key()), r.encode_value().as_deref())
            .unwrap();
        assert_eq!(
            line,
            r#"{"key":{"type":1,"data":{"group":"g","topic":"t","partition":2}},"value":{"version":3,"data":{"offset":5,"leaderEpoch":-1,"metadata":"m\"x","commitTimestamp":1000}}}"#
        );
        assert_eq!(
            InternalFormatter::GroupMetadata
                .format(Some(&r.encode_key()), r.encode_value().as_deref()),
            None
        );
        let t = TxnRecord {
            transactional_id: "tx".into(),
            value: Some(TxnLogValue {
                producer_id: 7,
                previous_producer_id: -1,
                next_producer_id: -1,
                producer_epoch: 1,
                timeout_ms: 60000,
                status: TxnStatus::Ongoing,
                partitions: vec![("t".into(), vec![0, 1])],
                last_update_ms: 2,
                start_ms: 1,
                client_transaction_version: 0,
            }),
        };
        let line = InternalFormatter::TransactionLog
            .format(Some(&t.encode_key()), t.encode_value().as_deref())
            .unwrap();
        assert_eq!(
            line,
            r#"{"key":{"version":0,"data":{"transactionalId":"tx"}},"value":{"version":0,"data":{"producerId":7,"producerEpoch":1,"transactionTimeoutMs":60000,"transactionStatus":1,"transactionPartitions":[{"topic":"t","partitionIds":[0,1]}],"transactionLastUpdateTimestampMs":2,"transactionStartTimestampMs":1}}}"#
        );
        assert!(InternalFormatter::TransactionLog
            .format(Some(&t.encode_key()), None)
            .unwrap()
            .ends_with(r#""value":null}"#));
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
