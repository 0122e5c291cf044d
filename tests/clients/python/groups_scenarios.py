"""Consumer group scenarios run with each client (test_groups_confluent.py,
test_groups_kafka_python.py): the test files pass a ``Client`` adapter."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Set, Tuple, Type

from confluent_kafka import TopicPartition as CTP
from kafka import TopicPartition as KTP
from kafka.structs import OffsetAndMetadata

import groups_clients as gc
from groups_common import (
    HEARTBEAT_MS,
    N_GROUP_PARTITIONS,
    SESSION_TIMEOUT_MS,
    TP,
    ChildMember,
    Member,
    RecordId,
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
    wait_child_assigned,
    wait_received,
)

Committed = Dict[TP, Optional[Tuple[int, str]]]


@dataclass
class Client:
    name: str
    member: Type[Member]
    create_topic: Callable[[str, str, int], None]
    produce: Callable[[str, str, int, str], Tuple[Set[RecordId], Dict[RecordId, bytes]]]
    committed: Callable[[str, str, Sequence[TP]], Committed]  # (offset, metadata) or None
    commit_simple: Callable[[str, str, Dict[TP, Tuple[int, str]]], None]  # no group membership
    child_script: str


def _cfk_committed(bootstrap, group, tps) -> Committed:
    return {tp: (None if off < 0 else (off, md or ""))
            for tp, (off, md) in gc.cfk_committed(bootstrap, group, tps).items()}


def _cfk_commit_simple(bootstrap, group, offsets) -> None:
    c = gc.cfk_group_consumer(bootstrap, group)
    try:
        res = c.commit(offsets=[CTP(t, p, off, metadata=md) for (t, p), (off, md) in offsets.items()],
                       asynchronous=False)
        assert all(tp.error is None for tp in res), res
    finally:
        c.close()


def _kp_commit_simple(bootstrap, group, offsets) -> None:
    c = gc.kp_group_consumer(bootstrap, group)
    try:
        c.assign([KTP(t, p) for t, p in offsets])
        c.commit({KTP(t, p): OffsetAndMetadata(off, md, -1) for (t, p), (off, md) in offsets.items()})
    finally:
        c.close()


CONFLUENT = Client("confluent-kafka", gc.CfkMember, gc.cfk_create_topic, gc.cfk_produce,
                   _cfk_committed, _cfk_commit_simple, gc.CFK_CHILD)
KAFKA_PYTHON = Client("kafka-python", gc.KpMember, gc.kp_create_topic, gc.kp_produce,
                      gc.kp_committed, _kp_commit_simple, gc.KP_CHILD)


def assert_committed_at_end(client: Client, bootstrap: str, group: str, produced: Set[RecordId]) -> None:
    ends = end_offsets(produced)
    got = client.committed(bootstrap, group, sorted(ends))
    offsets = {tp: None if v is None else v[0] for tp, v in got.items()}
    assert offsets == ends, f"committed offsets {sorted(offsets.items())} != log end offsets {sorted(ends.items())}"


def split_exactly_once(client: Client, broker, n: int = 3000) -> None:
    """3 members, 6 partitions. Half of the records are there before the members
    start, one after the other (so later members join while the group is
    consuming); the other half comes once all three own partitions."""
    bs = broker.bootstrap
    topic, group = uniq("split"), uniq("g-split")
    client.create_topic(bs, topic, N_GROUP_PARTITIONS)
    produced, values = client.produce(bs, topic, n // 2, topic + "-a")
    tps = all_tps(topic)
    members = [client.member(f"m{i}", bs, group, [topic], max_batch=50, pause=0.02) for i in range(3)]
    try:
        for m in members:
            start_members([m])
            time.sleep(0.3)
        wait_balanced(members, tps, 30, what="each partition owned by exactly one of 3 members")
        more, v = client.produce(bs, topic, n - n // 2, topic + "-b")
        produced |= more
        values.update(v)
        wait_received(members, produced, 60)
        wait_balanced(members, tps, 30, hold=1.0, what="each partition owned by exactly one of 3 members")
        owners = {m.name: sorted(p for _, p in m.snapshot()[0]) for m in members}
        stop_members(members, check=True)
    finally:
        stop_members(members)
    counts = check_exactly_once(members, produced, values)
    check_no_commit_errors(members)
    assert all(counts.values()), f"a member consumed nothing: {counts}"
    assert_committed_at_end(client, bs, group, produced)
    report(f"{client.name}: 3 members consumed {n} records exactly once: {counts}; final owners {owners}")


def leave_rebalance(client: Client, broker) -> float:
    """A member closes (LeaveGroup): returns seconds from close() until the
    two remaining members own all 6 partitions."""
    bs = broker.bootstrap
    topic, group = uniq("leave"), uniq("g-leave")
    client.create_topic(bs, topic, N_GROUP_PARTITIONS)
    produced, _ = client.produce(bs, topic, 600, "leave-1")
    tps = all_tps(topic)
    members = [client.member(f"m{i}", bs, group, [topic]) for i in range(3)]
    try:
        start_members(members)
        wait_received(members, produced, 30)
        wait_balanced(members, tps, 30, hold=0.5)
        victim, remaining = members[1], [members[0], members[2]]
        victim.leave()
        t_bal = wait_balanced(remaining, tps, 30, what="the 2 remaining members to own all 6 partitions "
                              "after LeaveGroup")
        assert victim.closed.wait(20), "close() did not return"
        victim.check_alive()
        assert victim.close_started is not None and victim.close_started < t_bal
        elapsed = t_bal - victim.close_started
        close_took = victim.close_finished - victim.close_started
        report(f"{client.name}: LeaveGroup rebalance took {fmt_ms(elapsed)} from close() until the 2 "
               f"remaining members owned all 6 partitions (close() itself took {fmt_ms(close_took)}, "
               f"heartbeat.interval.ms={HEARTBEAT_MS})")
        assert elapsed < 5.0, f"rebalance after LeaveGroup took {elapsed:.2f}s"

        more, _ = client.produce(bs, topic, 600, "leave-2")
        produced |= more
        wait_received(remaining, more, 30)
        stop_members(remaining, check=True)
    finally:
        stop_members(members)
    check_exactly_once(members, produced)
    check_no_commit_errors(members)
    assert_committed_at_end(client, bs, group, produced)
    return elapsed


def killed_member_expires(client: Client, broker) -> float:
    """A member SIGKILLed (no LeaveGroup) leaves the group after session.timeout.ms."""
    bs = broker.bootstrap
    topic, group = uniq("kill"), uniq("g-kill")
    client.create_topic(bs, topic, N_GROUP_PARTITIONS)
    produced, _ = client.produce(bs, topic, 600, "kill-1")
    tps = all_tps(topic)
    survivors = [client.member(f"s{i}", bs, group, [topic]) for i in range(2)]
    child = None
    try:
        start_members(survivors)
        wait_received(survivors, produced, 30)
        wait_balanced(survivors, tps, 30)
        child = ChildMember(client.child_script, bs, group, topic, str(SESSION_TIMEOUT_MS), str(HEARTBEAT_MS))
        wait_child_assigned(child, survivors, tps, 30)
        child_tps = sorted(child.snapshot())
        time.sleep(2 * HEARTBEAT_MS / 1000)  # the child heartbeats in the new generation
        t_kill = time.monotonic()
        child.kill()
        t_bal = wait_balanced(survivors, tps, 25, what="the survivors to take over the killed member's partitions")
        elapsed = t_bal - t_kill
        report(f"{client.name}: SIGKILLed member's partitions {child_tps} moved after {fmt_ms(elapsed)} "
               f"(session.timeout.ms={SESSION_TIMEOUT_MS})")
        assert elapsed >= SESSION_TIMEOUT_MS / 1000 - HEARTBEAT_MS / 1000 - 1.0, (
            f"partitions moved {elapsed:.2f}s after the kill: before session.timeout.ms={SESSION_TIMEOUT_MS} "
            "(a member must not be removed when its connection closes)")
        assert elapsed <= 20, f"partitions moved only {elapsed:.2f}s after the kill"
        more, _ = client.produce(bs, topic, 300, "kill-2")
        produced |= more
        wait_received(survivors, produced, 30)
        stop_members(survivors, check=True)
    finally:
        if child is not None:
            child.kill()
        stop_members(survivors)
    # The child consumed without committing; the survivors must have everything exactly once.
    check_exactly_once(survivors, produced)
    check_no_commit_errors(survivors)
    return elapsed


def resume_from_committed(client: Client, broker) -> None:
    """A new member starts at the committed offsets, not at auto.offset.reset=earliest."""
    bs = broker.bootstrap
    topic, group = uniq("resume"), uniq("g-resume")
    client.create_topic(bs, topic, 3)
    first, _ = client.produce(bs, topic, 300, "resume-1")
    a = client.member("a", bs, group, [topic])
    try:
        start_members([a])
        wait_received([a], first, 30)
        stop_members([a], check=True)
    finally:
        stop_members([a])
    check_no_commit_errors([a])
    assert_committed_at_end(client, bs, group, first)

    # Rewind partition 0 to offset 20 with a simple (member-less) commit, with metadata.
    client.commit_simple(bs, group, {(topic, 0): (20, "rewound")})
    assert client.committed(bs, group, [(topic, 0)])[(topic, 0)] == (20, "rewound")
    second, _ = client.produce(bs, topic, 200, "resume-2")
    expected = second | {(t, p, o) for (t, p, o) in first if p == 0 and o >= 20}
    b = client.member("b", bs, group, [topic])
    try:
        start_members([b])
        wait_received([b], expected, 30)
        time.sleep(1.0)  # anything extra (before the commit) would have arrived with the rest
        stop_members([b], check=True)
    finally:
        stop_members([b])
    got = [(t, p, o) for (t, p, o, _) in b.records()]
    assert len(got) == len(set(got)), "the resumed member got records twice"
    early = sorted(set(got) - expected)
    assert not early, f"resumed member got {len(early)} records before the committed offsets, e.g. {early[:5]}"
    assert_committed_at_end(client, bs, group, first | second)


def committed_survive_restart(client: Client, broker) -> None:
    """Committed offsets (and metadata) survive SIGTERM + restart and kill -9 + restart."""
    bs = broker.bootstrap
    topic, group, simple = uniq("durable"), uniq("g-durable"), uniq("g-simple")
    client.create_topic(bs, topic, 3)
    first, _ = client.produce(bs, topic, 300, "durable-1")
    a = client.member("a", bs, group, [topic])
    try:
        start_members([a])
        wait_received([a], first, 30)
        stop_members([a], check=True)
    finally:
        stop_members([a])
    client.commit_simple(bs, simple, {(topic, 0): (5, "five"), (topic, 1): (6, "")})

    broker.restart()
    assert_committed_at_end(client, bs, group, first)
    got = client.committed(bs, simple, [(topic, 0), (topic, 1), (topic, 2)])
    assert got == {(topic, 0): (5, "five"), (topic, 1): (6, ""), (topic, 2): None}, got

    second, _ = client.produce(bs, topic, 100, "durable-2")
    b = client.member("b", bs, group, [topic])
    try:
        start_members([b])
        wait_received([b], second, 30)
        time.sleep(0.5)
        stop_members([b], check=True)
    finally:
        stop_members([b])
    check_exactly_once([b], second)
    client.commit_simple(bs, simple, {(topic, 2): (9, "nine")})

    broker.kill()  # right after the acknowledged commits
    broker.start()
    assert_committed_at_end(client, bs, group, first | second)
    got = client.committed(bs, simple, [(topic, 0), (topic, 1), (topic, 2)])
    assert got == {(topic, 0): (5, "five"), (topic, 1): (6, ""), (topic, 2): (9, "nine")}, got


def member_survives_restart(client: Client, broker) -> None:
    """A member kept open across a broker restart goes on consuming, without duplicates."""
    bs = broker.bootstrap
    topic, group = uniq("through"), uniq("g-through")
    client.create_topic(bs, topic, 3)
    first, _ = client.produce(bs, topic, 300, "through-1")
    m = client.member("m", bs, group, [topic])
    try:
        start_members([m])
        wait_received([m], first, 30)
        wait_balanced([m], all_tps(topic, 3), 10)
        time.sleep(0.3)  # the commit of the last batch
        broker.restart()
        second, _ = client.produce(bs, topic, 300, "through-2")
        wait_received([m], second, 60, what="records produced after the broker restart")
        wait_balanced([m], all_tps(topic, 3), 30)
        stop_members([m], check=True)
    finally:
        stop_members([m])
    check_exactly_once([m], first | second)
    assert_committed_at_end(client, bs, group, first | second)
