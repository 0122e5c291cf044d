"""Power loss under replication: every node of a three-node cluster keeps its data on its own
disk that forgets unflushed writes (lazydisk.py, see test_power_loss.py), and librdkafka's
idempotent producer (acks=all) writes to a topic of three replicas, min.insync.replicas=2.

- With Kafka's default flush policy (the page cache, no fsync per record) the power of one
  node goes off: its log recovers to a valid prefix of what it had, and its replicas repair
  the rest: it follows again, rejoins every ISR, and led again it serves every acknowledged
  record, once, in order.
- With `log.flush.interval.messages=1` every acknowledged record was fsynced on every ISR
  member before the answer, so even a power cut of the whole cluster at once loses none.

Kill -9 cannot tell either: the page cache survives it. Needs root, /dev/fuse and loop
devices, as test_power_loss.py; skipped elsewhere with that reason.
"""

from __future__ import annotations

import signal
import time
from typing import Dict, List, Tuple

import pytest
from confluent_kafka import Consumer, ElectionType, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from test_cluster import bootstrap, make_cluster, wait_formed
from test_power_loss import PowerLossDisk, _missing, stop_on_disks, wait_stopped
from test_replication import FAST, wait_for

pytestmark = pytest.mark.skipif(bool(_missing()), reason=_missing() or "runs")

TOPIC = "pl"
PARTITIONS = 3


def produce(nodes, prefix: str, n: int) -> List[Tuple[int, int, str]]:
    """Sends `n` records with librdkafka's idempotent producer; the acknowledged ones."""
    acked: List[Tuple[int, int, str]] = []
    failed: List[str] = []

    def report(err, msg):
        if err is None:
            acked.append((msg.partition(), msg.offset(), msg.value().decode()))
        else:
            failed.append(str(err))

    p = Producer({"bootstrap.servers": bootstrap(nodes), "enable.idempotence": True,
                  "message.timeout.ms": 30000})
    for i in range(n):
        p.produce(TOPIC, value=f"{prefix}{i}".encode(), partition=i % PARTITIONS, on_delivery=report)
        p.poll(0)
    assert p.flush(60) == 0
    assert failed == [], failed
    return acked


def read_all(nodes, acked: List[Tuple[int, int, str]]) -> Dict[int, List[Tuple[int, str]]]:
    """Every record of the topic up to each partition's high watermark, by partition, once
    the high watermarks passed what was acknowledged (a restarted leader's high watermark
    moves as its followers fetch again); a high watermark that stays behind is reported by
    the check."""
    c = Consumer({"bootstrap.servers": bootstrap(nodes), "group.id": "pl-reader",
                  "enable.auto.commit": False})
    wanted = {p: max((o + 1 for q, o, _ in acked if q == p), default=0) for p in range(PARTITIONS)}
    deadline = time.monotonic() + 30
    ends = {p: 0 for p in range(PARTITIONS)}
    while not all(ends[p] >= wanted[p] for p in range(PARTITIONS)) and time.monotonic() < deadline:
        try:  # retriable while leadership settles
            ends = {p: c.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=30)[1] for p in range(PARTITIONS)}
        except KafkaException as e:
            print(f"watermarks: {e}")
        time.sleep(0.2)
    c.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
    log: Dict[int, List[Tuple[int, str]]] = {p: [] for p in range(PARTITIONS)}
    deadline = time.monotonic() + 60
    while any(ends[p] > 0 and (not log[p] or log[p][-1][0] < ends[p] - 1) for p in range(PARTITIONS)):
        assert time.monotonic() < deadline, f"read {[(p, len(l)) for p, l in log.items()]} of {ends}"
        m = c.poll(0.5)
        if m is not None and m.error() is None:
            log[m.partition()].append((m.offset(), m.value().decode()))
    c.close()
    return log


def check(acked: List[Tuple[int, int, str]], log: Dict[int, List[Tuple[int, str]]]) -> None:
    at = {(p, o): v for p, records in log.items() for o, v in records}
    values = [v for records in log.values() for _, v in records]
    assert len(values) == len(set(values)), "a record stored twice"
    lost = [(p, o, v) for p, o, v in acked if at.get((p, o)) != v]
    assert lost == [], f"{len(lost)} acknowledged records lost, e.g. {lost[:5]}"


def create(nodes, configs: Dict[str, str]) -> AdminClient:
    admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
    topic = NewTopic(TOPIC, PARTITIONS, replication_factor=3, config={"min.insync.replicas": "2", **configs})
    for _, f in admin.create_topics([topic]).items():
        f.result(timeout=30)
    wait_for(admin, TOPIC, "in sync", lambda s: len(s) == PARTITIONS and all(len(v[2]) == 3 for v in s.values()))
    return admin


def with_disks(broker_factory, body, extra=None):
    disks: List[PowerLossDisk] = []

    def mount(b):
        disks.append(PowerLossDisk(b.workdir, b.data_dir, size_mib=256))

    try:
        nodes = make_cluster(broker_factory, prepare=mount, extra={**FAST, **(extra or {})})
        body(nodes, disks)
    finally:
        stop_on_disks(locals().get("nodes", []), disks)


def test_a_node_whose_power_went_off_is_repaired_by_its_replicas(broker_factory):
    def body(nodes, disks):
        admin = create(nodes, {})
        acked = produce(nodes, "a", 600)
        # The power of partition 0's leader goes off, whatever it had not flushed is gone.
        victim = wait_for(admin, TOPIC, "led", lambda s: s[0][0] > 0)[0][0]
        node, disk = nodes[victim - 1], disks[victim - 1]
        disk.cut(node)
        acked += produce(nodes, "b", 300)  # the others go on: new leaders, the ISR shrinks
        disk.power_back()
        node.start()
        # It recovers a prefix, follows, truncates where it diverged, catches up, rejoins.
        wait_for(admin, TOPIC, "repaired", lambda s: all(victim in v[2] for v in s.values()), timeout=60)
        result = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(TOPIC, p) for p in range(PARTITIONS)])
        result.result(timeout=30)
        wait_for(admin, TOPIC, "led by its first replicas", lambda s: all(v[0] == v[1][0] for v in s.values()))
        check(acked, read_all(nodes, acked))

    with_disks(broker_factory, body)


def test_flushed_acknowledged_records_survive_a_cluster_wide_power_cut(broker_factory):
    def body(nodes, disks):
        create(nodes, {"flush.messages": "1"})
        acked = produce(nodes, "f", 600)
        for b in nodes:
            b.proc.send_signal(signal.SIGSTOP)
        for b in nodes:
            wait_stopped(b.proc.pid)
        for b, d in zip(nodes, disks):
            d.cut(b)
        for d in disks:
            d.power_back()
        for b in nodes:
            b.start()
        wait_formed(nodes)
        admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
        wait_for(admin, TOPIC, "back in sync", lambda s: all(len(v[2]) == 3 and v[0] > 0 for v in s.values()), timeout=60)
        check(acked, read_all(nodes, acked))

    with_disks(broker_factory, body)
