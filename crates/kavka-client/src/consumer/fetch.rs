//! Fetching from one leader and turning its record batches into [`ConsumerRecord`]s.

use std::collections::HashSet;

use bytes::Bytes;
use kavka_protocol::api::ApiKey;
use kavka_protocol::batch::{BatchIter, BatchView};
use kavka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kavka_protocol::messages::FetchRequest;
use kavka_protocol::records::RecordIter;
use kavka_protocol::request::Request;
use std::time::Duration;

use super::{ConsumerRecord, TimestampType};
use crate::client::Client;
use crate::config::ConsumerConfig;
use crate::connection::expect_response;
use crate::error::{ClientError, KafkaError};
use crate::wire::topic_name;

/// Control record type of an aborted transaction's marker.
const CONTROL_ABORT: i16 = 0;

/// One partition's part of a fetch answer.
#[derive(Debug)]
pub(crate) struct PartitionFetch {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// The offset fetched from.
    pub(crate) fetch_offset: i64,
    pub(crate) error: Option<KafkaError>,
    /// The records section (whole batches, perhaps a partial last one).
    pub(crate) records: Bytes,
    /// (producer id, first offset) of aborted transactions (read_committed).
    pub(crate) aborted: Vec<(i64, i64)>,
}

/// Sends one Fetch to `leader` for `partitions` (topic, partition, offset), waiting at most
/// `max_wait_ms` at the broker.
pub(crate) async fn fetch(
    client: Client,
    leader: i32,
    partitions: Vec<(String, i32, i64)>,
    config: ConsumerConfig,
    max_wait_ms: i32,
) -> Result<Vec<PartitionFetch>, ClientError> {
    let mut topics: Vec<(String, Vec<(i32, i64)>)> = Vec::new();
    for (t, p, o) in &partitions {
        match topics.iter_mut().find(|(name, _)| name == t) {
            Some((_, ps)) => ps.push((*p, *o)),
            None => topics.push((t.clone(), vec![(*p, *o)])),
        }
    }
    let ids: Vec<uuid::Uuid> = topics.iter().map(|(t, _)| client.topic_id(t)).collect();
    let extra = Duration::from_millis(max_wait_ms.max(0) as u64);
    let (version, response) = client
        .request_with_timeout(leader, ApiKey::Fetch, extra, |_| {
            Request::Fetch(
                FetchRequest::default()
                    .with_max_wait_ms(max_wait_ms)
                    .with_min_bytes(config.fetch_min_bytes)
                    .with_max_bytes(config.fetch_max_bytes)
                    .with_isolation_level(config.isolation_level.code())
                    .with_session_id(0)
                    .with_session_epoch(-1)
                    .with_topics(
                        topics
                            .iter()
                            .zip(&ids)
                            .map(|((t, ps), id)| {
                                FetchTopic::default()
                                    .with_topic(topic_name(t))
                                    .with_topic_id(*id)
                                    .with_partitions(
                                        ps.iter()
                                            .map(|(p, o)| {
                                                FetchPartition::default()
                                                    .with_partition(*p)
                                                    .with_fetch_offset(*o)
                                                    .with_partition_max_bytes(
                                                        config.max_partition_fetch_bytes,
                                                    )
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    ),
            )
        })
        .await?;
    let r = expect_response!(response, Fetch)?;
    KafkaError::check(r.error_code, None)?;
    let mut out = Vec::new();
    for t in r.responses {
        let name = if version >= 13 {
            match topics.iter().zip(&ids).find(|(_, id)| **id == t.topic_id) {
                Some(((name, _), _)) => name.clone(),
                None => continue,
            }
        } else {
            t.topic.0.to_string()
        };
        for p in t.partitions {
            let fetch_offset = partitions
                .iter()
                .find(|(tn, pn, _)| *tn == name && *pn == p.partition_index)
                .map_or(-1, |(_, _, o)| *o);
            out.push(PartitionFetch {
                topic: name.clone(),
                partition: p.partition_index,
                fetch_offset,
                error: KafkaError::from_wire(p.error_code, None),
                records: p.records.unwrap_or_default(),
                aborted: p
                    .aborted_transactions
                    .unwrap_or_default()
                    .iter()
                    .map(|a| (a.producer_id.0, a.first_offset))
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// The records of a fetched partition at or after `position`, and the offset to fetch next
/// (past every whole batch, control batches and skipped records included). A partial batch at
/// the end (cut by the size limits) is left for the next fetch.
pub(crate) fn decode(
    fetched: &PartitionFetch,
    position: i64,
) -> Result<(Vec<ConsumerRecord>, i64), ClientError> {
    let mut records = Vec::new();
    let mut next = position;
    let mut aborted_open: HashSet<i64> = HashSet::new();
    let mut aborted: Vec<(i64, i64)> = fetched.aborted.clone();
    aborted.sort_by_key(|(_, first)| *first);
    let mut aborted = aborted.into_iter().peekable();
    for view in BatchIter::new(&fetched.records) {
        let Ok(view) = view else { break };
        view.verify_crc().map_err(|e| {
            ClientError::Codec(format!("{}-{}: {e}", fetched.topic, fetched.partition))
        })?;
        if view.next_offset() <= position {
            continue;
        }
        while let Some((pid, _)) = aborted.next_if(|(_, first)| *first <= view.last_offset()) {
            aborted_open.insert(pid);
        }
        next = next.max(view.next_offset());
        if view.is_control() {
            if control_type(&view) == Some(CONTROL_ABORT) {
                aborted_open.remove(&view.producer_id());
            }
            continue;
        }
        if view.is_transactional() && aborted_open.contains(&view.producer_id()) {
            continue;
        }
        let timestamp_type = if view.is_log_append_time() {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        };
        let iter = RecordIter::new(&view).map_err(|e| {
            ClientError::Codec(format!("{}-{}: {e}", fetched.topic, fetched.partition))
        })?;
        for r in iter {
            let r = r.map_err(|e| {
                ClientError::Codec(format!("{}-{}: {e}", fetched.topic, fetched.partition))
            })?;
            if r.offset < position {
                continue;
            }
            records.push(ConsumerRecord {
                topic: fetched.topic.clone(),
                partition: fetched.partition,
                offset: r.offset,
                timestamp_ms: r.timestamp,
                timestamp_type,
                key: r.key,
                value: r.value,
                headers: r
                    .headers
                    .into_iter()
                    .map(|h| (String::from_utf8_lossy(&h.key).into_owned(), h.value))
                    .collect(),
                leader_epoch: view.partition_leader_epoch(),
            });
        }
    }
    Ok((records, next))
}

/// The type of a control batch (its first record's key: version, type).
fn control_type(view: &BatchView<'_>) -> Option<i16> {
    let record = RecordIter::new(view).ok()?.next()?.ok()?;
    let key = record.key?;
    (key.len() >= 4).then(|| i16::from_be_bytes([key[2], key[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kavka_protocol::batch::{assign_offsets, attributes, Compression};
    use kavka_protocol::records::BatchBuilder;

    /// A batch of `values` at `base`, optionally transactional / control of producer `pid`.
    fn batch(base: i64, values: &[&str], pid: Option<i64>, control: bool) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::Lz4);
        for v in values {
            let key: &[u8] = if control { &[0, 0, 0, 0] } else { b"k" };
            b.append(1_000, Some(key), Some(v.as_bytes()), &[]);
        }
        let mut bytes = b.build().unwrap().to_vec();
        assign_offsets(&mut bytes, base, 3, None);
        if let Some(pid) = pid {
            let mut attrs = i16::from_be_bytes([bytes[21], bytes[22]]) | attributes::TRANSACTIONAL;
            if control {
                attrs |= attributes::CONTROL;
            }
            bytes[21..23].copy_from_slice(&attrs.to_be_bytes());
            bytes[43..51].copy_from_slice(&pid.to_be_bytes());
            let crc = crc32c::crc32c(&bytes[21..]);
            bytes[17..21].copy_from_slice(&crc.to_be_bytes());
        }
        bytes
    }

    fn fetched(aborted: Vec<(i64, i64)>, partial_tail: bool) -> PartitionFetch {
        let mut records = batch(0, &["a", "b", "c", "d", "e"], None, false);
        records.extend(batch(5, &["t1", "t2", "t3"], Some(7), false));
        records.extend(batch(8, &["marker"], Some(7), true));
        let last = batch(9, &["f", "g"], None, false);
        records.extend(&last);
        if partial_tail {
            records.extend(&last[..30]);
        }
        PartitionFetch {
            topic: "t".into(),
            partition: 0,
            fetch_offset: 2,
            error: None,
            records: Bytes::from(records),
            aborted,
        }
    }

    fn values(records: &[ConsumerRecord]) -> Vec<(i64, String)> {
        records
            .iter()
            .map(|r| {
                (
                    r.offset,
                    String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn records_before_the_position_and_control_batches_are_skipped() {
        let (records, next) = decode(&fetched(Vec::new(), true), 2).unwrap();
        let got: Vec<i64> = values(&records).iter().map(|(o, _)| *o).collect();
        assert_eq!(got, vec![2, 3, 4, 5, 6, 7, 9, 10]);
        assert_eq!(next, 11, "past the last whole batch, not the partial one");
        assert_eq!(records[0].leader_epoch, 3);
        assert_eq!(records[0].timestamp_type, TimestampType::CreateTime);
    }

    #[test]
    fn aborted_transactions_are_filtered() {
        let (records, next) = decode(&fetched(vec![(7, 5)], false), 0).unwrap();
        let got: Vec<i64> = values(&records).iter().map(|(o, _)| *o).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 9, 10]);
        assert_eq!(next, 11);
    }

    #[test]
    fn a_fetch_of_only_old_records_still_moves_on() {
        let (records, next) = decode(&fetched(Vec::new(), false), 11).unwrap();
        assert!(records.is_empty());
        assert_eq!(next, 11);
    }
}
