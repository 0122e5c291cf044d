"""Several named listeners, as the Docker guides set Kafka up: an INTERNAL listener (the one
other nodes use) and an EXTERNAL one advertised as `localhost`. Real clients with their
defaults, given only the EXTERNAL address, are told EXTERNAL endpoints and produce, consume
in a group and administer through them: confluent-kafka and kafka-python.
"""

from __future__ import annotations


from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from kafka import KafkaConsumer, KafkaProducer

from test_cluster import consume_values, create, wait_leaders

OVERRIDES = {
    "listeners": "INTERNAL://127.0.0.1:0,EXTERNAL://127.0.0.1:0",
    "listener.security.protocol.map": "INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT",
    "inter.broker.listener.name": "INTERNAL",
    "advertised.listeners": "EXTERNAL://localhost:0",
    "group.initial.rebalance.delay.ms": "0",
}


def listener_port(broker, name: str) -> int:
    """The port listener `name` bound, from the last ready line's `listeners=`."""
    text = broker.log_path.read_text()
    line = text[text.rindex("kavka is ready"):].splitlines()[0]
    listeners = next(w for w in line.split() if w.startswith("listeners="))[len("listeners="):]
    for item in listeners.split(","):
        if item.startswith(f"{name}://"):
            return int(item.rsplit(":", 1)[1])
    raise AssertionError(f"no {name} in {line}")


def test_clients_of_the_external_listener_are_told_its_endpoints(broker_factory):
    b = broker_factory(OVERRIDES)
    internal = listener_port(b, "INTERNAL")
    external = listener_port(b, "EXTERNAL")
    assert b.port == internal, "the ready line names the inter-broker listener"
    ext = f"localhost:{external}"

    admin = AdminClient({"bootstrap.servers": ext})
    md = admin.list_topics(timeout=10)
    assert [(m.host, m.port) for m in md.brokers.values()] == [("localhost", external)]
    inside = AdminClient({"bootstrap.servers": f"127.0.0.1:{internal}"}).list_topics(timeout=10)
    assert [(m.host, m.port) for m in inside.brokers.values()] == [("127.0.0.1", internal)]

    create(admin, "ext", 3)
    wait_leaders(admin, "ext", 3)
    producer = Producer({"bootstrap.servers": ext})
    for i in range(60):
        producer.produce("ext", value=f"c{i}".encode())
    assert producer.flush(30) == 0
    kp = KafkaProducer(bootstrap_servers=[ext])
    for i in range(30):
        kp.send("ext", value=f"k{i}".encode()).get(timeout=30)
    kp.close()

    expected = {f"c{i}" for i in range(60)} | {f"k{i}" for i in range(30)}
    consumer = Consumer({"bootstrap.servers": ext, "group.id": "ext-g", "auto.offset.reset": "earliest"})
    consumer.subscribe(["ext"])
    consume_values(consumer, expected)
    consumer.close()

    kc = KafkaConsumer(
        "ext",
        bootstrap_servers=[ext],
        group_id="ext-kp",
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    seen = set()
    for m in kc:
        seen.add(m.value.decode())
        if seen == expected:
            break
    kc.close()
    assert seen == expected
