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

/// A topic P1 filled, for P2 to read back.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    /// e.g. "1 KiB".
    pub label: &'static str,
    pub topic: String,
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
        },
        ProduceCase {
            label: "100 B",
            value_size: 100,
            records: o.records_100b,
            acks: "1",
            topic_configs: &[],
            consume: true,
            idempotent: false,
        },
        ProduceCase {
            label: "1 KiB durable",
            value_size: 1024,
            records: o.records_durable,
            acks: "all",
            topic_configs: &[("flush.messages", "1")],
            consume: false,
            idempotent: false,
        },
        ProduceCase {
            label: "1 KiB idempotent",
            value_size: 1024,
            records: o.records_1k,
            acks: "all",
            topic_configs: &[],
            consume: false,
            idempotent: true,
        },
        ProduceCase {
            label: "100 B idempotent",
            value_size: 100,
            records: o.records_100b,
            acks: "all",
            topic_configs: &[],
            consume: false,
            idempotent: true,
        },
    ];
    let (mut rows, mut written) = (Vec::new(), Vec::new());
    for case in cases {
        let kind = if case.idempotent { "-idem" } else { "" };
        let topic = topic_name(&format!("p1-{}{kind}", case.value_size));
        kafka::create_topic(&target.bootstrap, &topic, o.partitions, case.topic_configs)?;
        let producer = kafka::producer(
            &target.bootstrap,
            ProducerSettings {
                acks: case.acks,
                linger_ms: P1_LINGER_MS,
                idempotent: case.idempotent,
            },
        )?;
        let fsync = if case.topic_configs.is_empty() {
            ""
        } else {
            " (fsync per ack)"
        };
        let workload = format!("P1 produce {} acks={}{fsync}", case.label, case.acks);
        eprintln!("{workload}: {} records to {topic}", case.records);
        let delivered = producer.context().delivered.clone();
        let (moved, broker) = target.measure(|| {
            let moved = with_progress(&workload, o.progress_every(), &delivered, || {
                kafka::produce_n(
                    &producer,
                    &topic,
                    o.partitions,
                    case.records,
                    case.value_size,
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
            });
        }
    }
    Ok((rows, written))
}

/// P2: one consumer per topic P1 wrote, from the beginning to the high watermark.
pub(crate) fn consume(target: &Target, o: &Options, written: &[Written]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for w in written {
        let workload = format!("P2 consume {}", w.label);
        eprintln!("{workload}: {}", w.topic);
        let counter = AtomicU64::new(0);
        let (moved, broker) = target.measure(|| {
            let moved = with_progress(&workload, o.progress_every(), &counter, || {
                kafka::consume_all(&target.bootstrap, &w.topic, o.partitions, &counter)
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
