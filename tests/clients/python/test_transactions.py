"""Transactions with real clients: transactional produce with commit and abort from
confluent-kafka, kafka-python and aiokafka; read_committed consumers see committed records only,
in order, read_uncommitted sees everything; zombie producers are fenced; a
consume-transform-produce loop with send_offsets_to_transaction moves every record exactly once
while its worker is killed and restarted; and transactions across broker kill -9."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Dict, List, Tuple

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from kafka import KafkaProducer

from cfk import TIMEOUT, create_topic

N_PARTITIONS = 3
HERE = os.path.dirname(os.path.abspath(__file__))


def read(bootstrap: str, topic: str, isolation: str, settle_s: float = 1.5,
         partitions=range(N_PARTITIONS)) -> Dict[int, List[bytes]]:
    """Every record a consumer at `isolation` gets, by partition, in offset order; stops once
    nothing arrived for `settle_s`."""
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "kavka-txn-reader",
        "enable.auto.commit": False,
        "isolation.level": isolation,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
    })
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    got: Dict[int, List[Tuple[int, bytes]]] = {p: [] for p in partitions}
    last = time.monotonic()
    deadline = last + 60
    while time.monotonic() - last < settle_s and time.monotonic() < deadline:
        for m in c.consume(num_messages=500, timeout=0.2):
            if m.error() is None:
                got[m.partition()].append((m.offset(), m.value()))
                last = time.monotonic()
    c.close()
    return {p: [v for _, v in sorted(rs)] for p, rs in got.items()}


def flat(by_partition: Dict[int, List[bytes]]) -> List[bytes]:
    return sorted(v for vs in by_partition.values() for v in vs)


def end_offsets(bootstrap: str, topic: str, isolation: str) -> List[int]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kavka-txn-ends",
                  "isolation.level": isolation})
    try:
        return [c.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT, cached=False)[1]
                for p in range(N_PARTITIONS)]
    finally:
        c.close()


def test_confluent_commit_and_abort(broker):
    bs = broker.bootstrap
    create_topic(bs, "txn-cfk")
    p = Producer({"bootstrap.servers": bs, "transactional.id": "cfk-1"})
    p.init_transactions(TIMEOUT)
    committed, aborted = [], []
    for round_ in range(6):
        p.begin_transaction()
        values = [f"r{round_}-{i}".encode() for i in range(30)]
        for i, v in enumerate(values):
            p.produce("txn-cfk", key=f"k{i}".encode(), value=v, partition=i % N_PARTITIONS)
        if round_ % 2 == 0:
            p.commit_transaction(TIMEOUT)
            committed += values
        else:
            p.flush(TIMEOUT)  # on the broker before the abort, so there is something to abort
            p.abort_transaction(TIMEOUT)
            aborted += values
    rc = read(bs, "txn-cfk", "read_committed")
    assert flat(rc) == sorted(committed)
    for part, vs in rc.items():  # committed records in produce order per partition
        order = [(int(v.split(b"-")[0][1:]), int(v.split(b"-")[1])) for v in vs]
        assert order == sorted(order), f"p{part} out of order"
    assert flat(read(bs, "txn-cfk", "read_uncommitted")) == sorted(committed + aborted)
    # markers take offsets: the end offset counts data and control batches; read_committed's
    # end offset is the last stable offset, equal to it once nothing is open
    assert end_offsets(bs, "txn-cfk", "read_committed") == end_offsets(bs, "txn-cfk", "read_uncommitted")


def test_open_transaction_holds_back_read_committed(broker):
    bs = broker.bootstrap
    create_topic(bs, "txn-open", )
    p = Producer({"bootstrap.servers": bs, "transactional.id": "open-1"})
    p.init_transactions(TIMEOUT)
    p.begin_transaction()
    p.produce("txn-open", value=b"pending", partition=0)
    p.flush(TIMEOUT)
    plain = Producer({"bootstrap.servers": bs})
    plain.produce("txn-open", value=b"after", partition=0)
    plain.flush(TIMEOUT)
    # read_committed stops at the open transaction (the plain record after it waits too)
    assert read(bs, "txn-open", "read_committed", partitions=[0])[0] == []
    assert read(bs, "txn-open", "read_uncommitted", partitions=[0])[0] == [b"pending", b"after"]
    p.commit_transaction(TIMEOUT)
    assert read(bs, "txn-open", "read_committed", partitions=[0])[0] == [b"pending", b"after"]


def test_kafka_python_transactions(broker):
    bs = broker.bootstrap
    create_topic(bs, "txn-kp")
    p = KafkaProducer(bootstrap_servers=bs, transactional_id="kp-1")
    p.init_transactions()
    p.begin_transaction()
    for i in range(20):
        p.send("txn-kp", value=f"keep{i}".encode(), partition=i % N_PARTITIONS)
    p.commit_transaction()
    p.begin_transaction()
    for i in range(20):
        p.send("txn-kp", value=f"drop{i}".encode(), partition=i % N_PARTITIONS)
    p.flush()
    p.abort_transaction()
    p.close()
    assert flat(read(bs, "txn-kp", "read_committed")) == sorted(f"keep{i}".encode() for i in range(20))
    assert len(flat(read(bs, "txn-kp", "read_uncommitted"))) == 40


def test_aiokafka_transactions(broker):
    bs = broker.bootstrap
    create_topic(bs, "txn-aio")

    async def run():
        p = AIOKafkaProducer(bootstrap_servers=bs, transactional_id="aio-1")
        await p.start()
        try:
            async with p.transaction():
                for i in range(15):
                    await p.send("txn-aio", value=f"keep{i}".encode(), partition=i % N_PARTITIONS)
            await p.begin_transaction()
            for i in range(15):
                await (await p.send("txn-aio", value=f"drop{i}".encode(), partition=i % N_PARTITIONS))
            await p.abort_transaction()
        finally:
            await p.stop()

    asyncio.run(run())
    assert flat(read(bs, "txn-aio", "read_committed")) == sorted(f"keep{i}".encode() for i in range(15))


def test_zombie_producer_is_fenced(broker):
    bs = broker.bootstrap
    create_topic(bs, "txn-zombie")
    old = Producer({"bootstrap.servers": bs, "transactional.id": "zombie"})
    old.init_transactions(TIMEOUT)
    old.begin_transaction()
    old.produce("txn-zombie", value=b"zombie", partition=0)
    old.flush(TIMEOUT)
    new = Producer({"bootstrap.servers": bs, "transactional.id": "zombie"})
    new.init_transactions(TIMEOUT)  # aborts the zombie's open transaction and fences it
    new.begin_transaction()
    new.produce("txn-zombie", value=b"new", partition=0)
    new.commit_transaction(TIMEOUT)
    with pytest.raises(KafkaException) as e:
        old.produce("txn-zombie", value=b"late", partition=0)
        old.commit_transaction(TIMEOUT)
    assert e.value.args[0].fatal() or e.value.args[0].code() in (
        KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH), e.value
    assert read(bs, "txn-zombie", "read_committed", partitions=[0])[0] == [b"new"]


def test_consume_transform_produce_is_exactly_once_while_workers_die(broker):
    """A worker (tests/clients/python/txn_worker.py) reads `src` in group `etl`, writes each
    record to `dst` and commits the input offsets in the same transaction
    (send_offsets_to_transaction). It is SIGKILLed several times; a new worker with the same
    transactional.id fences the dead one's transaction. `dst` read_committed must hold every
    input record exactly once."""
    bs = broker.bootstrap
    create_topic(bs, "src")
    create_topic(bs, "dst")
    n = int(os.environ.get("KAVKA_TXN_RECORDS", "3000"))
    p = Producer({"bootstrap.servers": bs, "linger.ms": 5})
    for i in range(n):
        p.produce("src", key=f"k{i % 50}".encode(), value=f"rec-{i}".encode())
    assert p.flush(TIMEOUT) == 0

    def start():
        return subprocess.Popen([sys.executable, os.path.join(HERE, "txn_worker.py"), bs, "src", "dst", "etl"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    kills = 0
    deadline = time.monotonic() + 120
    worker = start()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        done = sum(end_offsets(bs, "dst", "read_committed"))
        if worker.poll() is not None:
            break  # the worker exits once it has seen the whole input
        if kills < 3 and done > 0:
            worker.kill()
            worker.wait()
            kills += 1
            worker = start()
    worker.wait(timeout=60)
    assert worker.returncode == 0, worker.stderr.read().decode()[-2000:]
    assert kills == 3
    out = flat(read(bs, "dst", "read_committed"))
    assert len(out) == len(set(out)), f"{len(out) - len(set(out))} records written twice"
    assert out == sorted(f"rec-{i}".encode() for i in range(n))


def test_transactions_survive_broker_kill_9(broker_factory):
    """Committed transactions stay visible and whole after kill -9; a transaction left open by
    the crash is aborted once its timeout passes after the restart (the coordinator reloads it)
    and never becomes visible to read_committed."""
    b = broker_factory({"log.flush.interval.messages": "1"})
    bs = b.bootstrap
    create_topic(bs, "txn-crash")
    p = Producer({"bootstrap.servers": bs, "transactional.id": "crash-1", "transaction.timeout.ms": 3000})
    p.init_transactions(TIMEOUT)
    committed = []
    for round_ in range(5):
        p.begin_transaction()
        vs = [f"c{round_}-{i}".encode() for i in range(20)]
        for i, v in enumerate(vs):
            p.produce("txn-crash", value=v, partition=i % N_PARTITIONS)
        p.commit_transaction(TIMEOUT)
        committed += vs
    p.begin_transaction()
    for i in range(20):
        p.produce("txn-crash", value=f"open-{i}".encode(), partition=i % N_PARTITIONS)
    p.flush(TIMEOUT)
    b.kill()
    del p
    b.start()
    assert flat(read(b.bootstrap, "txn-crash", "read_uncommitted")).count(b"open-0") == 1
    # the open transaction blocks read_committed until the coordinator aborts it (timeout 3 s)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if end_offsets(bs, "txn-crash", "read_committed") == end_offsets(bs, "txn-crash", "read_uncommitted"):
            break
        time.sleep(0.5)
    else:
        pytest.fail("the open transaction was never aborted after the restart")
    assert flat(read(bs, "txn-crash", "read_committed")) == sorted(committed)
    # the transactional id works again afterwards
    p2 = Producer({"bootstrap.servers": bs, "transactional.id": "crash-1"})
    p2.init_transactions(TIMEOUT)
    p2.begin_transaction()
    p2.produce("txn-crash", value=b"after", partition=0)
    p2.commit_transaction(TIMEOUT)
    assert b"after" in flat(read(bs, "txn-crash", "read_committed"))
