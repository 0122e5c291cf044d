"""Consumer groups with confluent-kafka (librdkafka): rebalances, commits,
cooperative-sticky and static membership against kavka's group coordinator."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import OFFSET_INVALID, ConsumerGroupState
from confluent_kafka import TopicPartition as CTP

import cfk
import groups_scenarios as sc
from groups_clients import CfkMember, cfk_committed, cfk_create_topic, cfk_group_consumer, cfk_produce
from groups_common import (
    N_GROUP_PARTITIONS,
    all_tps,
    check_exactly_once,
    check_no_commit_errors,
    end_offsets,
    fmt_ms,
    report,
    start_members,
    stop_members,
    uniq,
    wait_balanced,
    wait_received,
)
from helpers import wait_until

pytestmark = pytest.mark.timeout(90)
C = sc.CONFLUENT


def test_split_exactly_once(group_broker):
    sc.split_exactly_once(C, group_broker)


def test_leave_group_rebalance_time(group_broker):
    sc.leave_rebalance(C, group_broker)


def test_killed_member_expires_after_session_timeout(group_broker):
    sc.killed_member_expires(C, group_broker)


def test_resume_from_committed(group_broker):
    sc.resume_from_committed(C, group_broker)


def test_committed_offsets_survive_restart_and_kill(group_broker):
    sc.committed_survive_restart(C, group_broker)


def test_member_survives_broker_restart(group_broker):
    sc.member_survives_restart(C, group_broker)


def _consume_until(c, want: set, timeout: float = 30.0) -> dict:
    """Consumes (subscribed) until every (topic, partition, offset) in want was seen; returns id -> Message."""
    got = {}
    deadline = time.monotonic() + timeout
    while not want <= set(got):
        assert time.monotonic() < deadline, f"consumed {len(set(got) & want)}/{len(want)} in {timeout}s"
        for m in c.consume(num_messages=500, timeout=0.2):
            assert m.error() is None, m.error()
            rid = (m.topic(), m.partition(), m.offset())
            assert rid not in got, f"{rid} delivered twice"
            got[rid] = m
    return got


def test_auto_commit(group_broker):
    bs = group_broker.bootstrap
    topic, group = uniq("auto"), uniq("g-auto")
    cfk_create_topic(bs, topic, 3)
    produced, _ = cfk_produce(bs, topic, 300, "auto")
    ends = end_offsets(produced)
    c = cfk_group_consumer(bs, group, **{"enable.auto.commit": True, "auto.commit.interval.ms": 200})
    try:
        c.subscribe([topic])
        _consume_until(c, produced)

        def caught_up():
            c.poll(0.1)
            res = c.committed([CTP(t, p) for t, p in ends], timeout=5)
            return {(tp.topic, tp.partition): tp.offset for tp in res} == ends

        wait_until(caught_up, 10, interval=0, what="auto commit to reach the log end offsets")
    finally:
        c.close()
    assert {tp: v[0] for tp, v in cfk_committed(bs, group, sorted(ends)).items()} == ends


def test_manual_commit_and_metadata(group_broker):
    bs = group_broker.bootstrap
    topic, group = uniq("manual"), uniq("g-manual")
    cfk_create_topic(bs, topic, 3)
    produced, _ = cfk_produce(bs, topic, 300, "manual")
    ends = end_offsets(produced)
    callbacks = []
    c = cfk_group_consumer(bs, group, on_commit=lambda err, parts: callbacks.append(
        (err, [(tp.partition, tp.offset, tp.error) for tp in parts])))

    def committed():
        res = c.committed([CTP(topic, p) for p in range(3)], timeout=10)
        assert all(tp.error is None for tp in res), res
        return {tp.partition: (tp.offset, tp.metadata) for tp in res}

    try:
        c.subscribe([topic])
        msgs = _consume_until(c, produced)
        assert committed() == {p: (OFFSET_INVALID, None) for p in range(3)}

        # specific offsets, one with metadata
        res = c.commit(offsets=[CTP(topic, 0, 7, metadata="seven"), CTP(topic, 1, 3)], asynchronous=False)
        assert sorted((tp.partition, tp.offset, tp.error) for tp in res) == [(0, 7, None), (1, 3, None)]
        got = committed()
        assert got[0] == (7, "seven"), got
        assert got[1][0] == 3 and not got[1][1], got
        assert got[2][0] == OFFSET_INVALID, got

        # the current positions
        c.commit(asynchronous=False)
        positions = {tp.partition: tp.offset for tp in c.position([CTP(topic, p) for p in range(3)])}
        assert positions == {p: ends[(topic, p)] for p in range(3)}
        assert {p: v[0] for p, v in committed().items()} == positions

        # a message: commits its offset + 1
        m10 = msgs[(topic, 0, 10)]
        c.commit(message=m10, asynchronous=False)
        assert committed()[0][0] == 11

        # asynchronous, reported through on_commit
        callbacks.clear()
        c.commit(offsets=[CTP(topic, 2, 12, metadata="async")], asynchronous=True)
        wait_until(lambda: c.poll(0.1) is None and any(
            (2, 12, None) in parts for _, parts in callbacks), 10, interval=0, what="the on_commit callback")
        assert all(err is None for err, _ in callbacks), callbacks
        assert committed()[2] == (12, "async")
    finally:
        c.close()
    final = cfk_committed(bs, group, [(topic, 0), (topic, 2)])
    assert final[(topic, 0)][0] == 11 and final[(topic, 2)] == (12, "async"), final


def _replay(events, until: float):
    """Yields (time, kind, tps, held-before) for a member's events up to `until`."""
    held = set()
    for t, kind, tps in events:
        if t > until:
            break
        yield t, kind, tps, frozenset(held)
        if kind == "assign":
            held |= tps
        else:
            held -= tps


def test_cooperative_sticky(group_broker):
    bs = group_broker.bootstrap
    topic, group = uniq("coop"), uniq("g-coop")
    cfk_create_topic(bs, topic, N_GROUP_PARTITIONS)
    tps = all_tps(topic)
    produced, values = cfk_produce(bs, topic, 1200, "coop-1")
    coop = {"partition.assignment.strategy": "cooperative-sticky"}
    m1, m2, m3 = (CfkMember(f"c{i}", bs, group, [topic], max_batch=50, pause=0.01, **coop) for i in (1, 2, 3))
    members = [m1, m2, m3]
    try:
        start_members([m1])
        wait_balanced([m1], tps, 30, what="c1 to own all partitions")
        start_members([m2])
        wait_balanced([m1, m2], tps, 30, hold=0.5, what="c1 and c2 to split the partitions")
        more, v = cfk_produce(bs, topic, 900, "coop-2")
        produced |= more
        values.update(v)
        start_members([m3])
        wait_balanced(members, tps, 30, hold=0.5, what="c1, c2, c3 to split the partitions")
        more, v = cfk_produce(bs, topic, 900, "coop-3")
        produced |= more
        values.update(v)
        before_leave = {m.name: m.snapshot()[0] for m in (m1, m3)}
        m2.leave()
        t_bal = wait_balanced([m1, m3], tps, 30, hold=0.5, what="c1 and c3 to take over c2's partitions")
        after_leave = {m.name: m.snapshot()[0] for m in (m1, m3)}
        assert m2.closed.wait(15)
        m2.check_alive()
        report(f"confluent-kafka cooperative-sticky: {fmt_ms(t_bal - m2.close_started)} from close() "
               f"until c1 and c3 owned all 6 partitions")
        more, v = cfk_produce(bs, topic, 600, "coop-4")
        produced |= more
        values.update(v)
        wait_received(members, produced, 60)
        t_stop = time.monotonic()
        stop_members([m1, m3], check=True)
    finally:
        stop_members(members)
    check_exactly_once(members, produced, values)
    check_no_commit_errors(members)
    sc.assert_committed_at_end(C, bs, group, produced)

    # Incremental callbacks: c1 and c3 never had everything revoked; c1 gave up
    # part of its partitions when c2 and c3 joined; nobody kept lost partitions.
    partial_revokes = 0
    for m in (m1, m3):
        for t, kind, got, held in _replay(m.event_log(), t_stop):
            assert kind != "lost", f"{m.name} lost partitions: {m.describe()}"
            if kind == "revoke" and got:
                assert got < held, f"{m.name} had all of {sorted(held)} revoked (eager?): {m.describe()}"
                partial_revokes += 1
    assert partial_revokes >= 2, f"expected incremental revokes on c1: {m1.describe()}"
    # c2 leaving: c1 and c3 keep what they had and only gain c2's partitions.
    for m in (m1, m3):
        after = [(kind, sorted(got)) for t, kind, got, _ in _replay(m.event_log(), t_stop)
                 if t >= m2.close_started]
        assert all(kind == "assign" for kind, _ in after), f"{m.name} revoked on c2's leave: {after}"
        assert before_leave[m.name] < after_leave[m.name], (
            f"{m.name} had {sorted(before_leave[m.name])} before c2 left, {sorted(after_leave[m.name])} after")


def test_static_membership_rejoin_without_rebalance(group_broker):
    bs = group_broker.bootstrap
    topic, group = uniq("static"), uniq("g-static")
    cfk_create_topic(bs, topic, N_GROUP_PARTITIONS)
    tps = all_tps(topic)
    produced, values = cfk_produce(bs, topic, 300, "static-1")

    def static(name, instance):
        return CfkMember(name, bs, group, [topic], **{"group.instance.id": instance, "session.timeout.ms": 10000})

    # The first member is the leader; the one restarted is the other.
    leader, s1 = static("leader", "inst-leader"), static("s1", "inst-1")
    s1b = static("s1b", "inst-1")
    members = [leader, s1, s1b]
    try:
        start_members([leader])
        wait_balanced([leader], tps, 30, what="the first static member to own everything")
        start_members([s1])
        wait_balanced([leader, s1], tps, 30, hold=1.0, what="two static members to split the partitions")
        wait_received([leader, s1], produced, 30)
        mine, theirs = s1.snapshot()[0], leader.snapshot()[0]
        old_member_id = s1.member_id
        leader_events = len(leader.event_log())

        s1.leave()  # close(): a static member sends no LeaveGroup
        assert s1.closed.wait(15)
        s1.check_alive()
        start_members([s1b])
        t_back = wait_balanced([leader, s1b], tps, 9, what="the restarted static member to get its partitions "
                               "back within session.timeout.ms=10000")
        report(f"confluent-kafka static member: same group.instance.id owned its partitions again "
               f"{fmt_ms(t_back - s1.close_finished)} after the old instance's close() returned")
        assert s1b.snapshot()[0] == mine, f"static member got {sorted(s1b.snapshot()[0])}, had {sorted(mine)}"
        # 3 s = 6 heartbeats of the other member: a rebalance would have reached it.
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            assert leader.snapshot()[0] == theirs, f"the other member's assignment changed: {leader.describe()}"
            s1b.check_alive()
            time.sleep(0.1)
        new_events = leader.event_log()[leader_events:]
        assert not new_events, f"the other member saw a rebalance: {[(k, sorted(t)) for _, k, t in new_events]}"

        # the group lists both static members, the restarted one under a new member id
        a = cfk.admin(bs)
        d = a.describe_consumer_groups([group], request_timeout=cfk.TIMEOUT)[group].result(timeout=cfk.TIMEOUT)
        assert d.state == ConsumerGroupState.STABLE, d.state
        by_instance = {m.group_instance_id: m for m in d.members}
        assert sorted(by_instance) == ["inst-1", "inst-leader"], [(m.member_id, m.group_instance_id) for m in d.members]
        assert by_instance["inst-1"].client_id == "s1b"
        assert {(tp.topic, tp.partition) for tp in by_instance["inst-1"].assignment.topic_partitions} == mine
        assert by_instance["inst-1"].member_id != old_member_id, "the rejoined static member kept its old member id"

        more, v = cfk_produce(bs, topic, 300, "static-2")
        produced |= more
        values.update(v)
        wait_received([leader, s1b], more, 30)
        stop_members([leader, s1b], check=True)
    finally:
        stop_members(members)
    check_exactly_once(members, produced, values)
    check_no_commit_errors(members)
