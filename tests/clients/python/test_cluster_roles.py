"""Real clients against Kafka's production layout: three controller-only nodes
(`process.roles=controller`, the metadata quorum's voters, listening on their controller
listener only) and two broker-only nodes (`process.roles=broker`, observers of the quorum).

The clients are given the brokers only, with their default settings: confluent-kafka's admin
places a topic (on the brokers, never the controllers), its producer and a consumer group use
it, kafka-python's idempotent producer gets its producer id through a broker, and
`kavka metadata-quorum` (kafka-metadata-quorum.sh) shows the voters and the brokers as
observers. Then the leading controller is killed: admin requests keep working.
"""

from __future__ import annotations

import subprocess
import time
from typing import Dict, List

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer

from conftest import kavka_bin
from test_cluster import consume_values, create, format_node, free_ports, quorum_leader, wait_leaders

CONTROLLERS = 3
BROKERS = 2


def make_split_cluster(broker_factory):
    binary = kavka_bin()
    cluster_id = subprocess.check_output([binary, "storage", "random-uuid"], text=True).strip()
    ports = free_ports(CONTROLLERS)
    voters = ",".join(f"{i + 1}@127.0.0.1:{p}" for i, p in enumerate(ports))
    nodes = []
    for node_id in range(1, CONTROLLERS + BROKERS + 1):
        overrides: Dict[str, str] = {
            "node.id": str(node_id),
            "controller.quorum.voters": voters,
            "controller.quorum.election.timeout.ms": "500",
            "group.initial.rebalance.delay.ms": "0",
        }
        if node_id <= CONTROLLERS:
            overrides.update(
                {
                    "process.roles": "controller",
                    "controller.listener.names": "CONTROLLER",
                    "listeners": f"CONTROLLER://127.0.0.1:{ports[node_id - 1]}",
                }
            )
        else:
            overrides["process.roles"] = "broker"
        nodes.append(format_node(broker_factory, overrides, cluster_id))
    for b in nodes:
        b.start()
    return nodes[:CONTROLLERS], nodes[CONTROLLERS:]


def brokers_bootstrap(brokers) -> str:
    return ",".join(b.bootstrap for b in brokers if b.running())


def wait_formed(brokers, timeout: float = 30.0) -> int:
    """Waits until each broker lists both brokers and reaches the quorum leader; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        seen = []
        for b in brokers:
            md = AdminClient({"bootstrap.servers": b.bootstrap}).list_topics(timeout=5)
            seen.append((quorum_leader(b), sorted(md.brokers)))
        if seen[0][0] >= 0 and all(s == seen[0] for s in seen) and seen[0][1] == [4, 5]:
            return seen[0][0]
        assert time.monotonic() < deadline, f"cluster not formed: {seen}"
        time.sleep(0.2)


@pytest.fixture
def split(broker_factory):
    controllers, brokers = make_split_cluster(broker_factory)
    wait_formed(brokers)
    return controllers, brokers


def test_clients_use_the_brokers_and_the_quorum_shows_observers(split):
    controllers, brokers = split
    bs = brokers_bootstrap(brokers)
    admin = AdminClient({"bootstrap.servers": bs})
    create(admin, "roles", 4)
    leaders = wait_leaders(admin, "roles", 4)
    assert set(leaders.values()) == {4, 5}, leaders
    assert sorted(admin.list_topics(timeout=5).brokers) == [4, 5]

    producer = Producer({"bootstrap.servers": bs})
    sent = {f"v{i}" for i in range(200)}
    failures: List[object] = []
    for v in sorted(sent):
        producer.produce(
            "roles",
            value=v.encode(),
            on_delivery=lambda err, msg: err is not None and failures.append(err),
        )
    assert producer.flush(30) == 0
    assert failures == []
    consumer = Consumer({"bootstrap.servers": bs, "group.id": "roles-g", "auto.offset.reset": "earliest"})
    consumer.subscribe(["roles"])
    consume_values(consumer, sent)
    consumer.close()

    # kafka-python 3: idempotent by default, so InitProducerId goes to a controller.
    kp = KafkaProducer(bootstrap_servers=bs.split(","))
    for i in range(20):
        kp.send("roles", value=f"kp{i}".encode()).get(timeout=30)
    kp.close()
    kc = KafkaConsumer(
        "roles",
        bootstrap_servers=bs.split(","),
        group_id="roles-kp",
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    seen = set()
    for m in kc:
        seen.add(m.value.decode())
        if len(seen) == len(sent) + 20:
            break
    kc.close()
    assert {f"kp{i}" for i in range(20)} <= seen

    deadline = time.monotonic() + 20
    while True:
        out = subprocess.run(
            [kavka_bin(), "metadata-quorum", "--bootstrap-server", brokers[0].bootstrap, "describe", "--replication"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        rows = [line.split() for line in out.stdout.splitlines()[1:] if line.strip()]
        status = {int(r[0]): r[-1] for r in rows}
        if status.get(4) == "Observer" and status.get(5) == "Observer":
            break
        assert time.monotonic() < deadline, out.stdout + out.stderr
        time.sleep(0.2)
    assert sorted(k for k, v in status.items() if v in ("Leader", "Follower")) == [1, 2, 3]


def test_admin_keeps_working_after_the_leading_controller_is_killed(split):
    controllers, brokers = split
    leader = wait_formed(brokers)
    controllers[leader - 1].kill()
    admin = AdminClient({"bootstrap.servers": brokers_bootstrap(brokers)})
    deadline = time.monotonic() + 30
    while True:
        try:
            create(admin, "after-kill", 2)
            break
        except Exception as e:  # NOT_CONTROLLER while the two others elect: retriable
            assert time.monotonic() < deadline, f"no new controller: {e}"
            time.sleep(0.3)
    assert set(wait_leaders(admin, "after-kill", 2).values()) <= {4, 5}
    assert quorum_leader(brokers[0]) not in (-1, leader)
