"""Configs, partitions, record deletion, retention and compaction with confluent-kafka.

DescribeConfigs (sources, synonyms), IncrementalAlterConfigs (SET / DELETE / APPEND /
SUBTRACT, validate_only, INVALID_CONFIG leaves everything unchanged, survives a restart),
AlterConfigs (replaces the whole set), dynamic broker configs (per node and cluster
default), CreatePartitions, DeleteRecords, time and size retention, log compaction.

Two things librdkafka cannot express are done with kafka-python (already a suite
dependency): a ConfigResource(BROKER, "") (the cluster default; librdkafka refuses it
locally with "Expected an int32 broker_id") and DescribeLogDirs (not in confluent-kafka).

Consumers use partition assignment only; producers are not idempotent.
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Tuple

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import (
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    OffsetSpec,
    ResourceType,
)

from cfk import TIMEOUT, admin, consumer, create_topic, producer, topic_partitions
from helpers import wait_until

# Background tasks run often enough for a test to see them work within seconds.
FAST_BACKGROUND = {
    "log.retention.check.interval.ms": "200",
    "log.cleaner.backoff.ms": "200",
}

LONG_MAX = "9223372036854775807"

# Kafka's topic configs (tiered storage and replication throttling aside) with Kafka's defaults.
KAFKA_TOPIC_DEFAULTS = {
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "delete.retention.ms": "86400000",
    "file.delete.delay.ms": "60000",
    "flush.messages": LONG_MAX,
    "flush.ms": LONG_MAX,
    "index.interval.bytes": "4096",
    "max.compaction.lag.ms": LONG_MAX,
    "max.message.bytes": "1048588",
    "message.timestamp.after.max.ms": "3600000",
    "message.timestamp.before.max.ms": LONG_MAX,
    "message.timestamp.type": "CreateTime",
    "min.cleanable.dirty.ratio": "0.5",
    "min.compaction.lag.ms": "0",
    "min.insync.replicas": "1",
    "preallocate": "false",
    "retention.bytes": "-1",
    "retention.ms": "604800000",
    "segment.bytes": "1073741824",
    "segment.index.bytes": "10485760",
    "segment.jitter.ms": "0",
    "segment.ms": "604800000",
    "unclean.leader.election.enable": "false",
}

SET, DELETE, APPEND, SUBTRACT = (
    AlterConfigOpType.SET,
    AlterConfigOpType.DELETE,
    AlterConfigOpType.APPEND,
    AlterConfigOpType.SUBTRACT,
)


# ---------------------------------------------------------------------------------------------
# helpers


def now_ms() -> int:
    return int(time.time() * 1000)


def describe(a, name: str, restype=ResourceType.TOPIC) -> Dict[str, ConfigEntry]:
    fs = a.describe_configs([ConfigResource(restype, name)], request_timeout=TIMEOUT)
    return list(fs.values())[0].result(timeout=TIMEOUT)


def topic_values(a, topic: str) -> Dict[str, Tuple[Optional[str], ConfigSource]]:
    return {k: (e.value, ConfigSource(e.source)) for k, e in describe(a, topic).items()}


def synonym_list(bootstrap: str, topic: str, name: str) -> List[Tuple[str, str, str]]:
    """A topic config's synonyms in the broker's order, as (name, value, source name).

    Read with kafka-python: confluent-kafka returns synonyms as a dict keyed by name, which
    folds two layers of the same broker key (e.g. a dynamic log.retention.ms and the default
    log.retention.ms) into one entry.
    """
    from kafka.admin import ConfigResource as KResource, ConfigResourceType, KafkaAdminClient

    ka = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    try:
        res = ka.describe_configs([KResource(ConfigResourceType.TOPIC, topic)], include_synonyms=True,
                                  config_filter="all")
    finally:
        ka.close()
    return [(s["name"], s["value"], s["source"]) for s in res["topic"][topic][name]["synonyms"]]


def incremental(a, name: str, ops: List[Tuple[str, AlterConfigOpType, Optional[str]]],
                restype=ResourceType.TOPIC, validate_only: bool = False) -> None:
    """IncrementalAlterConfigs of one resource; raises KafkaException on a broker error."""
    entries = [ConfigEntry(k, v, incremental_operation=op) for k, op, v in ops]
    fs = a.incremental_alter_configs(
        [ConfigResource(restype, name, incremental_configs=entries)],
        validate_only=validate_only,
        request_timeout=TIMEOUT,
    )
    list(fs.values())[0].result(timeout=TIMEOUT)


def expect_error(code: int, fn, *args, **kwargs) -> KafkaError:
    with pytest.raises(KafkaException) as ei:
        fn(*args, **kwargs)
    err = ei.value.args[0]
    assert err.code() == code, f"expected error {code}, got {err.code()} ({err})"
    return err


def list_offset(a, topic: str, spec, partition: int = 0) -> int:
    tp = TopicPartition(topic, partition)
    fs = a.list_offsets({tp: spec}, request_timeout=TIMEOUT)
    return list(fs.values())[0].result(timeout=TIMEOUT).offset


def earliest(a, topic: str, partition: int = 0) -> int:
    return list_offset(a, topic, OffsetSpec.earliest(), partition)


def latest(a, topic: str, partition: int = 0) -> int:
    return list_offset(a, topic, OffsetSpec.latest(), partition)


def produce(bootstrap: str, topic: str, items, batch: int = 10, flush_every: Optional[int] = None,
            partition: int = 0, **extra) -> List[int]:
    """Produces (key, value, timestamp) items in order to one partition; returns their offsets.

    With flush_every=n the producer sends exactly n records per batch (linger is long, the
    batch is full at n records, flush sends it), which makes segment rolls predictable.
    """
    conf = dict(linger_ms=1000 if flush_every else 5, batch_num_messages=flush_every or batch)
    conf.update(extra)
    p = producer(bootstrap, **conf)
    offsets: Dict[int, int] = {}
    errors: List[str] = []

    def report(i):
        def cb(err, msg):
            if err is not None:
                errors.append(f"#{i}: {err}")
            else:
                offsets[i] = msg.offset()
        return cb

    for i, (key, value, ts) in enumerate(items):
        kw = {"timestamp": ts} if ts is not None else {}
        while True:
            try:
                p.produce(topic, key=key, value=value, partition=partition, on_delivery=report(i), **kw)
                break
            except BufferError:
                p.poll(0.05)
        if flush_every and (i + 1) % flush_every == 0:
            assert p.flush(TIMEOUT) == 0
        p.poll(0)
    assert p.flush(TIMEOUT) == 0, "undelivered records"
    assert not errors, f"{len(errors)} delivery errors: {errors[:5]}"
    return [offsets[i] for i in range(len(items))]


def read_partition(bootstrap: str, topic: str, partition: int = 0, timeout: float = 15.0,
                   start: int = OFFSET_BEGINNING) -> List[Tuple[int, Optional[bytes], Optional[bytes], int]]:
    """Every record from `start` to the current end: [(offset, key, value, timestamp)]."""
    c = consumer(bootstrap, enable_partition_eof=True)
    try:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT, cached=False)
        if hi == lo:
            return []
        c.assign([TopicPartition(topic, partition, start)])
        got: List[Tuple[int, Optional[bytes], Optional[bytes], int]] = []
        deadline = time.monotonic() + timeout
        while True:
            assert time.monotonic() < deadline, (
                f"read {len(got)} records of {topic}[{partition}] in {timeout}s, "
                f"watermarks ({lo}, {hi}), last offset {got[-1][0] if got else None}"
            )
            for m in c.consume(num_messages=1000, timeout=0.5):
                if m.error() is not None:
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        if m.offset() >= hi:
                            return got
                        continue
                    raise AssertionError(f"consumer error: {m.error()}")
                got.append((m.offset(), m.key(), m.value(), m.timestamp()[1]))
    finally:
        c.close()


def log_dir_size(bootstrap: str, topic: str, partition: int = 0) -> int:
    """The partition's size from DescribeLogDirs (kafka-python: confluent-kafka has no
    describe_log_dirs)."""
    from kafka.admin import KafkaAdminClient

    ka = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    try:
        res = ka.describe_log_dirs(topic_partitions={topic: [partition]})
    finally:
        ka.close()
    sizes = []
    for broker in res:
        for d in broker["log_dirs"]:
            assert d.get("error_code", 0) == 0, f"DescribeLogDirs error: {d}"
            for t in d.get("topics", []):
                if t.get("name") != topic:
                    continue
                for p in t.get("partitions", []):
                    if p.get("partition_index") == partition:
                        sizes.append(p["partition_size"])
    assert len(sizes) == 1, f"DescribeLogDirs: {topic}[{partition}] found {len(sizes)} times in {res}"
    return sizes[0]


def assert_stays(pred, duration: float, what: str, interval: float = 0.1) -> None:
    """Asserts that pred() holds at every check during `duration` seconds (for "nothing
    happens" checks: each one spans several background-task periods)."""
    deadline = time.monotonic() + duration
    while True:
        assert pred(), what
        if time.monotonic() > deadline:
            return
        time.sleep(interval)


def alter_cluster_default(bootstrap: str, configs: Dict[str, object]) -> List[Tuple[int, Optional[str]]]:
    """IncrementalAlterConfigs of ConfigResource(BROKER, "") (every broker's default).

    Neither librdkafka ("Expected an int32 broker_id") nor kafka-python's public API accepts
    an empty broker name, so the request is built and sent with kafka-python's internals.
    `configs` maps a key to a value (SET) or to (op name, value).
    Returns [(error_code, error_message)] of the resources in the response.
    """
    from kafka.admin import ConfigResource as KResource, ConfigResourceType, KafkaAdminClient

    ka = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(TIMEOUT * 1000))
    try:
        req = ka._alter_configs_request([KResource(ConfigResourceType.BROKER, "", configs)], False, True)

        async def send():
            return await ka._manager.send(req)

        resp = ka._manager.run(send)
        return [(r.error_code, r.error_message) for r in resp.responses]
    finally:
        ka.close()


# ---------------------------------------------------------------------------------------------
# 1. DescribeConfigs


def test_describe_topic_configs_sources_and_synonyms(broker_factory):
    b = broker_factory({"log.retention.bytes": "1000000"})
    bs = b.bootstrap
    create_topic(bs, "described", partitions=1,
                 config={"retention.ms": "3600000", "cleanup.policy": "compact"})
    a = admin(bs)
    configs = describe(a, "described")

    missing = sorted(set(KAFKA_TOPIC_DEFAULTS) - set(configs))
    assert not missing, f"topic configs missing from DescribeConfigs: {missing}"
    for name, e in configs.items():
        assert e.name == name
        assert e.value is not None, f"{name} has no value"
        assert not e.is_sensitive, f"{name} is marked sensitive"
        assert not e.is_read_only, f"{name} is marked read-only"

    overridden = {"retention.ms": "3600000", "cleanup.policy": "compact"}
    static = {"retention.bytes": "1000000"}
    for name, default in KAFKA_TOPIC_DEFAULTS.items():
        e = configs[name]
        if name in overridden:
            want = (overridden[name], ConfigSource.DYNAMIC_TOPIC_CONFIG)
        elif name in static:
            want = (static[name], ConfigSource.STATIC_BROKER_CONFIG)
        else:
            want = (default, ConfigSource.DEFAULT_CONFIG)
        assert (e.value, ConfigSource(e.source)) == want, f"{name}: {(e.value, e.source)} != {want}"
        assert e.is_default == (want[1] == ConfigSource.DEFAULT_CONFIG), f"{name}: is_default {e.is_default}"

    # Synonyms (librdkafka always asks for them): the topic's own value first, then the broker
    # layers down to Kafka's default.
    syn = list(configs["retention.ms"].synonyms.values())
    assert syn, "retention.ms: no synonyms returned"
    assert (syn[0].name, syn[0].value, ConfigSource(syn[0].source)) == (
        "retention.ms", "3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG
    ), f"retention.ms first synonym: {[(s.name, s.value, s.source) for s in syn]}"
    defaults = [(s.name, s.value) for s in syn if ConfigSource(s.source) == ConfigSource.DEFAULT_CONFIG]
    # Kafka names log.retention.hours=168 here, log.retention.ms=604800000 is the same value.
    assert defaults and defaults[-1] in {("log.retention.hours", "168"), ("log.retention.ms", "604800000")}, (
        f"retention.ms default synonym: {[(s.name, s.value, s.source) for s in syn]}"
    )

    syn = list(configs["segment.bytes"].synonyms.values())
    assert [(s.name, s.value, ConfigSource(s.source)) for s in syn] == [
        ("log.segment.bytes", "1073741824", ConfigSource.DEFAULT_CONFIG)
    ], f"segment.bytes synonyms: {[(s.name, s.value, s.source) for s in syn]}"

    syn = configs["retention.bytes"].synonyms
    assert list(syn) == ["log.retention.bytes"], f"retention.bytes synonyms: {list(syn)}"
    # the same, in order, without confluent-kafka's folding by name
    syn = synonym_list(bs, "described", "retention.bytes")
    assert syn and syn[0] == ("log.retention.bytes", "1000000", "STATIC_BROKER_CONFIG"), syn
    assert all(s[2] == "DEFAULT_CONFIG" for s in syn[1:]), syn

    syn = list(configs["cleanup.policy"].synonyms.values())
    assert (syn[0].name, syn[0].value) == ("cleanup.policy", "compact")
    assert any(s.name == "log.cleanup.policy" and s.value == "delete" for s in syn), (
        f"cleanup.policy synonyms: {[(s.name, s.value, s.source) for s in syn]}"
    )


# ---------------------------------------------------------------------------------------------
# 2. IncrementalAlterConfigs on a topic


def test_incremental_alter_topic_configs(broker):
    bs = broker.bootstrap
    topic = "altered"
    create_topic(bs, topic, partitions=1)
    a = admin(bs)

    def value(name):
        return topic_values(a, topic)[name]

    # SET, then DELETE back to the default
    incremental(a, topic, [("retention.ms", SET, "3600000")])
    assert value("retention.ms") == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    incremental(a, topic, [("retention.ms", DELETE, None)])
    assert value("retention.ms") == ("604800000", ConfigSource.DEFAULT_CONFIG)

    # APPEND to a list starts from its current (default) value; SUBTRACT removes an item
    incremental(a, topic, [("cleanup.policy", APPEND, "compact")])
    assert value("cleanup.policy") == ("delete,compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    incremental(a, topic, [("cleanup.policy", APPEND, "compact")])  # already there: no duplicate
    assert value("cleanup.policy") == ("delete,compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    incremental(a, topic, [("cleanup.policy", SUBTRACT, "delete")])
    assert value("cleanup.policy") == ("compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)

    # several operations in one request
    incremental(a, topic, [("retention.ms", SET, "7200000"), ("segment.bytes", SET, "2048"),
                           ("min.cleanable.dirty.ratio", SET, "0.25")])
    before = topic_values(a, topic)
    assert before["retention.ms"] == ("7200000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert before["segment.bytes"] == ("2048", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert before["min.cleanable.dirty.ratio"] == ("0.25", ConfigSource.DYNAMIC_TOPIC_CONFIG)

    # validate_only: accepted, nothing changes
    incremental(a, topic, [("retention.ms", SET, "1234"), ("cleanup.policy", DELETE, None)],
                validate_only=True)
    assert topic_values(a, topic) == before, "validate_only changed the configs"

    # invalid requests: INVALID_CONFIG with a message naming the config, nothing changes (a
    # valid operation next to the invalid one is not applied either)
    bad = [
        ("unknown name", [("no.such.config", SET, "1")], "no.such.config"),
        ("wrong type", [("retention.ms", SET, "soon")], "retention.ms"),
        ("wrong type (int)", [("segment.bytes", SET, "big")], "segment.bytes"),
        ("out of range ratio", [("min.cleanable.dirty.ratio", SET, "1.5")], "min.cleanable.dirty.ratio"),
        ("out of range int", [("min.insync.replicas", SET, "0")], "min.insync.replicas"),
        ("bad list item", [("cleanup.policy", APPEND, "shred")], "cleanup.policy"),
        ("bad enum", [("compression.type", SET, "brotli")], "compression.type"),
        ("append to a non-list", [("retention.ms", APPEND, "5")], "retention.ms"),
        ("valid + invalid", [("retention.ms", SET, "1000"), ("no.such.config", SET, "1")], "no.such.config"),
    ]
    for what, ops, named in bad:
        err = expect_error(KafkaError.INVALID_CONFIG, incremental, a, topic, ops)
        assert named in err.str(), f"{what}: error message does not name {named}: {err.str()!r}"
        after = topic_values(a, topic)
        assert after == before, f"{what}: configs changed: " + str(
            {k: (before.get(k), after.get(k)) for k in set(before) | set(after) if before.get(k) != after.get(k)}
        )
        # the same request with validate_only is refused the same way
        expect_error(KafkaError.INVALID_CONFIG, incremental, a, topic, ops, validate_only=True)

    # the changes are metadata: they survive a restart
    assert broker.stop() == 0
    broker.start()
    a = admin(bs)
    assert topic_values(a, topic) == before, "configs changed across a restart"


# ---------------------------------------------------------------------------------------------
# 3. AlterConfigs (legacy): replaces the whole set


def test_alter_configs_replaces_overrides(broker):
    bs = broker.bootstrap
    topic = "replaced"
    create_topic(bs, topic, partitions=1, config={"retention.ms": "3600000", "segment.bytes": "1048576"})
    a = admin(bs)
    v = topic_values(a, topic)
    assert v["retention.ms"] == ("3600000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert v["segment.bytes"] == ("1048576", ConfigSource.DYNAMIC_TOPIC_CONFIG)

    def alter(conf, validate_only=False):
        fs = a.alter_configs([ConfigResource(ResourceType.TOPIC, topic, set_config=conf)],
                             validate_only=validate_only, request_timeout=TIMEOUT)
        list(fs.values())[0].result(timeout=TIMEOUT)

    alter({"cleanup.policy": "compact", "max.message.bytes": "2000000"}, validate_only=True)
    assert topic_values(a, topic) == v, "validate_only AlterConfigs changed the configs"

    alter({"cleanup.policy": "compact", "max.message.bytes": "2000000"})
    after = topic_values(a, topic)
    assert after["cleanup.policy"] == ("compact", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    assert after["max.message.bytes"] == ("2000000", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    # overrides not in the new set are gone
    assert after["retention.ms"] == ("604800000", ConfigSource.DEFAULT_CONFIG)
    assert after["segment.bytes"] == ("1073741824", ConfigSource.DEFAULT_CONFIG)
    overrides = {k for k, (_, s) in after.items() if s == ConfigSource.DYNAMIC_TOPIC_CONFIG}
    assert overrides == {"cleanup.policy", "max.message.bytes"}

    for conf in ({"retention.ms": "soon"}, {"no.such.config": "1"},
                 {"cleanup.policy": "delete", "min.cleanable.dirty.ratio": "7"}):
        expect_error(KafkaError.INVALID_CONFIG, alter, conf)
        assert topic_values(a, topic) == after, f"a refused AlterConfigs {conf} changed the configs"

    # an empty set removes every override
    alter({})
    assert all(s == ConfigSource.DEFAULT_CONFIG for _, s in topic_values(a, topic).values())


# ---------------------------------------------------------------------------------------------
# 4. Dynamic broker configs


def test_dynamic_broker_configs(broker):
    bs = broker.bootstrap
    a = admin(bs)
    node = str(a.describe_cluster(request_timeout=TIMEOUT).result(timeout=TIMEOUT).nodes[0].id)
    create_topic(bs, "plain", partitions=1)
    create_topic(bs, "own", partitions=1, config={"retention.ms": "1000000"})

    # the cluster default (resource name "")
    res = alter_cluster_default(bs, {"log.retention.ms": "7200000"})
    assert [c for c, _ in res] == [0], f"cluster default log.retention.ms: {res}"
    e = describe(a, "plain")["retention.ms"]
    assert (e.value, ConfigSource(e.source)) == ("7200000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    syn = synonym_list(bs, "plain", "retention.ms")
    assert syn and syn[0] == ("log.retention.ms", "7200000", "DYNAMIC_DEFAULT_BROKER_CONFIG"), syn
    assert [s[2] for s in syn[1:]] == ["DEFAULT_CONFIG"], syn
    assert topic_values(a, "own")["retention.ms"] == ("1000000", ConfigSource.DYNAMIC_TOPIC_CONFIG)

    # this node's value wins over the cluster default
    incremental(a, node, [("log.retention.ms", SET, "10800000")], restype=ResourceType.BROKER)
    assert topic_values(a, "plain")["retention.ms"] == ("10800000", ConfigSource.DYNAMIC_BROKER_CONFIG)
    e = describe(a, node, restype=ResourceType.BROKER).get("log.retention.ms")
    assert e is not None and (e.value, ConfigSource(e.source)) == ("10800000", ConfigSource.DYNAMIC_BROKER_CONFIG), (
        f"broker {node} log.retention.ms: {e and (e.value, e.source)}"
    )
    incremental(a, node, [("log.retention.ms", DELETE, None)], restype=ResourceType.BROKER)
    assert topic_values(a, "plain")["retention.ms"] == ("7200000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)

    # static keys and bad values are refused, nothing changes
    before_plain = topic_values(a, "plain")
    err = expect_error(KafkaError.INVALID_CONFIG, incremental, a, node, [("num.partitions", SET, "3")],
                       restype=ResourceType.BROKER)
    assert "num.partitions" in err.str(), err.str()
    expect_error(KafkaError.INVALID_CONFIG, incremental, a, node, [("log.retention.ms", SET, "soon")],
                 restype=ResourceType.BROKER)
    expect_error(KafkaError.INVALID_CONFIG, incremental, a, node, [("no.such.broker.key", SET, "1")],
                 restype=ResourceType.BROKER)
    res = alter_cluster_default(bs, {"num.partitions": "3"})
    assert [c for c, _ in res] == [KafkaError.INVALID_CONFIG], f"cluster default num.partitions: {res}"
    res = alter_cluster_default(bs, {"log.segment.bytes": "-5"})
    assert [c for c, _ in res] == [KafkaError.INVALID_CONFIG], f"cluster default log.segment.bytes=-5: {res}"
    assert topic_values(a, "plain") == before_plain

    # num.partitions was not changed: an auto-created topic still gets the static 1 partition
    md = producer(bs).list_topics(topic="auto-after-refused", timeout=TIMEOUT)
    assert "auto-after-refused" in md.topics
    wait_until(lambda: topic_partitions(bs, "auto-after-refused") == [0], 10, what="auto-created topic")

    # dynamic broker configs survive a restart
    assert broker.stop() == 0
    broker.start()
    a = admin(bs)
    assert topic_values(a, "plain")["retention.ms"] == ("7200000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    assert topic_values(a, "own")["retention.ms"] == ("1000000", ConfigSource.DYNAMIC_TOPIC_CONFIG)


# ---------------------------------------------------------------------------------------------
# 5. CreatePartitions


def test_create_partitions(broker):
    bs = broker.bootstrap
    topic = "grown"
    create_topic(bs, topic, partitions=3)
    a = admin(bs)

    def grow(n, validate_only=False):
        fs = a.create_partitions([NewPartitions(topic, n)], validate_only=validate_only,
                                 operation_timeout=10, request_timeout=TIMEOUT)
        fs[topic].result(timeout=TIMEOUT)

    grow(7, validate_only=True)
    assert topic_partitions(bs, topic) == [0, 1, 2], "validate_only CreatePartitions added partitions"

    grow(5)
    wait_until(lambda: topic_partitions(bs, topic) == [0, 1, 2, 3, 4], 10, what="5 partitions in metadata")

    offsets = produce(bs, topic, [(b"k", b"in partition 4", None)], partition=4)
    assert offsets == [0]
    got = read_partition(bs, topic, partition=4)
    assert [(o, v) for o, _, v, _ in got] == [(0, b"in partition 4")]

    for n in (4, 5, 2):
        err = expect_error(KafkaError.INVALID_PARTITIONS, grow, n)
        assert err.str(), "INVALID_PARTITIONS without a message"
    expect_error(KafkaError.INVALID_PARTITIONS, grow, 4, validate_only=True)
    assert topic_partitions(bs, topic) == [0, 1, 2, 3, 4]

    assert broker.stop() == 0
    broker.start()
    assert topic_partitions(bs, topic) == [0, 1, 2, 3, 4]
    assert [(o, v) for o, _, v, _ in read_partition(bs, topic, partition=4)] == [(0, b"in partition 4")]


# ---------------------------------------------------------------------------------------------
# 6. DeleteRecords


def test_delete_records(broker):
    bs = broker.bootstrap
    topic = "trimmed"
    create_topic(bs, topic, partitions=1)
    offsets = produce(bs, topic, [(None, f"r-{i}".encode(), None) for i in range(100)])
    assert offsets == list(range(100))
    a = admin(bs)

    def delete_before(offset):
        fs = a.delete_records([TopicPartition(topic, 0, offset)], operation_timeout=10, request_timeout=TIMEOUT)
        return list(fs.values())[0].result(timeout=TIMEOUT)

    assert delete_before(50).low_watermark == 50
    assert earliest(a, topic) == 50
    assert latest(a, topic) == 100
    c = consumer(bs)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False) == (50, 100)
    finally:
        c.close()

    # below the log start offset: auto.offset.reset=error surfaces OFFSET_OUT_OF_RANGE ...
    c = consumer(bs, auto_offset_reset="error")
    try:
        c.assign([TopicPartition(topic, 0, 10)])
        data, err = [], None
        deadline = time.monotonic() + 10
        while err is None and time.monotonic() < deadline:
            for m in c.consume(num_messages=100, timeout=0.5):
                if m.error() is None:
                    data.append(m.offset())
                elif m.error().code() != KafkaError._PARTITION_EOF:
                    err = m.error()
        assert not data, f"read offsets {data[:5]}... below the log start offset 50"
        assert err is not None, "no error for a fetch at offset 10 < log start offset 50"
        assert err.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE), err
        assert "out of range" in err.str().lower(), err.str()
    finally:
        c.close()
    # ... and auto.offset.reset=earliest restarts at the log start offset
    got = read_partition(bs, topic, start=10)
    assert [(o, v) for o, _, v, _ in got] == [(i, f"r-{i}".encode()) for i in range(50, 100)]

    # beyond the high watermark: OFFSET_OUT_OF_RANGE, nothing moves
    expect_error(KafkaError.OFFSET_OUT_OF_RANGE, delete_before, 1000)
    # below the current log start offset: a no-op answering the current low watermark
    assert delete_before(30).low_watermark == 50
    assert (earliest(a, topic), latest(a, topic)) == (50, 100)

    # the log start offset survives a restart; appends continue at the end
    assert broker.stop() == 0
    broker.start()
    a = admin(bs)
    assert (earliest(a, topic), latest(a, topic)) == (50, 100)
    got = read_partition(bs, topic)
    assert [o for o, _, _, _ in got] == list(range(50, 100))
    assert produce(bs, topic, [(None, b"after", None)]) == [100]
    # OFFSET_END (-1) deletes up to the high watermark
    assert delete_before(-1).low_watermark == 101
    assert (earliest(a, topic), latest(a, topic)) == (101, 101)


# ---------------------------------------------------------------------------------------------
# 7. Retention by time


def test_retention_by_time(broker_factory):
    b = broker_factory(FAST_BACKGROUND)
    bs = b.bootstrap
    topic = "aged"
    create_topic(bs, topic, partitions=1, config={"segment.bytes": "2048"})
    a = admin(bs)

    # 100 records an hour old in batches of 10 (~1.2 KB each: one batch per 2 KB segment),
    # then a fresh ~1.1 KB record, which does not fit next to the last old batch and rolls the
    # log: every old record is in a closed segment, the fresh one alone in the active segment.
    old_ts = now_ms() - 3_600_000
    filler = b"x" * 100
    old = [(None, b"old-%03d|" % i + filler, old_ts + i) for i in range(100)]
    assert produce(bs, topic, old, flush_every=10) == list(range(100))
    fresh = b"fresh|" + b"y" * 1100
    assert produce(bs, topic, [(None, fresh, None)]) == [100]

    # within the default retention (7 days) nothing goes, even after many retention passes
    assert_stays(lambda: earliest(a, topic) == 0, 1.5,
                 "retention deleted hour-old records with retention.ms=7 days")

    incremental(a, topic, [("retention.ms", SET, "60000")])
    seen = []

    def moved():
        seen.append(earliest(a, topic))
        return seen[-1] == 100

    wait_until(moved, 10, interval=0.2,
               what=f"log start offset to reach 100 after retention.ms=60000 (saw {seen[-5:]})")
    assert latest(a, topic) == 101
    got = read_partition(bs, topic)
    assert [(o, v) for o, _, v, _ in got] == [(100, fresh)], [(o, (v or b"")[:12]) for o, _, v, _ in got]
    # the active segment stays, and stays readable, across more retention passes
    assert_stays(lambda: (earliest(a, topic), latest(a, topic)) == (100, 101), 1.0,
                 "retention went on deleting after the old segments")
    assert produce(bs, topic, [(None, b"later", None)]) == [101]
    assert [o for o, _, _, _ in read_partition(bs, topic)] == [100, 101]


# ---------------------------------------------------------------------------------------------
# 8. Retention by size


def test_retention_by_size(broker_factory):
    b = broker_factory(FAST_BACKGROUND)
    bs = b.bootstrap
    topic = "sized"
    create_topic(bs, topic, partitions=1, config={"segment.bytes": "2048", "retention.bytes": "4096"})
    a = admin(bs)

    # 10 batches of 10 records of ~1.2 KB: 10 segments, ~12 KB
    filler = b"s" * 100
    recs = [(None, b"sz-%03d|" % i + filler, None) for i in range(100)]
    assert produce(bs, topic, recs, flush_every=10) == list(range(100))

    state = {}

    def trimmed():
        state["earliest"] = earliest(a, topic)
        state["size"] = log_dir_size(bs, topic)
        # Kafka deletes oldest segments while what remains is >= retention.bytes: it ends below
        # retention.bytes + one segment
        return state["earliest"] > 0 and state["size"] < 4096 + 2048

    wait_until(trimmed, 10, interval=0.2, what=f"size retention (retention.bytes=4096): {state}")
    lo = state["earliest"]
    assert lo % 10 == 0, f"log start offset {lo} is not a segment boundary (segments hold 10 records)"
    assert latest(a, topic) == 100
    got = read_partition(bs, topic)
    assert [o for o, _, _, _ in got] == list(range(lo, 100))
    assert [v for _, _, v, _ in got] == [v for _, v, _ in recs[lo:]]

    # retention.bytes=1: every closed segment goes, the active one (the last batch) stays
    incremental(a, topic, [("retention.bytes", SET, "1")])
    wait_until(lambda: earliest(a, topic) == 90, 10, interval=0.2, what="log start offset 90 with retention.bytes=1")
    assert [o for o, _, _, _ in read_partition(bs, topic)] == list(range(90, 100))
    assert 0 < log_dir_size(bs, topic) <= 2048


# ---------------------------------------------------------------------------------------------
# 9. Compaction


@pytest.mark.parametrize("enabled", ["at_creation", "by_alter"])
def test_compaction(broker_factory, enabled):
    b = broker_factory(FAST_BACKGROUND)
    bs = b.bootstrap
    topic = f"compacted-{enabled}"
    config = {
        "cleanup.policy": "compact" if enabled == "at_creation" else "delete",
        "segment.bytes": "2048",
        "delete.retention.ms": "0",
        "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0",
    }
    create_topic(bs, topic, partitions=1, config=config)
    a = admin(bs)

    n_keys, deleted_keys = 50, {b"key-%d" % k for k in range(10)}
    produced: Dict[int, Tuple[bytes, Optional[bytes]]] = {}  # offset -> (key, value)
    counter = [0]

    def send(items):
        offs = produce(bs, topic, [(k, v, None) for k, v in items], batch=20)
        assert offs == sorted(offs) and (not produced or offs[0] > max(produced)), "offsets not increasing"
        produced.update(zip(offs, items))

    def values(keys, n):
        out = []
        for j in range(n):
            i = counter[0]
            counter[0] += 1
            out.append((keys[j % len(keys)], b"k-%d" % i))
        return out

    all_keys = [b"key-%d" % k for k in range(n_keys)]
    # key-10..29 are written again after the tombstones; the latest values of key-30..49
    # stay in closed (cleaned) segments
    rewritten = [b"key-%d" % k for k in range(10, 30)]
    settled = [b"key-%d" % k for k in range(30, 50)]
    send(values(all_keys, 2000))
    send([(k, None) for k in sorted(deleted_keys)])  # tombstones
    send(values(rewritten, 300))  # > 2 segments after the tombstones: they are in closed segments
    n_produced = len(produced)

    if enabled == "by_alter":
        # nothing is compacted under cleanup.policy=delete (across several cleaner wake-ups)
        assert_stays(lambda: len(read_partition(bs, topic)) == n_produced, 1.0,
                     "records were removed under cleanup.policy=delete", interval=0.3)
        size_before = log_dir_size(bs, topic)
        incremental(a, topic, [("cleanup.policy", SET, "compact")])
    else:
        # the key and value bytes alone of what was produced
        size_before = sum(len(k) + len(v or b"") for k, v in produced.values())

    def latest_values():
        last: Dict[bytes, Optional[bytes]] = {}
        for o in sorted(produced):
            k, v = produced[o]
            last[k] = v
        return last

    def check(got, final: bool) -> Optional[str]:
        """None when the consumed stream is a compaction of what was produced."""
        offs = [o for o, _, _, _ in got]
        assert offs == sorted(set(offs)), "offsets not strictly increasing"
        for o, k, v, _ in got:  # offsets are preserved: each record is the one produced there
            assert produced.get(o) == (k, v), f"offset {o}: consumed {(k, v)}, produced {produced.get(o)}"
        last_seen: Dict[bytes, Optional[bytes]] = {}
        for _, k, v, _ in got:
            last_seen[k] = v
        for k, v in latest_values().items():
            if k in deleted_keys:
                continue
            # the latest value of every key is never lost, and nothing after it
            assert last_seen.get(k) == v, f"{k!r}: last consumed {last_seen.get(k)!r}, latest produced {v!r}"
        if len(got) >= 500:
            return f"{len(got)} records of {len(produced)} still there"
        stale = [(o, k, v) for o, k, v, _ in got if k in deleted_keys and v is not None]
        if stale:
            return f"{len(stale)} values of deleted keys still there, e.g. {stale[:3]}"
        if final:
            tomb = [(o, k) for o, k, v, _ in got if k in deleted_keys]
            if tomb:
                return f"{len(tomb)} tombstones still there, e.g. {tomb[:3]}"
        return None

    # 1. values: every superseded value and every value of a deleted key goes
    why = ["not checked"]

    def compacted():
        why[0] = check(read_partition(bs, topic), final=False)
        return why[0] is None

    wait_until(compacted, 20, interval=0.5, what=f"compaction ({why})")

    # 2. tombstones (delete.retention.ms=0) go on a later cleaning: Kafka keeps them through
    # the pass that first sees them, so more writes make the log dirty again
    deadline = time.monotonic() + 15
    nudges = 0
    while True:
        got = read_partition(bs, topic)
        why[0] = check(got, final=True)
        if why[0] is None:
            break
        assert time.monotonic() < deadline, f"tombstones not removed: {why[0]}"
        send(values(rewritten, 60))
        nudges += 1
        time.sleep(0.5)

    offs = [o for o, _, _, _ in got]
    assert len(got) < len(produced) // 4, f"{len(got)} records left of {len(produced)}"
    assert offs[-1] == max(produced), "the last record (active segment) is gone"
    assert len(set(k for _, k, _, _ in got)) == n_keys - len(deleted_keys)
    # a key whose records are all in cleaned segments has exactly one record left: its latest
    last = latest_values()
    for k in settled:
        mine = [(o, v) for o, kk, v, _ in got if kk == k]
        assert len(mine) == 1 and mine[0][1] == last[k], f"{k!r}: {mine} left, latest {last[k]!r}"
    # compaction leaves the log start offset alone (offset 0 itself may be gone)
    assert earliest(a, topic) == 0
    size_after = log_dir_size(bs, topic)
    print(f"compaction ({enabled}): {len(got)} of {len(produced)} records left, offsets "
          f"{offs[0]}..{offs[-1]}, {nudges} extra writes for the tombstones, size {size_before} -> {size_after}")
    assert size_after < size_before / 2, (
        f"partition size {size_after} after compaction, {size_before} before ({n_produced} records)"
    )


def test_compaction_spares_recent_records_and_active_segment(broker_factory):
    """Records newer than min.compaction.lag.ms and the active segment are not cleaned."""
    b = broker_factory(FAST_BACKGROUND)
    bs = b.bootstrap
    base = {"cleanup.policy": "compact", "delete.retention.ms": "0", "min.cleanable.dirty.ratio": "0.01"}
    # many closed segments, but every record is younger than the compaction lag
    create_topic(bs, "lagged", partitions=1,
                 config=dict(base, **{"segment.bytes": "2048", "min.compaction.lag.ms": "3600000"}))
    # no lag, but one (active) segment
    create_topic(bs, "unrolled", partitions=1, config=dict(base, **{"min.compaction.lag.ms": "0"}))
    a = admin(bs)
    items = [(b"key-%d" % (i % 20), b"v-%d" % i, None) for i in range(1000)]
    for topic in ("lagged", "unrolled"):
        assert produce(bs, topic, items, batch=20) == list(range(1000))

    assert_stays(
        lambda: [len(read_partition(bs, t)) for t in ("lagged", "unrolled")] == [1000, 1000],
        1.5, "records younger than min.compaction.lag.ms or in the active segment were compacted",
        interval=0.3,
    )

    # without the lag, the closed segments of "lagged" are cleaned
    incremental(a, "lagged", [("min.compaction.lag.ms", SET, "0")])
    counts = []

    def cleaned():
        counts.append(len(read_partition(bs, "lagged")))
        return counts[-1] < 300

    wait_until(cleaned, 10, interval=0.3, what=f"compaction after min.compaction.lag.ms=0 (counts {counts[-5:]})")
    got = read_partition(bs, "lagged")
    last = {}
    for k, v, _ in items:
        last[k] = v
    assert {k: v for _, k, v, _ in got} == last
    assert len(read_partition(bs, "unrolled")) == 1000


def test_compacted_topic_refuses_records_without_key(broker):
    """KIP-467: a batch with keyless records is refused with INVALID_RECORD and per-record
    errors; librdkafka then fails those records with INVALID_RECORD and the rest of the batch
    with _INVALID_DIFFERENT_RECORD, and nothing of the batch is stored. Plain topics take
    keyless records as before."""
    bs = broker.bootstrap
    create_topic(bs, "kip467", partitions=1, config={"cleanup.policy": "compact"})
    create_topic(bs, "kip467-plain", partitions=1)
    p = producer(bs, linger_ms=200)  # one batch for all ten records
    results: Dict[int, Optional[int]] = {}
    for i in range(10):
        key = None if i in (3, 7) else f"k{i}".encode()
        p.produce("kip467", key=key, value=f"v{i}".encode(),
                  on_delivery=lambda err, msg, i=i: results.__setitem__(i, err.code() if err else None))
    assert p.flush(TIMEOUT) == 0
    assert {i: code for i, code in results.items() if i in (3, 7)} == {
        3: KafkaError.INVALID_RECORD, 7: KafkaError.INVALID_RECORD}
    assert all(code == KafkaError._INVALID_DIFFERENT_RECORD for i, code in results.items() if i not in (3, 7))
    c = consumer(bs)
    try:
        assert c.get_watermark_offsets(TopicPartition("kip467", 0), timeout=TIMEOUT, cached=False) == (0, 0)
    finally:
        c.close()
    # Keyed records are stored; keyless ones go to a plain topic.
    delivered: List[Optional[KafkaError]] = []
    p.produce("kip467", key=b"k", value=b"v", on_delivery=lambda err, msg: delivered.append(err))
    p.produce("kip467-plain", value=b"no key", on_delivery=lambda err, msg: delivered.append(err))
    assert p.flush(TIMEOUT) == 0
    assert delivered == [None, None]
