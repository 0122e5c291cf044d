"""confluent-kafka helpers: clients configured for kavka (no groups; librdkafka's default producer, not idempotent)."""

from __future__ import annotations

import time
from typing import Dict, List, Tuple

from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_CREATE_TIME,
    Consumer,
    KafkaError,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from helpers import N_PARTITIONS, Got, index_of

TIMEOUT = 15.0


def admin(bootstrap: str) -> AdminClient:
    """Keep the returned client referenced until its futures resolve: a
    collected AdminClient fails them with _DESTROY."""
    return AdminClient({"bootstrap.servers": bootstrap})


def producer(bootstrap: str, **extra) -> Producer:
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 5,
    }
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return Producer(conf)


def consumer(bootstrap: str, **extra) -> Consumer:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": "kavka-tests-unused",  # required by the client, never used
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "check.crcs": True,
        "fetch.wait.max.ms": 100,
    }
    conf.update({k.replace("_", "."): v for k, v in extra.items()})
    return Consumer(conf)


def create_topic(bootstrap: str, topic: str, partitions: int = N_PARTITIONS, config=None) -> None:
    a = admin(bootstrap)  # must outlive the futures
    fs = a.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})],
        operation_timeout=10,
        request_timeout=TIMEOUT,
    )
    fs[topic].result(timeout=TIMEOUT)


def topic_partitions(bootstrap: str, topic: str) -> List[int]:
    md = admin(bootstrap).list_topics(topic=topic, timeout=TIMEOUT)
    t = md.topics[topic]
    assert t.error is None, f"metadata error for {topic}: {t.error}"
    return sorted(t.partitions)


def produce_all(p: Producer, topic: str, recs) -> Dict[int, Tuple[int, int]]:
    """Produces recs in order; returns index -> (partition, offset) from delivery reports."""
    acked: Dict[int, Tuple[int, int]] = {}
    errors: List[str] = []

    def on_delivery(err, msg):
        if err is not None:
            errors.append(f"{err} (value {msg.value()[:40]!r})")
            return
        acked[index_of(msg.value())] = (msg.partition(), msg.offset())

    for r in recs:
        while True:
            try:
                p.produce(
                    topic,
                    key=r.key,
                    value=r.value,
                    headers=list(r.headers),
                    timestamp=r.timestamp,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(60)
    assert left == 0, f"{left} messages still undelivered after 60s"
    assert not errors, f"{len(errors)} delivery errors, first: {errors[:5]}"
    assert len(acked) == len(recs)
    return acked


def consume_all(c: Consumer, topic: str, expected: int, partitions=range(N_PARTITIONS), timeout=60.0) -> List[Got]:
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    got: List[Got] = []
    deadline = time.monotonic() + timeout
    while len(got) < expected:
        assert time.monotonic() < deadline, f"consumed only {len(got)}/{expected} records in {timeout}s"
        for m in c.consume(num_messages=1000, timeout=0.5):
            if m.error() is not None:
                assert m.error().code() == KafkaError._PARTITION_EOF, f"consumer error: {m.error()}"
                continue
            ts_type, ts = m.timestamp()
            got.append(
                Got(
                    partition=m.partition(),
                    offset=m.offset(),
                    key=m.key(),
                    value=m.value(),
                    headers=tuple(m.headers() or ()),
                    timestamp=ts,
                    create_time=ts_type == TIMESTAMP_CREATE_TIME,
                )
            )
    return got
