"""Real clients against a three-node Kavka cluster, with their default settings.

Every node is broker and controller (one Raft metadata quorum), formatted with one cluster
id by `kavka storage format`, as an operator does. The clients get all three nodes as
bootstrap servers and must find partition leaders, the controller and group coordinators on
their own: confluent-kafka (admin, producer, consumer group) and kafka-python (admin,
idempotent producer by default, consumer group). Then the controller is killed with SIGKILL:
the two others elect a new one and admin requests keep working.
"""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Dict, List

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic as KpNewTopic

from conftest import kavka_bin

N_NODES = 3


def free_ports(n: int) -> List[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def format_node(broker_factory, overrides: Dict[str, str], cluster_id: str, prepare=None):
    """A node not started yet, its directories formatted for `cluster_id` as an operator does
    (`kavka storage format -t ID -c server.properties`)."""
    b = broker_factory(overrides, start=False)
    if prepare is not None:
        prepare(b)
    props = b.workdir / "server.properties"
    props.write_text(
        "".join(f"{k}={v}\n" for k, v in {**overrides, "log.dirs": str(b.data_dir)}.items())
    )
    subprocess.run(
        [kavka_bin(), "storage", "format", "-t", cluster_id, "-c", str(props)],
        check=True,
        capture_output=True,
    )
    return b


def consume_values(consumer, expected: set, timeout: float = 60) -> set:
    """Polls a confluent-kafka consumer until it has seen every value of `expected`."""
    got = set()
    deadline = time.monotonic() + timeout
    while got != expected:
        assert time.monotonic() < deadline, f"consumed {len(got)} of {len(expected)}"
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            got.add(m.value().decode())
    return got


def make_cluster(broker_factory, prepare=None, extra=None):
    """Formats and starts N_NODES nodes of one quorum; `prepare(broker)` runs on each node
    before its directories are formatted (e.g. to mount a disk there). `{id}` in an `extra`
    value is the node's id (e.g. `broker.rack: r{id}`)."""
    binary = kavka_bin()
    cluster_id = subprocess.check_output([binary, "storage", "random-uuid"], text=True).strip()
    voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(free_ports(N_NODES)))
    nodes = []
    for node_id in range(1, N_NODES + 1):
        overrides: Dict[str, str] = {
            "node.id": str(node_id),
            "controller.quorum.voters": voters,
            "controller.quorum.election.timeout.ms": "500",
            "group.initial.rebalance.delay.ms": "0",
            **{k: v.replace("{id}", str(node_id)) for k, v in (extra or {}).items()},
        }
        nodes.append(format_node(broker_factory, overrides, cluster_id, prepare))
    for b in nodes:
        b.start()
    wait_formed(nodes)
    return nodes


@pytest.fixture
def cluster(broker_factory):
    return make_cluster(broker_factory)


def bootstrap(nodes) -> str:
    return ",".join(b.bootstrap for b in nodes if b.running())


def quorum_leader(node) -> int:
    """The metadata quorum's leader as `kavka metadata-quorum` reports it through `node`."""
    out = subprocess.run(
        [kavka_bin(), "metadata-quorum", "--bootstrap-server", node.bootstrap, "describe", "--status"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    for line in out.stdout.splitlines():
        if line.startswith("LeaderId:"):
            return int(line.split()[1])
    return -1


def wait_formed(nodes, timeout: float = 30.0) -> int:
    """Waits until every running node lists all brokers and reaches one quorum leader; returns
    it. (Metadata names the answering node as controller, as a KRaft broker names a live
    broker: it forwards controller requests to the leader.)"""
    deadline = time.monotonic() + timeout
    while True:
        seen = []
        for b in nodes:
            if not b.running():
                continue
            md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=5)
            seen.append((quorum_leader(b), len(md.brokers)))
        if seen and seen[0][0] >= 0 and all(s == seen[0] for s in seen) and seen[0][1] == N_NODES:
            return seen[0][0]
        assert time.monotonic() < deadline, f"cluster not formed: {seen}"
        time.sleep(0.2)


def create(admin: AdminClient, name: str, partitions: int) -> None:
    for _, f in admin.create_topics([NewTopic(name, partitions)]).items():
        f.result(timeout=30)


def wait_leaders(admin: AdminClient, name: str, partitions: int) -> Dict[int, int]:
    deadline = time.monotonic() + 20
    while True:
        t = admin.list_topics(topic=name, timeout=5).topics.get(name)
        if t is not None and t.error is None and len(t.partitions) == partitions:
            leaders = {p: m.leader for p, m in t.partitions.items()}
            if all(l >= 0 for l in leaders.values()):
                return leaders
        assert time.monotonic() < deadline, f"{name} not ready"
        time.sleep(0.1)


def test_confluent_kafka_spreads_produces_and_consumes_across_nodes(cluster):
    bs = bootstrap(cluster)
    admin = AdminClient({"bootstrap.servers": bs})
    create(admin, "cfk-spread", 6)
    leaders = wait_leaders(admin, "cfk-spread", 6)
    assert set(leaders.values()) == {1, 2, 3}, leaders

    producer = Producer({"bootstrap.servers": bs})
    sent = {f"v{i}" for i in range(300)}
    failures = []

    def report(err, msg):
        if err is not None:
            failures.append(err)

    for i, v in enumerate(sorted(sent)):
        producer.produce("cfk-spread", key=f"k{i}".encode(), value=v.encode(), on_delivery=report)
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer(
        {"bootstrap.servers": bs, "group.id": "cfk-g", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["cfk-spread"])
    consume_values(consumer, sent)
    consumer.commit(asynchronous=False)
    committed = consumer.committed(consumer.assignment(), timeout=10)
    assert sum(tp.offset for tp in committed) == len(sent)
    consumer.close()


def test_kafka_python_with_defaults_across_nodes(cluster):
    bs = bootstrap(cluster).split(",")
    admin = KafkaAdminClient(bootstrap_servers=bs)
    admin.create_topics([KpNewTopic("kp-spread", 3, 1)])
    admin.close()
    # kafka-python 3's default producer is idempotent: InitProducerId on any node.
    producer = KafkaProducer(bootstrap_servers=bs)
    for i in range(90):
        producer.send("kp-spread", key=f"k{i}".encode(), value=f"v{i}".encode()).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        "kp-spread",
        bootstrap_servers=bs,
        group_id="kp-g",
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    got = set()
    for m in consumer:
        got.add(m.value.decode())
        if len(got) == 90:
            break
    consumer.commit()
    consumer.close()
    assert got == {f"v{i}" for i in range(90)}


def test_admin_keeps_working_after_the_controller_is_killed(cluster):
    controller = wait_formed(cluster)
    cluster[controller - 1].kill()
    survivors = [b for b in cluster if b.running()]
    admin = AdminClient({"bootstrap.servers": bootstrap(survivors)})
    deadline = time.monotonic() + 30
    while True:
        try:
            create(admin, "after-kill", 2)
            break
        except Exception as e:  # NOT_CONTROLLER while the survivors elect: retriable
            assert time.monotonic() < deadline, f"no new controller: {e}"
            time.sleep(0.3)
    # Every broker learns of it (as in Kafka, brokers apply the metadata log asynchronously).
    wait_leaders(admin, "after-kill", 2)
    assert quorum_leader(survivors[0]) not in (-1, controller)


def test_produce_and_consume_while_a_broker_restarts(cluster):
    """confluent-kafka with its defaults keeps producing while a broker (not the controller)
    restarts: records for that broker's partitions wait in the producer and are delivered once
    it is back (partitions have one replica until replication); every record acknowledged is
    consumed, each once per partition offset."""
    bs = bootstrap(cluster)
    admin = AdminClient({"bootstrap.servers": bs})
    create(admin, "restart", 3)
    leaders = wait_leaders(admin, "restart", 3)
    controller = wait_formed(cluster)
    victim = next(l for l in leaders.values() if l != controller)

    producer = Producer({"bootstrap.servers": bs})
    acked: List[str] = []
    errors = []

    def report(err, msg):
        if err is None:
            acked.append(msg.value().decode())
        else:
            errors.append(err)

    def send(start: int, count: int) -> None:
        for i in range(start, start + count):
            producer.produce("restart", value=f"r{i}".encode(), partition=i % 3, on_delivery=report)
            producer.poll(0)

    send(0, 150)
    producer.flush(30)
    cluster[victim - 1].stop()
    send(150, 150)  # a third of these wait for the stopped broker
    producer.poll(1)
    cluster[victim - 1].start()
    send(300, 150)
    assert producer.flush(60) == 0
    assert errors == [], errors
    assert len(acked) == 450

    consumer = Consumer(
        {"bootstrap.servers": bootstrap(cluster), "group.id": "restart-g", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe(["restart"])
    got: List[str] = []
    deadline = time.monotonic() + 60
    while len(got) < len(acked):
        assert time.monotonic() < deadline, f"consumed {len(got)} of {len(acked)}"
        m = consumer.poll(0.5)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    consumer.close()
    assert sorted(got) == sorted(acked), "every acknowledged record, once"


def test_kafka_python_produces_and_consumes_while_a_broker_restarts(cluster):
    """kafka-python with its defaults (idempotent producer, consumer group) while a broker that
    is not the controller restarts: sends to its partitions are retried until it is back, and
    the group reads every acknowledged record back."""
    bs = bootstrap(cluster).split(",")
    admin = AdminClient({"bootstrap.servers": ",".join(bs)})
    create(admin, "kp-restart", 3)
    leaders = wait_leaders(admin, "kp-restart", 3)
    controller = wait_formed(cluster)
    victim = next(l for l in leaders.values() if l != controller)

    producer = KafkaProducer(bootstrap_servers=bs)
    futures = []

    def send(start: int, count: int) -> None:
        for i in range(start, start + count):
            futures.append(producer.send("kp-restart", value=f"r{i}".encode(), partition=i % 3))

    send(0, 90)
    producer.flush(30)
    cluster[victim - 1].stop()
    send(90, 90)
    cluster[victim - 1].start()
    send(180, 90)
    producer.flush(90)
    acked = [f.get(timeout=60).offset >= 0 and f"r{i}" for i, f in enumerate(futures)]
    producer.close()
    assert len(acked) == 270 and all(acked)

    consumer = KafkaConsumer(
        "kp-restart",
        bootstrap_servers=bootstrap(cluster).split(","),
        group_id="kp-restart-g",
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    got = []
    for m in consumer:
        got.append(m.value.decode())
        if len(got) == len(acked):
            break
    consumer.close()
    assert sorted(got) == sorted(acked), "every acknowledged record, once"
