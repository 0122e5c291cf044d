"""Idempotent producers with the clients' own defaults, and exactly-once delivery across
broker crashes.

kafka-python 3.x enables idempotence by default, so its plain ``KafkaProducer(bootstrap_servers=...)``
is the first thing checked. confluent-kafka (librdkafka) and aiokafka leave it off by default;
they are run with ``enable.idempotence`` / ``enable_idempotence`` switched on, which is what an
exactly-once user sets. The stored batches are read back with ``kavka dump-log`` to check that
they really carry a producer id and sequences, so a client silently falling back to plain
produce would fail the test.
"""

from __future__ import annotations

import asyncio
import glob
import os
import subprocess
import time
from collections import defaultdict
from typing import Dict, List, Tuple

from aiokafka import AIOKafkaProducer
from confluent_kafka import Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer

from cfk import TIMEOUT, consume_all, consumer, create_topic
from conftest import kavka_bin

N_PARTITIONS = 3


def read_values(bootstrap: str, topic: str, expected: int) -> Dict[int, List[bytes]]:
    """Every record of the topic by partition, in offset order (confluent-kafka consumer)."""
    c = consumer(bootstrap)
    try:
        got = consume_all(c, topic, expected, partitions=range(N_PARTITIONS))
    finally:
        c.close()
    by_partition: Dict[int, List[Tuple[int, bytes]]] = defaultdict(list)
    for g in got:
        by_partition[g.partition].append((g.offset, g.value))
    return {p: [v for _, v in sorted(rs)] for p, rs in by_partition.items()}


def producer_ids_in_log(data_dir, topic: str) -> Dict[int, List[Tuple[int, int, int]]]:
    """(producerId, baseSequence, lastSequence) of every stored batch, by partition, from
    `kavka dump-log` over the segment files."""
    out: Dict[int, List[Tuple[int, int, int]]] = {}
    for p in range(N_PARTITIONS):
        files = sorted(glob.glob(os.path.join(str(data_dir), f"{topic}-{p}", "*.log")))
        if not files:
            continue
        text = subprocess.run(
            [kavka_bin(), "dump-log", "--files", ",".join(files)],
            check=True, capture_output=True, text=True,
        ).stdout
        batches = []
        for line in text.splitlines():
            if not line.startswith("baseOffset:"):
                continue
            f = line.split()
            field = lambda name: int(f[f.index(name) + 1])  # noqa: E731
            batches.append((field("producerId:"), field("baseSequence:"), field("lastSequence:")))
        out[p] = batches
    return out


def check_sequences(batches_by_partition) -> None:
    """Every batch has a producer id; per producer and partition the sequences run 0, 1, 2, ...
    without a gap or a repeat."""
    for p, batches in batches_by_partition.items():
        next_seq: Dict[int, int] = {}
        for pid, base, last in batches:
            assert pid >= 0, f"p{p}: a batch without a producer id: idempotence was not used"
            assert base == next_seq.get(pid, 0), f"p{p}: producer {pid} batch at seq {base}, expected {next_seq.get(pid, 0)}"
            next_seq[pid] = last + 1


def test_kafka_python_default_producer_is_idempotent_and_works(broker):
    bs = broker.bootstrap
    create_topic(bs, "kp-default")
    p = KafkaProducer(bootstrap_servers=bs)  # exactly the tutorials' first line
    assert p.config["enable_idempotence"] is True, "kafka-python's default changed: test premise gone"
    futures = [p.send("kp-default", key=f"k{i % 10}".encode(), value=f"v{i}".encode()) for i in range(600)]
    p.flush(timeout=TIMEOUT)
    offsets = [f.get(timeout=TIMEOUT) for f in futures]
    p.close()
    assert len({(m.partition, m.offset) for m in offsets}) == 600
    got = read_values(bs, "kp-default", 600)
    assert sorted(v for vs in got.values() for v in vs) == sorted(f"v{i}".encode() for i in range(600))
    # per key, the order of sends survives
    for vs in got.values():
        by_key = defaultdict(list)
        for v in vs:
            i = int(v[1:])
            by_key[i % 10].append(i)
        assert all(ids == sorted(ids) for ids in by_key.values())
    check_sequences(producer_ids_in_log(broker.data_dir, "kp-default"))

    # and its consumer reads them back too
    c = KafkaConsumer("kp-default", bootstrap_servers=bs, auto_offset_reset="earliest",
                      consumer_timeout_ms=5000, enable_auto_commit=False)
    assert len(list(c)) == 600
    c.close()


def test_confluent_kafka_idempotent_producer(broker):
    bs = broker.bootstrap
    create_topic(bs, "cfk-idem")
    p = Producer({"bootstrap.servers": bs, "enable.idempotence": True, "linger.ms": 2})
    errors = []
    for i in range(5000):
        p.produce("cfk-idem", key=f"k{i % 50}".encode(), value=f"v{i}".encode(),
                  on_delivery=lambda err, msg: err and errors.append(err))
        p.poll(0)
    assert p.flush(TIMEOUT) == 0 and not errors, errors
    got = read_values(bs, "cfk-idem", 5000)
    assert sum(len(v) for v in got.values()) == 5000
    check_sequences(producer_ids_in_log(broker.data_dir, "cfk-idem"))


def test_aiokafka_idempotent_producer(broker):
    bs = broker.bootstrap
    create_topic(bs, "aio-idem")

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=bs, enable_idempotence=True)
        await p.start()
        try:
            sends = [await p.send("aio-idem", value=f"v{i}".encode(), key=f"k{i % 7}".encode())
                     for i in range(800)]
            return [await s for s in sends]
        finally:
            await p.stop()

    metas = asyncio.run(run())
    assert len({(m.partition, m.offset) for m in metas}) == 800
    assert sum(len(v) for v in read_values(bs, "aio-idem", 800).values()) == 800
    check_sequences(producer_ids_in_log(broker.data_dir, "aio-idem"))


def test_producer_ids_are_never_reused_across_restarts(broker):
    bs = broker.bootstrap
    create_topic(bs, "pids", )
    seen = set()
    for _ in range(3):
        for _ in range(2):
            p = Producer({"bootstrap.servers": bs, "enable.idempotence": True})
            p.produce("pids", value=b"x", partition=0)
            assert p.flush(TIMEOUT) == 0
            del p
        broker.kill()
        broker.start()
    for pid, _, _ in producer_ids_in_log(broker.data_dir, "pids")[0]:
        assert pid not in seen, f"producer id {pid} given out twice"
        seen.add(pid)
    assert len(seen) == 6


def test_idempotent_producer_across_repeated_kill_9_is_exactly_once(broker_factory):
    """librdkafka with enable.idempotence=true writes while the broker is killed (SIGKILL)
    and restarted several times. Requests in flight at each kill are retried after the restart:
    those the broker had stored must be recognised as duplicates (the producer state comes back
    from snapshots and the log tail), the others appended in sequence. Afterwards every record
    is in the log exactly once, in send order per partition, and nothing was lost."""
    b = broker_factory({"log.flush.interval.messages": "1"})
    kills = int(os.environ.get("KAVKA_IDEMPOTENCE_KILLS", "4"))
    idempotent_writes_survive(b, "idem-crash", kills, down=b.kill, up=b.start)


def idempotent_writes_survive(b, topic: str, crashes: int, down, up) -> None:
    """Writes with librdkafka's idempotent producer, calling down() then up() `crashes`
    times with records in flight, and checks that every record is stored exactly once, in
    send order, at the offset it was acknowledged with, with no gap in any sequence."""
    create_topic(b.bootstrap, topic)
    acked: Dict[bytes, Tuple[int, int]] = {}
    errors: List[str] = []

    def on_delivery(err, msg):
        if err is None:
            acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            errors.append(str(err))

    p = Producer({
        "bootstrap.servers": b.bootstrap,
        "enable.idempotence": True,
        "linger.ms": 2,
        "batch.num.messages": 50,
        "request.timeout.ms": 2000,
        "retry.backoff.ms": 50,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 200,
        **({"debug": os.environ["KAVKA_RDKAFKA_DEBUG"]} if os.environ.get("KAVKA_RDKAFKA_DEBUG") else {}),
    })
    sent: List[bytes] = []
    start = time.monotonic()
    for k in range(crashes):
        target = len(acked) + 1500
        while len(acked) < target:
            assert time.monotonic() - start < 30 + 30 * crashes, (
                f"stuck at {len(acked)} acknowledged, errors {errors[:3]}"
            )
            if len(sent) - len(acked) >= 3000:  # keep a bounded window in flight
                p.poll(0.01)
                continue
            value = f"idem|{len(sent)}".encode()
            p.produce(topic, key=f"key-{len(sent) % 64}".encode(), value=value, on_delivery=on_delivery)
            sent.append(value)
            p.poll(0)
        in_flight = len(sent) - len(acked)
        acked_end: Dict[int, int] = defaultdict(int)
        for part, off in acked.values():
            acked_end[part] = max(acked_end[part], off + 1)
        down()
        # keep producing into the client's queue while the broker is down
        for _ in range(200):
            value = f"idem|{len(sent)}".encode()
            p.produce(topic, key=f"key-{len(sent) % 64}".encode(), value=value, on_delivery=on_delivery)
            sent.append(value)
        p.poll(0.3)
        up()
        # What was acknowledged before the crash is still there (checked before the producer
        # resends anything, so a loss is named here and not as a sequence error later).
        c = consumer(b.bootstrap)
        try:
            for part, end in sorted(acked_end.items()):
                high = c.get_watermark_offsets(TopicPartition(topic, part), timeout=TIMEOUT, cached=False)[1]
                assert high >= end, (
                    f"crash {k + 1}: partition {part} acknowledged up to offset {end - 1}, "
                    f"log ends at {high}"
                )
        finally:
            c.close()
        print(f"crash {k + 1}: {in_flight} records in flight")
    assert p.flush(60) == 0, f"{len(sent) - len(acked)} records never delivered"
    assert not errors, f"delivery errors: {errors[:5]}"
    assert len(acked) == len(sent)

    got = read_values(b.bootstrap, topic, len(sent))
    stored = [v for vs in got.values() for v in vs]
    assert len(stored) == len(set(stored)), f"{len(stored) - len(set(stored))} records stored twice"
    assert set(stored) == set(sent), "records missing from the log"
    order = {v: i for i, v in enumerate(sent)}
    for part, vs in got.items():
        idx = [order[v] for v in vs]
        assert idx == sorted(idx), f"p{part}: records out of send order"
        # every acknowledged offset holds exactly the record it was acknowledged for
        for off, v in enumerate(vs):
            assert acked[v] == (part, off), f"{v!r} acked at {acked[v]}, stored at {(part, off)}"
    check_sequences(producer_ids_in_log(b.data_dir, topic))
