"""aiokafka (asyncio client) against kavka: a smaller round trip per codec.

The consumer has group_id=None and uses assign()/seek_to_beginning().
"""

from __future__ import annotations

import asyncio
from typing import List

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from helpers import (
    CODECS,
    N_PARTITIONS,
    Got,
    check_consumed,
    expected_offset_for_time,
    make_records,
    time_queries,
)

N = 2000


async def bounded(what: str, aw, timeout: float = 10):
    """aiokafka retries ListOffsets failures forever; turn that into a failure."""
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"{what} got no answer within {timeout}s (see the broker log)") from None


async def round_trip(bootstrap: str, codec: str) -> None:
    topic = f"aiokafka-{codec}"
    a = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await a.start()
    try:
        resp = await a.create_topics([NewTopic(topic, num_partitions=N_PARTITIONS, replication_factor=1)])
        errors = [t[1] for t in resp.topic_errors]
        assert errors == [0], f"CreateTopics errors: {resp.topic_errors}"
    finally:
        await a.close()

    recs = make_records(f"aiokafka-{codec}", n=N)
    base_ts = recs[0].timestamp
    p = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        compression_type=None if codec == "none" else codec,
    )
    await p.start()
    try:
        futs = [
            await p.send(topic, key=r.key, value=r.value, headers=list(r.headers), timestamp_ms=r.timestamp)
            for r in recs
        ]
        mds = await asyncio.wait_for(asyncio.gather(*futs), 60)
    finally:
        await p.stop()
    acked = {r.index: (md.partition, md.offset) for r, md in zip(recs, mds)}

    c = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await c.start()
    try:
        tps = [TopicPartition(topic, part) for part in range(N_PARTITIONS)]
        c.assign(tps)
        for tp in tps:  # explicit offsets: the content check does not depend on ListOffsets
            c.seek(tp, 0)
        got: List[Got] = []

        async def drain():
            while len(got) < N:
                batches = await c.getmany(*tps, timeout_ms=500, max_records=2000)
                for records in batches.values():
                    for m in records:
                        got.append(Got(m.partition, m.offset, m.key, m.value, tuple(m.headers or ()),
                                       m.timestamp, m.timestamp_type == 0))

        await asyncio.wait_for(drain(), 60)
        entries = check_consumed(recs, got, acked=acked)

        assert await bounded("beginning_offsets", c.beginning_offsets(tps)) == {tp: 0 for tp in tps}
        assert await bounded("end_offsets", c.end_offsets(tps)) == {tp: len(entries[tp.partition]) for tp in tps}
        for q in time_queries(base_ts, N):
            res = await bounded("offsets_for_times", c.offsets_for_times({tp: q for tp in tps}))
            for tp in tps:
                want = expected_offset_for_time(entries[tp.partition], q)
                got_off = None if res[tp] is None else res[tp].offset
                assert got_off == want, f"offsets_for_times(base+{q - base_ts}) p{tp.partition}: {got_off} != {want}"
    finally:
        await c.stop()

    a = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await a.start()
    try:
        resp = await a.delete_topics([topic])
        assert [t[1] for t in resp.topic_error_codes] == [0], resp
        for _ in range(100):
            if topic not in await a.list_topics():
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"{topic} still listed 10 s after DeleteTopics")
    finally:
        await a.close()


@pytest.mark.parametrize("codec", CODECS)
def test_round_trip(bootstrap, codec):
    # aiokafka retries most broker/connection errors forever: bound the test.
    asyncio.run(asyncio.wait_for(round_trip(bootstrap, codec), 45))
