"""Real clients with their defaults against a three-node cluster whose topic has three replicas
and min.insync.replicas=2: confluent-kafka (acks=all by default) and kafka-python 3
(idempotent, acks=all) keep producing while the leader of a partition is killed with SIGKILL;
every record they were told is acknowledged is consumed, once. The killed broker comes back,
rejoins the ISR, and confluent-kafka's AdminClient.elect_leaders gives it its partition back
(ElectLeaders, preferred). kafka-python's KafkaAdminClient moves a partition to other brokers
(AlterPartitionReassignments, ListPartitionReassignments) while confluent-kafka reads it."""

import time
from typing import Dict, List

from confluent_kafka import Consumer, ElectionType, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient, KafkaProducer
from kafka import TopicPartition as KTopicPartition
from kafka.errors import NoReassignmentInProgressError

from test_cluster import N_NODES, bootstrap, consume_values, make_cluster

FAST = {
    "broker.session.timeout.ms": "1500",
    "replica.lag.time.max.ms": "1000",
    "replica.fetch.backoff.ms": "100",
}


def partitions(admin: AdminClient, topic: str) -> Dict[int, tuple]:
    """partition -> (leader, replicas, isr)."""
    t = admin.list_topics(topic=topic, timeout=5).topics[topic]
    return {p: (m.leader, list(m.replicas), sorted(m.isrs)) for p, m in t.partitions.items()}


def wait_for(admin: AdminClient, topic: str, what: str, ok, timeout: float = 30.0) -> Dict[int, tuple]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            state = partitions(admin, topic)
            if state and ok(state):
                return state
        except KeyError:
            state = None
        assert time.monotonic() < deadline, f"{topic} never {what}: {state}"
        time.sleep(0.1)


def test_acknowledged_records_survive_a_leader_kill_and_the_leader_comes_back(broker_factory):
    nodes = make_cluster(broker_factory, extra=FAST)
    admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
    topic = NewTopic("rep", 3, replication_factor=3, config={"min.insync.replicas": "2"})
    for _, f in admin.create_topics([topic]).items():
        f.result(timeout=30)
    state = wait_for(admin, "rep", "in sync", lambda s: len(s) == 3 and all(len(v[2]) == N_NODES for v in s.values()))
    victim = state[0][0]
    assert state[0][1][0] == victim, "the first replica leads"

    acked: List[str] = []
    errors = []

    def report(err, msg):
        if err is None:
            acked.append(msg.value().decode())
        else:
            errors.append(err)

    producer = Producer({"bootstrap.servers": bootstrap(nodes)})  # librdkafka's default: acks=all
    for i in range(150):
        producer.produce("rep", value=f"c{i}".encode(), partition=i % 3, on_delivery=report)
        producer.poll(0)
    producer.flush(30)
    nodes[victim - 1].kill()
    for i in range(150, 300):
        producer.produce("rep", value=f"c{i}".encode(), partition=i % 3, on_delivery=report)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert errors == [], errors
    assert len(acked) == 300

    # kafka-python 3's defaults: idempotent, acks=all, against the survivors.
    kp = KafkaProducer(bootstrap_servers=bootstrap(nodes))
    futures = [kp.send("rep", value=f"k{i}".encode(), partition=i % 3) for i in range(90)]
    for fut in futures:
        fut.get(timeout=60)
    kp.close()
    acked.extend(f"k{i}" for i in range(90))

    consumer = Consumer({"bootstrap.servers": bootstrap(nodes), "group.id": "rep-g", "auto.offset.reset": "earliest"})
    consumer.subscribe(["rep"])
    got = consume_values(consumer, set(acked))
    consumer.close()
    assert got == set(acked), "every acknowledged record"

    # Back, the killed broker rejoins every ISR; a preferred election gives it partition 0.
    nodes[victim - 1].start()
    survivor_admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
    wait_for(survivor_admin, "rep", "back in sync", lambda s: all(victim in v[2] for v in s.values()))
    result = survivor_admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("rep", 0)]).result(timeout=30)
    assert result[TopicPartition("rep", 0)] is None, result
    wait_for(survivor_admin, "rep", "led by its first replica", lambda s: s[0][0] == victim)
    again = survivor_admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("rep", 0)]).result(timeout=30)
    err = again[TopicPartition("rep", 0)]
    assert err is not None and "ELECTION_NOT_NEEDED" in str(err), again


def test_kafka_python_moves_a_partition_and_every_record_follows(broker_factory):
    nodes = make_cluster(broker_factory, extra=FAST)
    admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
    topic = NewTopic("moving", num_partitions=1, replica_assignment=[[1]])
    for _, f in admin.create_topics([topic]).items():
        f.result(timeout=30)
    wait_for(admin, "moving", "created", lambda s: s[0][0] == 1)
    producer = Producer({"bootstrap.servers": bootstrap(nodes)})
    values = {f"m{i}" for i in range(500)}
    for v in sorted(values):
        producer.produce("moving", value=v.encode())
    assert producer.flush(30) == 0

    kadmin = KafkaAdminClient(bootstrap_servers=bootstrap(nodes))
    tp = KTopicPartition("moving", 0)
    assert kadmin.alter_partition_reassignments({tp: [2, 3]}) == {tp: None}
    deadline = time.monotonic() + 30
    while kadmin.list_partition_reassignments([tp]):
        assert time.monotonic() < deadline, "the move never completed"
        time.sleep(0.1)
    state = wait_for(admin, "moving", "moved", lambda s: s[0][1] == [2, 3] and s[0][2] == [2, 3])
    assert state[0][0] == 2, state
    # Nothing in progress to cancel: the partition's own error.
    assert kadmin.alter_partition_reassignments({tp: None}) == {tp: NoReassignmentInProgressError}
    kadmin.close()

    consumer = Consumer({"bootstrap.servers": bootstrap(nodes), "group.id": "moving-g", "auto.offset.reset": "earliest"})
    consumer.subscribe(["moving"])
    assert consume_values(consumer, values) == values
    consumer.close()


def test_a_consumer_with_client_rack_reads_every_record_from_its_rack(broker_factory):
    """KIP-392: each node in its own rack, the rack-aware selector on; confluent-kafka consumers
    in each rack (client.rack) read a topic of three replicas whole."""
    extra = {
        **FAST,
        "broker.rack": "r{id}",
        "replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector",
    }
    nodes = make_cluster(broker_factory, extra=extra)
    admin = AdminClient({"bootstrap.servers": bootstrap(nodes)})
    for _, f in admin.create_topics([NewTopic("racks", 3, replication_factor=3)]).items():
        f.result(timeout=30)
    wait_for(admin, "racks", "in sync", lambda s: len(s) == 3 and all(len(v[2]) == N_NODES for v in s.values()))
    producer = Producer({"bootstrap.servers": bootstrap(nodes)})
    values = {f"r{i}" for i in range(300)}
    for v in sorted(values):
        producer.produce("racks", value=v.encode())
    assert producer.flush(30) == 0
    for rack in ("r1", "r2", "r3"):
        consumer = Consumer({"bootstrap.servers": bootstrap(nodes), "group.id": f"racks-{rack}",
                             "auto.offset.reset": "earliest", "client.rack": rack})
        consumer.subscribe(["racks"])
        assert consume_values(consumer, values) == values, rack
        consumer.close()
