"""Consumer groups with aiokafka: 3 members split a topic exactly once, and a
new member resumes from committed offsets (with metadata)."""

from __future__ import annotations

import asyncio
import collections
import time
from typing import List, Set, Tuple

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from groups_clients import cfk_produce
from groups_common import (
    HEARTBEAT_MS,
    N_GROUP_PARTITIONS,
    SESSION_TIMEOUT_MS,
    end_offsets,
    report,
    uniq,
)

pytestmark = pytest.mark.timeout(90)


async def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    a = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await a.start()
    try:
        resp = await a.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
        assert [t[1] for t in resp.topic_errors] == [0], resp.topic_errors
    finally:
        await a.close()


def consumer(bootstrap: str, group: str, *topics: str, **extra) -> AIOKafkaConsumer:
    conf = dict(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_MS,
        fetch_max_wait_ms=100,
    )
    conf.update(extra)
    return AIOKafkaConsumer(*topics, **conf)


class AioMember:
    """A member task: getmany, record, commit after each batch and on revocation."""

    def __init__(self, name: str, bootstrap: str, group: str, topic: str):
        self.name = name
        self.c = consumer(bootstrap, group, client_id=name)
        self.topic = topic
        self.received: List[Tuple[str, int, int]] = []
        self.commit_errors: List[str] = []
        self.stopping = False
        member = self

        class Listener(ConsumerRebalanceListener):
            async def on_partitions_revoked(self, revoked):
                if revoked:
                    await member.commit()

            async def on_partitions_assigned(self, assigned):
                pass

        self.listener = Listener()

    async def commit(self) -> None:
        try:
            await self.c.commit()
        except Exception as e:
            self.commit_errors.append(repr(e))

    async def run(self) -> None:
        await self.c.start()
        self.c.subscribe([self.topic], listener=self.listener)
        try:
            while not self.stopping:
                batches = await self.c.getmany(timeout_ms=100, max_records=50)
                n = 0
                for msgs in batches.values():
                    for m in msgs:
                        self.received.append((m.topic, m.partition, m.offset))
                        n += 1
                if n:
                    await self.commit()
                    await asyncio.sleep(0.02)
            await self.commit()
        finally:
            await self.c.stop()

    def assigned(self) -> Set[Tuple[str, int]]:
        if self.stopping:
            return set()
        return {(tp.topic, tp.partition) for tp in self.c.assignment()}


async def wait_for(pred, timeout: float, what: str, detail=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: {detail()}")
        await asyncio.sleep(0.05)


async def split(bootstrap: str) -> None:
    topic, group = uniq("aio-split"), uniq("g-aio-split")
    await create_topic(bootstrap, topic, N_GROUP_PARTITIONS)
    # half before the members start one after the other, half once all three own partitions
    produced, _ = await asyncio.to_thread(cfk_produce, bootstrap, topic, 1500, topic + "-a")
    members = [AioMember(f"a{i}", bootstrap, group, topic) for i in range(3)]
    want = {(topic, p) for p in range(N_GROUP_PARTITIONS)}
    tasks = []
    try:
        for m in members:
            tasks.append(asyncio.create_task(m.run()))
            await asyncio.sleep(0.3)

        def detail():
            return "; ".join(f"{m.name} owns {sorted(m.assigned())} got {len(m.received)} "
                             f"commit errors {m.commit_errors[:3]}" for m in members)

        def fail_fast():
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()

        def all_received():
            fail_fast()
            return produced <= {r for m in members for r in m.received}

        def balanced():
            fail_fast()
            owned = [m.assigned() for m in members]
            return all(owned) and sum(len(o) for o in owned) == len(want) and set().union(*owned) == want

        await wait_for(balanced, 30, "each partition owned by exactly one member", detail)
        more, _ = await asyncio.to_thread(cfk_produce, bootstrap, topic, 1500, topic + "-b")
        produced |= more
        await wait_for(all_received, 60, "all records", detail)
        await wait_for(balanced, 30, "each partition owned by exactly one member", detail)
        owners = {m.name: sorted(p for _, p in m.assigned()) for m in members}
        for m in members:
            m.stopping = True
        await asyncio.wait_for(asyncio.gather(*tasks), 30)

        seen = collections.Counter(r for m in members for r in m.received)
        dups = [r for r, n in seen.items() if n > 1]
        assert not dups, f"{len(dups)} records consumed twice, e.g. {dups[:5]}: {detail()}"
        assert set(seen) == produced
        assert not any(m.commit_errors for m in members), detail()
        assert all(m.received for m in members), f"a member consumed nothing: {detail()}"

        c = consumer(bootstrap, group)
        await c.start()
        try:
            ends = end_offsets(produced)
            committed = {tp: await c.committed(TopicPartition(*tp)) for tp in ends}
            assert committed == ends
        finally:
            await c.stop()
        report(f"aiokafka: 3 members consumed 3000 records exactly once: "
               f"{ {m.name: len(m.received) for m in members} }; final owners {owners}")
    finally:
        for m in members:
            m.stopping = True
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def test_split_exactly_once(group_broker):
    asyncio.run(asyncio.wait_for(split(group_broker.bootstrap), 80))


async def commit_resume(bootstrap: str) -> None:
    topic, group = uniq("aio-resume"), uniq("g-aio-resume")
    await create_topic(bootstrap, topic, 3)
    first, _ = await asyncio.to_thread(cfk_produce, bootstrap, topic, 300, "aio-resume-1")
    ends = end_offsets(first)
    tps = [TopicPartition(topic, p) for p in range(3)]

    a = consumer(bootstrap, group, topic)
    await a.start()
    try:
        got: Set[Tuple[str, int, int]] = set()
        while not first <= got:
            for msgs in (await a.getmany(timeout_ms=200)).values():
                got |= {(m.topic, m.partition, m.offset) for m in msgs}
        assert [await a.committed(tp) for tp in tps] == [None, None, None]
        # explicit offsets, with metadata on one of them
        await a.commit({tps[0]: (20, "twenty"), tps[1]: ends[(topic, 1)], tps[2]: ends[(topic, 2)]})
        assert [await a.committed(tp) for tp in tps] == [20, ends[(topic, 1)], ends[(topic, 2)]]
        # the consumed positions
        await a.commit()
        assert [await a.committed(tp) for tp in tps] == [ends[(topic, p)] for p in range(3)]
        # back to 20 on partition 0 for the next member
        await a.commit({tps[0]: (20, "twenty")})
    finally:
        await a.stop()

    second, _ = await asyncio.to_thread(cfk_produce, bootstrap, topic, 200, "aio-resume-2")
    expected = second | {r for r in first if r[1] == 0 and r[2] >= 20}
    b = consumer(bootstrap, group, topic)
    await b.start()
    try:
        got_b: List[Tuple[str, int, int]] = []
        deadline = time.monotonic() + 30
        while not expected <= set(got_b):
            assert time.monotonic() < deadline, f"resumed member got {len(set(got_b) & expected)}/{len(expected)}"
            for msgs in (await b.getmany(timeout_ms=200)).values():
                got_b += [(m.topic, m.partition, m.offset) for m in msgs]
        for _ in range(5):  # anything from before the commits would have come with the rest
            for msgs in (await b.getmany(timeout_ms=200)).values():
                got_b += [(m.topic, m.partition, m.offset) for m in msgs]
        assert len(got_b) == len(set(got_b)), "records delivered twice"
        assert set(got_b) == expected, f"unexpected records: {sorted(set(got_b) - expected)[:5]}"
    finally:
        await b.stop()


def test_commit_and_resume(group_broker):
    asyncio.run(asyncio.wait_for(commit_resume(group_broker.bootstrap), 80))
