"""Durability with confluent-kafka: clean restart and kill -9 mid-produce."""

from __future__ import annotations

import time
from typing import Dict, Tuple

from confluent_kafka import TopicPartition
from confluent_kafka.admin import ConfigResource, ResourceType

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
    N_PARTITIONS,
    check_consumed,
    expected_offset_for_time,
    make_records,
    time_queries,
)


def watermarks(bootstrap: str, topic: str, partitions) -> Dict[int, Tuple[int, int]]:
    c = consumer(bootstrap)
    try:
        return {
            p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=TIMEOUT, cached=False)
            for p in partitions
        }
    finally:
        c.close()


def read_all(bootstrap: str, topic: str, partitions):
    marks = watermarks(bootstrap, topic, partitions)
    c = consumer(bootstrap)
    try:
        got = consume_all(c, topic, sum(hi for _, hi in marks.values()), partitions=partitions)
    finally:
        c.close()
    return marks, got


def test_restart_keeps_everything(broker):
    bs = broker.bootstrap
    create_topic(bs, "durable", config={"retention.ms": "86400000"})
    create_topic(bs, "durable-single", partitions=1)
    recs = make_records("durable", n=3000)
    acked = produce_all(producer(bs, compression_type="lz4"), "durable", recs)
    single = make_records("single", n=200)
    acked_single = produce_all(producer(bs), "durable-single", single)

    assert broker.stop() == 0, "kavka did not exit cleanly (status != 0) on SIGTERM"
    broker.start()

    # topics, partition counts and configs survived
    assert topic_partitions(bs, "durable") == [0, 1, 2]
    assert topic_partitions(bs, "durable-single") == [0]
    a = admin(bs)
    fs = a.describe_configs([ConfigResource(ResourceType.TOPIC, "durable")], request_timeout=TIMEOUT)
    assert list(fs.values())[0].result(timeout=TIMEOUT)["retention.ms"].value == "86400000"

    # every record, at its offset, with its content
    marks, got = read_all(bs, "durable", range(N_PARTITIONS))
    assert all(lo == 0 for lo, _ in marks.values()), marks
    entries = check_consumed(recs, got, acked=acked)
    _, got_single = read_all(bs, "durable-single", [0])
    check_consumed(single, got_single, n_partitions=1, acked=acked_single)

    # the time index survived too
    base_ts = recs[0].timestamp
    c = consumer(bs)
    try:
        for q in time_queries(base_ts, len(recs)):
            for tp in c.offsets_for_times([TopicPartition("durable", p, q) for p in range(N_PARTITIONS)],
                                          timeout=TIMEOUT):
                want = expected_offset_for_time(entries[tp.partition], q)
                assert tp.offset == (-1 if want is None else want), (
                    f"after restart: offsets_for_times(base+{q - base_ts}) p{tp.partition}: {tp.offset} != {want}"
                )
    finally:
        c.close()

    # appends continue where the log ended, and survive a second restart
    more = make_records("durable-more", n=300, base_ts=base_ts + len(recs))
    acked_more = produce_all(producer(bs, compression_type="zstd"), "durable", more)
    for p in range(N_PARTITIONS):
        offs = sorted(o for pp, o in acked_more.values() if pp == p)
        hi = marks[p][1]
        assert offs == list(range(hi, hi + len(offs))), f"p{p}: new offsets {offs[:5]}... after high watermark {hi}"

    assert broker.stop() == 0
    broker.start()
    expected = {acked[r.index]: r.value for r in recs}
    expected.update({acked_more[r.index]: r.value for r in more})
    _, got = read_all(bs, "durable", range(N_PARTITIONS))
    assert {(g.partition, g.offset): g.value for g in got} == expected


def test_crash_kill_9_during_produce(broker_factory):
    b = broker_factory({"log.flush.interval.messages": "1"})
    topic = "crash"
    create_topic(b.bootstrap, topic)

    acked: Dict[bytes, Tuple[int, int]] = {}
    failed = []

    def on_delivery(err, msg):
        if err is None:
            acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            failed.append(err)

    p = producer(
        b.bootstrap,
        acks="all",
        linger_ms=2,
        batch_num_messages=100,
        message_timeout_ms=3000,
        queue_buffering_max_messages=2000,  # keep producing while acks come in
        request_timeout_ms=2000,
        compression_type="none",
    )
    sent = 0
    killed_at = None
    acked_at_kill = 0
    start = time.monotonic()
    while True:
        now = time.monotonic()
        if killed_at is None and (len(acked) >= 3000 or (now - start > 10 and acked)):
            b.kill()  # SIGKILL while the producer still has requests in flight
            killed_at, acked_at_kill, sent_at_kill = now, len(acked), sent
        if killed_at is not None and now - killed_at > 0.5:
            break
        assert now - start < 60, f"only {len(acked)} records acknowledged in 60 s"
        value = f"crash|value-{sent}|".encode()
        try:
            p.produce(topic, key=f"key-{sent % 100}".encode(), value=value, on_delivery=on_delivery)
            sent += 1
        except BufferError:
            p.poll(0.01)
        p.poll(0)
    p.flush(20)
    assert len(acked) + len(failed) == sent, f"{sent} sent, {len(acked)} acked, {len(failed)} failed"
    assert sent_at_kill > acked_at_kill, "nothing was in flight when the broker was killed"
    assert len(failed) > 0, "no produce failed after kill -9: was the broker really down?"
    del p
    print(f"crash: sent {sent}, acked {len(acked)} ({acked_at_kill} at the kill), failed {len(failed)}")

    b.start()
    marks, got = read_all(b.bootstrap, topic, range(N_PARTITIONS))
    at = {}
    for g in got:
        assert g.value is not None and g.value.startswith(b"crash|value-"), g
        at[(g.partition, g.offset)] = g.value
    # offsets are contiguous from 0 to the high watermark in every partition
    for part, (lo, hi) in marks.items():
        offs = [g.offset for g in got if g.partition == part]
        assert lo == 0 and offs == list(range(hi)), f"p{part}: watermarks {(lo, hi)}, offsets not contiguous"
    lost = {v: po for v, po in acked.items() if at.get(po) != v}
    assert not lost, (
        f"{len(lost)} of {len(acked)} acknowledged records are missing or different after the crash, "
        f"e.g. {list(lost.items())[:5]}; watermarks {marks}"
    )

    # the recovered log accepts appends right after its last record
    after = {}
    p2 = producer(b.bootstrap)
    for part in range(N_PARTITIONS):
        p2.produce(topic, value=b"after-crash", partition=part,
                   on_delivery=lambda err, msg: after.__setitem__(msg.partition(), (err, msg.offset())))
    assert p2.flush(TIMEOUT) == 0
    for part, (lo, hi) in marks.items():
        assert after[part] == (None, hi), f"p{part}: append after recovery {after[part]}, expected offset {hi}"
