"""kafka-python against kavka.

Consumers use assign()/seek (group_id=None: no coordinator, no commits);
producers keep kafka-python's default: idempotent.
"""

from __future__ import annotations

from typing import Dict, List, Tuple

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka import errors as Errors
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from helpers import (
    CODECS,
    N_PARTITIONS,
    Got,
    check_consumed,
    expected_offset_for_time,
    make_records,
    time_queries,
    wait_until,
)

TIMEOUT_MS = 15_000


def admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=TIMEOUT_MS)


def producer(bootstrap: str, **extra) -> KafkaProducer:
    conf = dict(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        batch_size=64 * 1024,
        request_timeout_ms=TIMEOUT_MS,
    )
    conf.update(extra)
    return KafkaProducer(**conf)


def consumer(bootstrap: str, **extra) -> KafkaConsumer:
    conf = dict(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        check_crcs=True,
        request_timeout_ms=TIMEOUT_MS,
    )
    conf.update(extra)
    return KafkaConsumer(**conf)


def create_topic(bootstrap: str, topic: str, partitions: int = N_PARTITIONS, configs=None) -> None:
    a = admin(bootstrap)
    try:
        res = a.create_topics(
            {topic: {"num_partitions": partitions, "replication_factor": 1, "configs": configs or {}}},
            timeout_ms=10_000,
        )
        assert [t["error_code"] for t in res["topics"]] == [0], res
    finally:
        a.close()


def produce_all(p: KafkaProducer, topic: str, recs) -> Dict[int, Tuple[int, int]]:
    futures = [
        p.send(topic, key=r.key, value=r.value, headers=list(r.headers), timestamp_ms=r.timestamp)
        for r in recs
    ]
    p.flush(timeout=60)
    acked = {}
    for r, f in zip(recs, futures):
        md = f.get(timeout=1)  # raises the delivery error, if any
        acked[r.index] = (md.partition, md.offset)
    return acked


def consume_all(c: KafkaConsumer, topic: str, expected: int, partitions=range(N_PARTITIONS)) -> List[Got]:
    tps = [TopicPartition(topic, p) for p in partitions]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    got: List[Got] = []

    def more():
        for tp, records in c.poll(timeout_ms=500, max_records=5000).items():
            for m in records:
                got.append(
                    Got(
                        partition=m.partition,
                        offset=m.offset,
                        key=m.key,
                        value=m.value,
                        headers=tuple(m.headers or ()),
                        timestamp=m.timestamp,
                        create_time=m.timestamp_type == 0,
                    )
                )
        return len(got) >= expected

    wait_until(more, 60, interval=0, what=f"{expected} records (got {len(got)})")
    return got


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_10k(bootstrap, codec):
    topic = f"kafka-python-{codec}"
    create_topic(bootstrap, topic)

    recs = make_records(f"kafka-python-{codec}")
    base_ts = recs[0].timestamp
    p = producer(bootstrap, compression_type=None if codec == "none" else codec)
    try:
        acked = produce_all(p, topic, recs)
    finally:
        p.close()

    c = consumer(bootstrap)
    try:
        assert c.partitions_for_topic(topic) == {0, 1, 2}
        tps = [TopicPartition(topic, part) for part in range(N_PARTITIONS)]
        counts = {part: sum(1 for pp, _ in acked.values() if pp == part) for part in range(N_PARTITIONS)}
        assert c.beginning_offsets(tps) == {tp: 0 for tp in tps}
        assert c.end_offsets(tps) == {tp: counts[tp.partition] for tp in tps}

        got = consume_all(c, topic, len(recs))
        entries = check_consumed(recs, got, acked=acked)

        for q in time_queries(base_ts):
            res = c.offsets_for_times({tp: q for tp in tps}, timeout_ms=TIMEOUT_MS)
            for tp in tps:
                want = expected_offset_for_time(entries[tp.partition], q)
                r = res[tp]
                if want is None:
                    assert r is None, f"offsets_for_times({q}) p{tp.partition}: {r}, want None"
                else:
                    assert r is not None and r.offset == want, (
                        f"offsets_for_times(ts=base+{q - base_ts}) p{tp.partition}: {r}, want {want}"
                    )
                    assert r.timestamp == dict(entries[tp.partition])[want]
    finally:
        c.close()

    a = admin(bootstrap)
    try:
        res = a.delete_topics([topic], timeout_ms=10_000)
        assert [t["error_code"] for t in res["topics"]] == [0], res
        wait_until(lambda: topic not in a.list_topics(), 10, what=f"{topic} to disappear")
    finally:
        a.close()


@pytest.mark.parametrize("acks", [0, 1])
def test_acks(bootstrap, acks):
    topic = f"kp-acks-{acks}"
    create_topic(bootstrap, topic, partitions=1)
    recs = make_records(f"kp-acks{acks}", n=500)
    p = producer(bootstrap, acks=acks)
    try:
        acked = produce_all(p, topic, recs)
    finally:
        p.close()
    if acks == 1:
        assert [acked[i][1] for i in range(len(recs))] == list(range(len(recs)))
    c = consumer(bootstrap)
    try:
        got = consume_all(c, topic, len(recs), partitions=[0])
    finally:
        c.close()
    check_consumed(recs, got, n_partitions=1)


def test_describe_configs(bootstrap):
    topic = "kp-configs"
    create_topic(bootstrap, topic, partitions=1,
                 configs={"retention.ms": "7200000", "cleanup.policy": "delete"})
    a = admin(bootstrap)
    try:
        res = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
        configs = res["topic"][topic]
        for name in ("retention.ms", "cleanup.policy", "segment.bytes", "max.message.bytes"):
            assert name in configs, f"{name} missing from describe_configs: {sorted(configs)}"
        assert configs["retention.ms"]["value"] == "7200000"
        assert configs["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        assert configs["cleanup.policy"]["value"] == "delete"

        modified = a.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
        assert modified["retention.ms"]["value"] == "7200000"
        assert "segment.bytes" not in modified, f"defaults reported as modified: {sorted(modified)}"
    finally:
        a.close()


def test_admin_errors(broker_factory):
    b = broker_factory({"auto.create.topics.enable": "false"})
    a = admin(b.bootstrap)
    try:
        with pytest.raises(Errors.InvalidReplicationFactorError):
            a.create_topics({"kp-rf3": {"num_partitions": 1, "replication_factor": 3}})
        with pytest.raises(Errors.InvalidTopicError):
            a.create_topics({"kp bad name!": {"num_partitions": 1, "replication_factor": 1}})
        a.create_topics({"kp-dup": {"num_partitions": 1, "replication_factor": 1}})
        with pytest.raises(Errors.TopicAlreadyExistsError):
            a.create_topics({"kp-dup": {"num_partitions": 1, "replication_factor": 1}})
        with pytest.raises(Errors.UnknownTopicOrPartitionError):
            a.delete_topics(["kp-never-created"])

        [t] = a.describe_topics(["kp-missing"])
        assert t["error_code"] == Errors.UnknownTopicOrPartitionError.errno, t
        assert sorted(a.list_topics()) == ["kp-dup"]
    finally:
        a.close()

    # The Java-style producer blocks for metadata of a topic that does not
    # exist and gives up after max_block_ms.
    p = producer(b.bootstrap, max_block_ms=2000)
    try:
        with pytest.raises(Errors.KafkaTimeoutError):
            p.send("kp-missing", value=b"x")
    finally:
        p.close(timeout=5)
