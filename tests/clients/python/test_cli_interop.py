"""The kavka CLI tools against confluent-kafka (librdkafka), both ways.

Records produced by `kavka console-producer` with keys are read back by confluent-kafka, and land
on the partitions confluent-kafka's own producer picks for the same keys with the Java client's
partitioner (librdkafka's `murmur2_random`; its default, `consistent_random`, is CRC32-based).
Records produced by confluent-kafka are read back by `kavka console-consumer`.
"""

from __future__ import annotations

import subprocess
from typing import Dict, List, Optional, Tuple

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from conftest import kavka_bin

PARTITIONS = 6
KEYS = [f"user-{i}" for i in range(40)] + ["a", "b", "quickstart", "ünïcode-kéy"]
TIMEOUT_S = 60


def kavka(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [kavka_bin(), *args],
        input=stdin.encode(),
        capture_output=True,
        timeout=TIMEOUT_S,
    )
    assert proc.returncode == 0, (
        f"kavka {' '.join(args)} exited {proc.returncode}\n"
        f"stdout:\n{proc.stdout.decode(errors='replace')}\n"
        f"stderr:\n{proc.stderr.decode(errors='replace')}"
    )
    return proc


def create_topic(bootstrap: str, topic: str) -> None:
    out = kavka("topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
                "--partitions", str(PARTITIONS))
    assert out.stdout.decode() == f"Created topic {topic}.\n"


def read_all(bootstrap: str, topic: str, expected: int) -> List[Tuple[int, Optional[str], str]]:
    """(partition, key, value) of every record, read with confluent-kafka by assignment."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cli-interop-reader",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    got: List[Tuple[int, Optional[str], str]] = []
    try:
        for _ in range(600):
            if len(got) >= expected:
                break
            msg = c.poll(0.1)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            key = msg.key().decode() if msg.key() is not None else None
            got.append((msg.partition(), key, msg.value().decode()))
    finally:
        c.close()
    assert len(got) == expected, got
    return got


def confluent_partitions(bootstrap: str, topic: str) -> Dict[str, int]:
    """The partition confluent-kafka's producer (Java murmur2) picks for each key."""
    p = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    placed: Dict[str, int] = {}

    def on_delivery(err, msg):
        assert err is None, err
        placed[msg.key().decode()] = msg.partition()

    for key in KEYS:
        p.produce(topic, key=key.encode(), value=f"from-confluent-{key}".encode(),
                  on_delivery=on_delivery)
    assert p.flush(TIMEOUT_S) == 0
    assert len(placed) == len(KEYS)
    return placed


def test_kavka_producer_keys_land_where_confluent_puts_them(bootstrap):
    topic = "cli-interop-keys"
    create_topic(bootstrap, topic)
    lines = "".join(f"{key}:value-of-{key}\n" for key in KEYS)
    kavka("console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
          "--property", "parse.key=true", "--property", "key.separator=:", stdin=lines)

    got = read_all(bootstrap, topic, len(KEYS))
    by_kavka = {key: partition for partition, key, _ in got}
    assert {key: value for _, key, value in got} == {k: f"value-of-{k}" for k in KEYS}
    assert len(set(by_kavka.values())) > 1, "keys spread over partitions"

    by_confluent = confluent_partitions(bootstrap, topic)
    assert by_kavka == by_confluent


def test_kavka_consumer_reads_confluent_records(bootstrap):
    topic = "cli-interop-consume"
    create_topic(bootstrap, topic)
    by_confluent = confluent_partitions(bootstrap, topic)

    out = kavka("console-consumer", "--bootstrap-server", bootstrap, "--topic", topic,
                "--from-beginning", "--max-messages", str(len(KEYS)),
                "--property", "print.key=true", "--property", "print.partition=true",
                "--property", "key.separator=|")
    assert f"Processed a total of {len(KEYS)} messages" in out.stderr.decode()
    rows = [line.split("|") for line in out.stdout.decode().splitlines()]
    assert len(rows) == len(KEYS)
    seen = {key: (int(part.removeprefix("Partition:")), value) for part, key, value in rows}
    assert seen == {k: (by_confluent[k], f"from-confluent-{k}") for k in KEYS}


def test_kavka_producer_compression_is_read_by_confluent(bootstrap):
    topic = "cli-interop-codecs"
    create_topic(bootstrap, topic)
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        lines = "".join(f"{codec}-{i}\n" for i in range(20))
        kavka("console-producer", "--bootstrap-server", bootstrap, "--topic", topic,
              "--compression-codec", codec, stdin=lines)
    got = read_all(bootstrap, topic, 80)
    assert all(key is None for _, key, _ in got)
    values = sorted(v for _, _, v in got)
    assert values == sorted(f"{c}-{i}" for c in ("gzip", "snappy", "lz4", "zstd") for i in range(20))
