"""A consume-transform-produce worker for test_transactions.py (run as a subprocess, killed
by the test): reads SRC in GROUP at read_committed, writes each record unchanged to DST and
commits the input offsets inside the same transaction. Exits 0 once its group's committed
offsets reach the end of SRC."""

from __future__ import annotations

import sys

from confluent_kafka import Consumer, Producer, TopicPartition

bootstrap, src, dst, group = sys.argv[1:5]

consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "enable.auto.commit": False,
    "isolation.level": "read_committed",
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
})
producer = Producer({
    "bootstrap.servers": bootstrap,
    # One transactional id for the pipeline stage: a restarted worker fences the killed one.
    "transactional.id": f"{group}-worker",
    "linger.ms": 5,
})
producer.init_transactions(30)
consumer.subscribe([src])


def caught_up() -> bool:
    assigned = consumer.assignment()
    if not assigned:
        return False
    committed = consumer.committed(assigned, timeout=10)
    for tp in committed:
        _, high = consumer.get_watermark_offsets(TopicPartition(src, tp.partition), timeout=10, cached=False)
        if tp.offset < high:
            return False
    return len(assigned) == len(consumer.list_topics(src, timeout=10).topics[src].partitions)


idle = 0
while True:
    batch = consumer.consume(num_messages=100, timeout=0.5)
    batch = [m for m in batch if m.error() is None]
    if not batch:
        idle += 1
        if idle >= 4 and caught_up():
            break
        continue
    idle = 0
    producer.begin_transaction()
    for m in batch:
        producer.produce(dst, key=m.key(), value=m.value())
    producer.send_offsets_to_transaction(
        consumer.position(consumer.assignment()),
        consumer.consumer_group_metadata(),
        30,
    )
    producer.commit_transaction(30)

consumer.close()
