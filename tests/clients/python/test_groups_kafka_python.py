"""Consumer groups with kafka-python: rebalances and commits against kavka's
group coordinator (eager assignors: range, roundrobin, sticky)."""

from __future__ import annotations

import time

import pytest
from kafka import TopicPartition as KTP
from kafka.structs import OffsetAndMetadata

import groups_scenarios as sc
from groups_clients import kp_committed, kp_create_topic, kp_group_consumer, kp_produce
from groups_common import end_offsets, uniq
from helpers import wait_until

pytestmark = pytest.mark.timeout(90)
K = sc.KAFKA_PYTHON


def test_split_exactly_once(group_broker):
    sc.split_exactly_once(K, group_broker)


def test_leave_group_rebalance_time(group_broker):
    sc.leave_rebalance(K, group_broker)


def test_killed_member_expires_after_session_timeout(group_broker):
    sc.killed_member_expires(K, group_broker)


def test_resume_from_committed(group_broker):
    sc.resume_from_committed(K, group_broker)


def test_committed_offsets_survive_restart_and_kill(group_broker):
    sc.committed_survive_restart(K, group_broker)


def test_member_survives_broker_restart(group_broker):
    sc.member_survives_restart(K, group_broker)


def _poll_until(c, want: set, timeout: float = 30.0) -> set:
    got = set()
    deadline = time.monotonic() + timeout
    while not want <= got:
        assert time.monotonic() < deadline, f"consumed {len(got & want)}/{len(want)} in {timeout}s"
        for tp, msgs in c.poll(timeout_ms=200).items():
            for m in msgs:
                rid = (m.topic, m.partition, m.offset)
                assert rid not in got, f"{rid} delivered twice"
                got.add(rid)
    return got


def test_auto_commit(group_broker):
    bs = group_broker.bootstrap
    topic, group = uniq("auto"), uniq("g-auto")
    kp_create_topic(bs, topic, 3)
    produced, _ = kp_produce(bs, topic, 300, "auto")
    ends = end_offsets(produced)
    c = kp_group_consumer(bs, group, enable_auto_commit=True, auto_commit_interval_ms=200)
    try:
        c.subscribe([topic])
        _poll_until(c, produced)

        def caught_up():
            c.poll(timeout_ms=100)
            return {(t, p): c.committed(KTP(t, p)) for t, p in ends} == ends

        wait_until(caught_up, 10, interval=0, what="auto commit to reach the log end offsets")
    finally:
        c.close(autocommit=False)
    assert {tp: v[0] for tp, v in kp_committed(bs, group, sorted(ends)).items()} == ends


def test_manual_commit_and_metadata(group_broker):
    bs = group_broker.bootstrap
    topic, group = uniq("manual"), uniq("g-manual")
    kp_create_topic(bs, topic, 3)
    produced, _ = kp_produce(bs, topic, 300, "manual")
    ends = end_offsets(produced)
    tps = [KTP(topic, p) for p in range(3)]
    c = kp_group_consumer(bs, group)
    try:
        c.subscribe([topic])
        _poll_until(c, produced)
        assert [c.committed(tp) for tp in tps] == [None, None, None]

        c.commit({tps[0]: OffsetAndMetadata(7, "seven", -1), tps[1]: OffsetAndMetadata(3, "", -1)})
        oam = c.committed(tps[0], metadata=True)
        assert (oam.offset, oam.metadata) == (7, "seven"), oam
        assert c.committed(tps[1]) == 3
        assert c.committed(tps[2]) is None

        c.commit()  # the consumed positions
        positions = [c.position(tp) for tp in tps]
        assert positions == [ends[(topic, p)] for p in range(3)]
        assert [c.committed(tp) for tp in tps] == positions

        results = []
        c.commit_async({tps[2]: OffsetAndMetadata(12, "async", -1)},
                       callback=lambda offsets, res: results.append(res))
        wait_until(lambda: c.poll(timeout_ms=100) is not None and results, 10, interval=0,
                   what="the commit_async callback")
        assert not isinstance(results[0], Exception), results
        oam = c.committed(tps[2], metadata=True)
        assert (oam.offset, oam.metadata) == (12, "async"), oam
    finally:
        c.close(autocommit=False)
    assert kp_committed(bs, group, [(topic, 0), (topic, 2)]) == {(topic, 0): (ends[(topic, 0)], ""),
                                                                  (topic, 2): (12, "async")}
