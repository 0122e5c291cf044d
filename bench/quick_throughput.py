#!/usr/bin/env python3
"""Quick produce/consume throughput of a Kafka-compatible broker, through confluent-kafka
(librdkafka). A baseline figure, not the benchmark suite: single producer, single consumer,
one topic, records of a fixed size.

    .venv/bin/python bench/quick_throughput.py --bootstrap 127.0.0.1:9092 --records 500000 --record-size 1024
"""
import argparse
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", default="127.0.0.1:9092")
    ap.add_argument("--records", type=int, default=500_000)
    ap.add_argument("--record-size", type=int, default=1024)
    ap.add_argument("--partitions", type=int, default=6)
    ap.add_argument("--acks", default="1")
    ap.add_argument("--compression", default="none")
    args = ap.parse_args()

    topic = f"quick-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    admin.create_topics([NewTopic(topic, args.partitions, 1)])[topic].result(10)

    value = b"x" * args.record_size
    p = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": args.acks,
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "compression.type": args.compression,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
    })
    start = time.perf_counter()
    for i in range(args.records):
        while True:
            try:
                p.produce(topic, value, partition=i % args.partitions)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10_000 == 0:
            p.poll(0)
    remaining = p.flush(120)
    produce_s = time.perf_counter() - start
    assert remaining == 0, f"{remaining} records not delivered"

    c = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "quick-throughput",
        "enable.auto.commit": False,
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 10_485_760,
    })
    c.assign([TopicPartition(topic, part, OFFSET_BEGINNING) for part in range(args.partitions)])
    got = 0
    start = time.perf_counter()
    while got < args.records:
        msgs = c.consume(10_000, 5)
        if not msgs:
            raise SystemExit(f"consumer stalled at {got} records")
        for m in msgs:
            if m.error():
                raise SystemExit(f"consume error: {m.error()}")
        got += len(msgs)
    consume_s = time.perf_counter() - start
    c.close()
    admin.delete_topics([topic])[topic].result(10)

    mb = args.records * args.record_size / 1e6
    print(f"records={args.records} record_size={args.record_size}B partitions={args.partitions} acks={args.acks} compression={args.compression}")
    print(f"produce: {args.records / produce_s:,.0f} records/s  {mb / produce_s:,.1f} MB/s  ({produce_s:.2f} s)")
    print(f"consume: {got / consume_s:,.0f} records/s  {mb / consume_s:,.1f} MB/s  ({consume_s:.2f} s)")


if __name__ == "__main__":
    main()
