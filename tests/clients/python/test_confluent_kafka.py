"""confluent-kafka (librdkafka) against kavka.

Consumers here use partition assignment to check the data path on its own (consumer groups
are tested in test_groups_*.py): group.id is a dummy string, auto commit is off.
Producers are not idempotent (librdkafka's default).
"""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource, NewTopic, OffsetSpec, ResourceType

from cfk import (
    TIMEOUT,
    admin,
    consume_all,
    consumer,
    create_topic,
    produce_all,
    producer,
    topic_partitions,
)
from helpers import (
    CODECS,
    N_PARTITIONS,
    check_consumed,
    expected_offset_for_time,
    make_records,
    time_queries,
    wait_until,
)


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_10k(bootstrap, codec):
    topic = f"confluent-{codec}"
    create_topic(bootstrap, topic)
    assert topic_partitions(bootstrap, topic) == [0, 1, 2]

    recs = make_records(f"confluent-{codec}")
    base_ts = recs[0].timestamp
    p = producer(bootstrap, compression_type=codec)
    acked = produce_all(p, topic, recs)

    c = consumer(bootstrap)
    try:
        # ListOffsets earliest/latest
        for part in range(N_PARTITIONS):
            n_p = sum(1 for pp, _ in acked.values() if pp == part)
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, part), timeout=TIMEOUT, cached=False)
            assert (lo, hi) == (0, n_p), f"partition {part} watermarks"

        got = consume_all(c, topic, len(recs))
        entries = check_consumed(recs, got, acked=acked)
        assert all(len(entries[part]) > 0 for part in range(N_PARTITIONS)), "a partition got no keys"

        # ListOffsets by timestamp
        queries = time_queries(base_ts)
        for q in queries:
            res = c.offsets_for_times(
                [TopicPartition(topic, part, q) for part in range(N_PARTITIONS)], timeout=TIMEOUT
            )
            for tp in res:
                assert tp.error is None, f"offsets_for_times({q}) p{tp.partition}: {tp.error}"
                want = expected_offset_for_time(entries[tp.partition], q)
                # librdkafka reports "no such offset" as -1 (OFFSET_END)
                assert tp.offset == (-1 if want is None else want), (
                    f"offsets_for_times(ts={q} = base+{q - base_ts}) partition {tp.partition}: "
                    f"got {tp.offset}, want {want}"
                )
    finally:
        c.close()

    # ListOffsets via the admin API: earliest, latest, max timestamp, by time
    a = admin(bootstrap)
    specs = {
        "earliest": OffsetSpec.earliest(),
        "latest": OffsetSpec.latest(),
        "max_timestamp": OffsetSpec.max_timestamp(),
        "for_timestamp": OffsetSpec.for_timestamp(base_ts + 5000),
    }
    for name, spec in specs.items():
        fs = a.list_offsets({TopicPartition(topic, part): spec for part in range(N_PARTITIONS)},
                            request_timeout=TIMEOUT)
        for tp, f in fs.items():
            info = f.result(timeout=TIMEOUT)
            e = entries[tp.partition]
            want = {
                "earliest": 0,
                "latest": len(e),
                "max_timestamp": e[-1][0],
                "for_timestamp": expected_offset_for_time(e, base_ts + 5000),
            }[name]
            assert info.offset == want, f"list_offsets {name} p{tp.partition}: {info.offset} != {want}"
            if name == "max_timestamp":
                assert info.timestamp == e[-1][1]

    fs = a.delete_topics([topic], operation_timeout=10, request_timeout=TIMEOUT)
    fs[topic].result(timeout=TIMEOUT)
    wait_until(
        lambda: topic not in a.list_topics(timeout=TIMEOUT).topics, 10, what=f"{topic} to disappear"
    )


@pytest.mark.parametrize("acks", ["0", "1"])
def test_acks(bootstrap, acks):
    topic = f"acks-{acks}"
    create_topic(bootstrap, topic, partitions=1)
    recs = make_records(f"acks{acks}", n=500)
    p = producer(bootstrap, acks=acks, linger_ms=1)
    delivered = []

    def on_delivery(err, msg):
        assert err is None, f"delivery error with acks={acks}: {err}"
        delivered.append(msg.offset())

    for r in recs:
        p.produce(topic, key=r.key, value=r.value, headers=list(r.headers),
                  timestamp=r.timestamp, on_delivery=on_delivery)
    assert p.flush(30) == 0
    assert len(delivered) == len(recs)
    if acks == "1":
        assert delivered == list(range(len(recs)))
    c = consumer(bootstrap)
    try:
        got = consume_all(c, topic, len(recs), partitions=[0], timeout=30)
    finally:
        c.close()
    check_consumed(recs, got, n_partitions=1)


def test_auto_create_on_produce(broker_factory):
    b = broker_factory({"num.partitions": "2"})
    topic = "auto-created-by-produce"
    p = producer(b.bootstrap)
    reports = []
    p.produce(topic, value=b"hello", partition=0,
              on_delivery=lambda err, msg: reports.append((err, msg.partition(), msg.offset())))
    assert p.flush(TIMEOUT) == 0
    assert reports == [(None, 0, 0)]
    assert topic_partitions(b.bootstrap, topic) == [0, 1]


def test_auto_create_on_metadata(broker_factory):
    b = broker_factory({"num.partitions": "2"})
    topic = "auto-created-by-metadata"
    # A producer's metadata request sets allow_auto_topic_creation=true.
    p = producer(b.bootstrap)
    md = p.list_topics(topic=topic, timeout=TIMEOUT)
    assert topic in md.topics

    def ready():
        t = p.list_topics(topic=topic, timeout=TIMEOUT).topics[topic]
        return t.error is None and len(t.partitions) == 2

    wait_until(ready, 10, what="auto-created topic in metadata")
    assert topic_partitions(b.bootstrap, topic) == [0, 1]


def test_no_auto_create_unknown_topic(broker_factory):
    b = broker_factory({"auto.create.topics.enable": "false"})
    topic = "does-not-exist"
    md = producer(b.bootstrap).list_topics(topic=topic, timeout=TIMEOUT)
    t = md.topics[topic]
    assert t.error is not None and t.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, (
        f"metadata for a missing topic: {t.error}"
    )

    p = producer(b.bootstrap, topic_metadata_propagation_max_ms=1000, message_timeout_ms=5000)
    errs = []
    p.produce(topic, value=b"x", on_delivery=lambda err, msg: errs.append(err))
    assert p.flush(TIMEOUT) == 0
    assert len(errs) == 1 and errs[0] is not None, f"produce to a missing topic succeeded: {errs}"
    # librdkafka maps the broker's UNKNOWN_TOPIC_OR_PARTITION metadata answer to
    # its local _UNKNOWN_TOPIC when failing queued messages.
    assert errs[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC), errs[0]
    assert topic not in admin(b.bootstrap).list_topics(timeout=TIMEOUT).topics


def test_create_topic_replication_factor_3_fails(bootstrap):
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic("rf3", num_partitions=1, replication_factor=3)],
                         request_timeout=TIMEOUT)
    with pytest.raises(KafkaException) as ei:
        fs["rf3"].result(timeout=TIMEOUT)
    assert ei.value.args[0].code() == KafkaError.INVALID_REPLICATION_FACTOR, ei.value
    assert "rf3" not in admin(bootstrap).list_topics(timeout=TIMEOUT).topics


@pytest.mark.parametrize("name", ["bad name!", "a" * 250, "..", "star*"])
def test_create_invalid_topic_name_fails(bootstrap, name):
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)],
                         request_timeout=TIMEOUT)
    with pytest.raises(KafkaException) as ei:
        fs[name].result(timeout=TIMEOUT)
    assert ei.value.args[0].code() == KafkaError.TOPIC_EXCEPTION, ei.value


def test_create_existing_topic_fails(bootstrap):
    create_topic(bootstrap, "twice", partitions=1)
    a = admin(bootstrap)
    fs = a.create_topics([NewTopic("twice", num_partitions=1, replication_factor=1)],
                         request_timeout=TIMEOUT)
    with pytest.raises(KafkaException) as ei:
        fs["twice"].result(timeout=TIMEOUT)
    assert ei.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS, ei.value


def test_describe_cluster_and_configs(broker):
    a = admin(broker.bootstrap)
    desc = a.describe_cluster(request_timeout=TIMEOUT).result(timeout=TIMEOUT)
    assert len(desc.nodes) == 1
    node = desc.nodes[0]
    assert (node.host, node.port) == ("127.0.0.1", broker.port)
    assert desc.controller is not None and desc.controller.id == node.id
    assert desc.cluster_id

    create_topic(broker.bootstrap, "configured", partitions=1, config={"retention.ms": "3600000"})
    fs = a.describe_configs([ConfigResource(ResourceType.TOPIC, "configured")], request_timeout=TIMEOUT)
    configs = list(fs.values())[0].result(timeout=TIMEOUT)
    assert configs["retention.ms"].value == "3600000"
    assert configs["cleanup.policy"].value == "delete"


def test_long_poll(bootstrap):
    topic = "long-poll"
    create_topic(bootstrap, topic, partitions=1)
    # The fetch waits up to 10 s on the broker; the record produced after 1 s
    # must complete it early.
    c = consumer(bootstrap, fetch_wait_max_ms=10_000, fetch_min_bytes=1)
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        early = c.poll(0.5)
        assert early is None, f"empty topic polled: {early.error() or early.value()}"

        def later():
            time.sleep(1.0)
            p = producer(bootstrap, linger_ms=0)
            p.produce(topic, value=b"late record")
            p.flush(TIMEOUT)

        t = threading.Thread(target=later)
        start = time.monotonic()
        t.start()
        msg = None
        while time.monotonic() - start < 15:
            m = c.poll(0.2)
            if m is not None and m.error() is None:
                msg = m
                break
        elapsed = time.monotonic() - start
        t.join()
        assert msg is not None, "the record produced after 1 s never arrived"
        assert msg.value() == b"late record" and msg.offset() == 0
        assert 0.9 <= elapsed < 5.0, f"record arrived after {elapsed:.2f}s (fetch.wait.max.ms=10000)"
    finally:
        c.close()
