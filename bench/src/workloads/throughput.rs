//! P1 (produce) and P2 (consume what P1 wrote).

use std::sync::atomic::AtomicU64;

use anyhow::Result;
use rdkafka::producer::Producer;

use super::{topic_name, Target};
use crate::kafka::{self, ProducerSettings};
use crate::progress::with_progress;
use crate::report::{Figures, Row};
use crate::Options;

/// P1's producer, as the issue fixes it.
const P1_LINGER_MS: u32 = 5;
/// Records per transaction of the transactional P1 case.
const TXN_RECORDS: u64 = 1_000;

/// A topic P1 filled, for P2 to read back.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    /// e.g. "1 KiB".
    pub label: &'static str,
    pub topic: String,
    /// Records written (markers are not records).
    pub records: u64,
    /// Read it back at read_committed (a transactional topic).
    pub read_committed: bool,
}

struct ProduceCase {
    label: &'static str,
    value_size: usize,
    records: u64,
    acks: &'static str,
    /// Topic configs: `flush.messages=1` makes the broker fsync before each acknowledgement.
    topic_configs: &'static [(&'static str, &'static str)],
    /// Whether P2 reads this topic back.
    consume: bool,
    /// An idempotent producer (acks=all): the broker checks every batch's sequence.
    idempotent: bool,
    /// `max.in.flight.requests.per.connection` (librdkafka's default when `None`).
    max_in_flight: Option<u32>,
    /// Records per transaction (a transactional producer), `None` for none.
    txn_records: Option<u64>,
}

/// P1: one producer per case, each to a new topic.
pub(crate) fn produce(target: &Target, o: &Options) -> Result<(Vec<Row>, Vec<Written>)> {
    let cases = [
        ProduceCase {
            label: "1 KiB",
            value_size: 1024,
            records: o.records_1k,
            acks: "1",
            topic_configs: &[],
            consume: true,
            idempotent: false,
            max_in_flight: None,
            txn_records: None,
        },
        ProduceCase {
            label: "100 B",
            value_size: 100,
            records: o.records_100b,
            acks: "1",
            topic_configs: &[],
            consume: true,
            idempotent: false,
            max_in_flight: None,
            txn_records: None,
        },
        ProduceCase {
            label: "1 KiB durable",
            value_size: 1024,
            records: o.records_durable,
            acks: "all",
            topic_configs: &[("flush.messages", "1")],
            consume: false,
            idempotent: false,
            max_in_flight: None,
            txn_records: None,
        },
        // The same producer without idempotence, as librdkafka runs an idempotent one (acks=all,
        // at most 5 requests in flight): the idempotent rows' baseline.
        ProduceCase {
            label: "1 KiB in-flight 5",
            value_size: 1024,
            records: o.records_1k,
            acks: "all",
            topic_configs: &[],
            consume: false,
            idempotent: false,
            max_in_flight: Some(5),
            txn_records: None,
        },
        ProduceCase {
            label: "1 KiB idempotent",
            value_size: 1024,
            records: o.records_1k,
            acks: "all",
            topic_configs: &[],
            consume: false,
            idempotent: true,
            max_in_flight: None,
            txn_records: None,
        },
        ProduceCase {
            label: "100 B in-flight 5",
            value_size: 100,
            records: o.records_100b,
            acks: "all",
            topic_configs: &[],
            consume: false,
            idempotent: false,
            max_in_flight: Some(5),
            txn_records: None,
        },
        ProduceCase {
            label: "100 B idempotent",
            value_size: 100,
            records: o.records_100b,
            acks: "all",
            topic_configs: &[],
            consume: false,
            idempotent: true,
            max_in_flight: None,
            txn_records: None,
        },
        // Transactions of 1 000 records (librdkafka's transactional producer: idempotent,
        // acks=all, 5 in flight), read back at read_committed by P2.
        ProduceCase {
            label: "1 KiB transactional",
            value_size: 1024,
            records: o.records_1k,
            acks: "all",
            topic_configs: &[],
            consume: true,
            idempotent: true,
            max_in_flight: None,
            txn_records: Some(TXN_RECORDS),
        },
    ];
    let (mut rows, mut written) = (Vec::new(), Vec::new());
    for case in cases {
        let kind = match (case.idempotent, case.max_in_flight) {
            _ if case.txn_records.is_some() => "-txn",
            (true, _) => "-idem",
            (false, Some(_)) => "-inflight5",
            _ => "",
        };
        let topic = topic_name(&format!("p1-{}{kind}", case.value_size));
        kafka::create_topic(&target.bootstrap, &topic, o.partitions, case.topic_configs)?;
        let producer = kafka::producer(
            &target.bootstrap,
            ProducerSettings {
                acks: case.acks,
                linger_ms: P1_LINGER_MS,
                idempotent: case.idempotent,
                max_in_flight: case.max_in_flight,
                transactional_id: case.txn_records.map(|_| "kavka-bench-txn"),
            },
        )?;
        let fsync = if case.topic_configs.is_empty() {
            ""
        } else {
            " (fsync per ack)"
        };
        let workload = format!("P1 produce {} acks={}{fsync}", case.label, case.acks);
        eprintln!("{workload}: {} records to {topic}", case.records);
        kafka::warm_up(
            &producer,
            &target.bootstrap,
            &format!("{topic}-warmup"),
            case.txn_records.is_some(),
        )?;
        let delivered = producer.context().delivered.clone();
        let (moved, broker) = target.measure(|| {
            let moved = with_progress(&workload, o.progress_every(), &delivered, || {
                kafka::produce_n(
                    &producer,
                    &topic,
                    o.partitions,
                    case.records,
                    case.value_size,
                    case.txn_records,
                )
            })?;
            Ok((moved, moved.bytes))
        })?;
        rows.push(Row {
            workload,
            figures: Figures::Throughput { moved, broker },
        });
        if case.consume {
            written.push(Written {
                label: case.label,
                topic,
                records: case.records,
                read_committed: case.txn_records.is_some(),
            });
        }
    }
    Ok((rows, written))
}

/// P2: one consumer per topic P1 wrote, from the beginning to the high watermark.
pub(crate) fn consume(target: &Target, o: &Options, written: &[Written]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for w in written {
        let isolation = if w.read_committed {
            " read_committed"
        } else {
            ""
        };
        let workload = format!("P2 consume {}{isolation}", w.label);
        eprintln!("{workload}: {}", w.topic);
        let counter = AtomicU64::new(0);
        let (moved, broker) = target.measure(|| {
            let moved = with_progress(&workload, o.progress_every(), &counter, || {
                kafka::consume_all(
                    &target.bootstrap,
                    &w.topic,
                    o.partitions,
                    &counter,
                    Some(w.records),
                    w.read_committed,
                )
            })?;
            Ok((moved, moved.bytes))
        })?;
        rows.push(Row {
            workload,
            figures: Figures::Throughput { moved, broker },
        });
    }
    Ok(rows)
}
