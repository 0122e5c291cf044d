"""A consume-transform-produce worker for test_transactions.py (run as a subprocess, killed
by the test): reads SRC in GROUP at read_committed, writes each record unchanged to DST and
commits the input offsets inside the same transaction. Runs until it is killed."""

from __future__ import annotations

import sys

from confluent_kafka import Consumer, Producer

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


while True:  # until the test kills it
    batch = consumer.consume(num_messages=100, timeout=0.5)
    batch = [m for m in batch if m.error() is None]
    if not batch:
        continue
    producer.begin_transaction()
    for m in batch:
        producer.produce(dst, key=m.key(), value=m.value())
    producer.send_offsets_to_transaction(
        consumer.position(consumer.assignment()),
        consumer.consumer_group_metadata(),
        30,
    )
    producer.commit_transaction(30)
