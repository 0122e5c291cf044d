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


def test_consume_transform_produce_is_exactly_once_while_workers_die(broker_factory):
    """A 3-stage pipeline src -> s1 -> s2 -> dst. Each stage's worker
    (tests/clients/python/txn_worker.py) reads its input in its own group at read_committed,
    writes each record on and commits the input offsets in the same transaction
    (send_offsets_to_transaction). Workers are SIGKILLed while they work; a restarted worker
    with the same transactional.id fences the dead one's transaction. Every input record must
    reach `dst` exactly once. (Rebalances without the initial delay, as test suites set it,
    so that restarted workers rejoin quickly.)"""
    bs = broker_factory({"group.initial.rebalance.delay.ms": "0"}).bootstrap
    stages = [("src", "s1", "etl1"), ("s1", "s2", "etl2"), ("s2", "dst", "etl3")]
    for t in ("src", "s1", "s2", "dst"):
        create_topic(bs, t)
    n = int(os.environ.get("KAVKA_TXN_RECORDS", "3000"))
    kills_wanted = int(os.environ.get("KAVKA_TXN_KILLS", "4"))
    p = Producer({"bootstrap.servers": bs, "linger.ms": 5})

    def start(stage):
        src, dst, group = stage
        return subprocess.Popen([sys.executable, os.path.join(HERE, "txn_worker.py"), bs, src, dst, group],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    # The input arrives in steps while the workers run, and a worker is killed every other
    # step, so that kills land in the middle of transactions.
    workers = [start(s) for s in stages]
    steps = 2 * kills_wanted + 2
    kills = 0
    try:
        for step in range(steps):
            for i in range(step * n // steps, (step + 1) * n // steps):
                p.produce("src", key=f"k{i % 50}".encode(), value=f"rec-{i}".encode())
            assert p.flush(TIMEOUT) == 0
            time.sleep(0.5)
            for w in workers:
                assert w.poll() is None, f"a worker died on its own: {w.stderr.read().decode()[-2000:]}"
            if step % 2 == 1 and kills < kills_wanted:
                victim = kills % len(stages)
                workers[victim].kill()
                workers[victim].wait()
                kills += 1
                workers[victim] = start(stages[victim])
        deadline = time.monotonic() + 90
        while len(flat(read(bs, "dst", "read_committed"))) < n and time.monotonic() < deadline:
            time.sleep(1.0)
    finally:
        for w in workers:
            w.kill()
            w.wait()
    assert kills == kills_wanted
    out = flat(read(bs, "dst", "read_committed"))
    assert len(out) == len(set(out)), f"{len(out) - len(set(out))} records written twice"
    assert out == sorted(f"rec-{i}".encode() for i in range(n))


def test_transactions_survive_broker_kill_9(broker_factory):
    """Committed transactions stay visible and whole after kill -9; a transaction left open by
    the crash is aborted once its timeout passes after the restart (the coordinator reloads it)
    and never becomes visible to read_committed."""
    b = broker_factory({"log.flush.interval.messages": "1"})
    transactions_survive(b, down=b.kill, up=b.start)


def transactions_survive(b, down, up) -> None:
    """Five committed transactions and one left open, then down() and up(): the committed
    ones are whole at read_committed, the open one is aborted after its timeout, and the
    transactional id works again."""
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
    down()
    del p
    up()
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


def test_console_consumer_formats_the_internal_topics(broker):
    """`kafka-console-consumer.sh --formatter` with Kafka's class names reads
    `__transaction_state` and `__consumer_offsets` as a Kafka guide shows it."""
    import json

    from conftest import kavka_bin

    bs = broker.bootstrap
    create_topic(bs, "fmt")
    p = Producer({"bootstrap.servers": bs, "transactional.id": "fmt-1"})
    p.init_transactions(TIMEOUT)
    p.begin_transaction()
    p.produce("fmt", value=b"x", partition=0)
    p.commit_transaction(TIMEOUT)
    c = Consumer({"bootstrap.servers": bs, "group.id": "fmt-group"})
    c.commit(offsets=[TopicPartition("fmt", 0, 1)], asynchronous=False)
    c.close()

    def dump(topic, formatter):
        out = subprocess.run(
            [kavka_bin(), "console-consumer", "--bootstrap-server", bs, "--topic", topic,
             "--from-beginning", "--timeout-ms", "3000", "--formatter", formatter],
            capture_output=True, text=True, timeout=60)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    txns = dump("__transaction_state",
                "kafka.coordinator.transaction.TransactionLog$TransactionLogMessageFormatter")
    mine = [r for r in txns if r["key"]["data"]["transactionalId"] == "fmt-1"]
    assert [r["value"]["data"]["transactionStatus"] for r in mine][-1] == 4, mine  # CompleteCommit
    assert any(r["value"]["data"]["transactionPartitions"] == [{"topic": "fmt", "partitionIds": [0]}]
               for r in mine), mine
    offsets = dump("__consumer_offsets", "org.apache.kafka.tools.consumer.OffsetsMessageFormatter")
    assert {"group": "fmt-group", "topic": "fmt", "partition": 0} in [r["key"]["data"] for r in offsets]
    assert [r["value"]["data"]["offset"] for r in offsets if r["key"]["data"]["group"] == "fmt-group"] == [1]


def test_kafka_transactions_tool(broker):
    """`kafka-transactions.sh` (kavka transactions): list, describe, describe-producers,
    find-hanging, and abort of a transaction left open on a partition."""
    from conftest import kavka_bin

    bs = broker.bootstrap
    create_topic(bs, "tool")

    def tool(*args):
        out = subprocess.run([kavka_bin(), "transactions", "--bootstrap-server", bs, *args],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return [line.split("\t") for line in out.stdout.splitlines()]

    p = Producer({"bootstrap.servers": bs, "transactional.id": "tool-1"})
    p.init_transactions(TIMEOUT)
    p.begin_transaction()
    p.produce("tool", value=b"left open", partition=1)
    p.flush(TIMEOUT)

    listed = tool("list")
    assert [c.strip() for c in listed[0]] == ["TransactionalId", "Coordinator", "ProducerId", "TransactionState"]
    assert ["tool-1", "Ongoing"] == [listed[1][0].strip(), listed[1][3].strip()]
    described = tool("describe", "--transactional-id", "tool-1")
    row = dict(zip([c.strip() for c in described[0]], [c.strip() for c in described[1]]))
    assert (row["TransactionState"], row["TopicPartitions"]) == ("Ongoing", "tool-1"), row
    producers = tool("describe-producers", "--topic", "tool", "--partition", "1")
    prow = dict(zip([c.strip() for c in producers[0]], [c.strip() for c in producers[1]]))
    assert prow["CurrentTransactionStartOffset"] == "0", prow
    hanging = tool("find-hanging", "--broker-id", "1", "--max-transaction-timeout", "0")
    assert [r[0].strip() for r in hanging[1:]] == ["tool"], hanging
    # abort it by hand: the partition's LSO moves past it, read_committed never shows it
    tool("abort", "--topic", "tool", "--partition", "1", "--start-offset", "0")
    assert end_offsets(bs, "tool", "read_committed")[1] == end_offsets(bs, "tool", "read_uncommitted")[1] == 2
    assert read(bs, "tool", "read_committed", partitions=[1])[1] == []
    bad = subprocess.run([kavka_bin(), "transactions", "--bootstrap-server", bs, "abort", "--topic", "tool",
                          "--partition", "1", "--start-offset", "7"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
