"""Group administration (confluent-kafka AdminClient, kafka-python
KafkaAdminClient), the internal __consumer_offsets topic, and group requests
that the coordinator must refuse (sent with kafka-python's protocol classes)."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import (
    OFFSET_INVALID,
    ConsumerGroupState,
    ConsumerGroupType,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
)
from confluent_kafka import TopicPartition as CTP
from kafka import TopicPartition as KTP
from kafka import errors as KErrors
from kafka.protocol.admin import DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest
from kafka.protocol.consumer import (
    HeartbeatRequest,
    JoinGroupRequest,
    LeaveGroupRequest,
    OffsetCommitRequest,
    OffsetDeleteRequest,
    OffsetFetchRequest,
    SyncGroupRequest,
)
from kafka.protocol.metadata.find_coordinator import FindCoordinatorRequest
from kafka.structs import OffsetAndMetadata

import cfk
import groups_scenarios as sc
from groups_clients import (
    CfkMember,
    KpMember,
    cfk_create_topic,
    cfk_produce,
    kp_admin,
    kp_committed,
    kp_create_topic,
    kp_produce,
)
from groups_common import (
    SESSION_TIMEOUT_MS,
    report,
    check_no_commit_errors,
    end_offsets,
    start_members,
    stop_members,
    uniq,
    wait_balanced,
    wait_received,
)
from helpers import wait_until

pytestmark = pytest.mark.timeout(90)
T = cfk.TIMEOUT


def _cfk_offsets(a, group, partitions=None):
    req = ConsumerGroupTopicPartitions(group, partitions) if partitions else ConsumerGroupTopicPartitions(group)
    res = a.list_consumer_group_offsets([req], request_timeout=T)[group].result(timeout=T)
    assert res.group_id == group
    for tp in res.topic_partitions:
        assert tp.error is None, f"{group} {tp.topic}/{tp.partition}: {tp.error}"
    return {(tp.topic, tp.partition): (tp.offset, tp.metadata) for tp in res.topic_partitions}


def _cfk_listed(a, states=None):
    kw = {"states": set(states)} if states else {}
    res = a.list_consumer_groups(request_timeout=T, **kw).result(timeout=T)
    assert not res.errors, res.errors
    return {g.group_id: g for g in res.valid}


def _cfk_describe(a, group):
    return a.describe_consumer_groups([group], request_timeout=T)[group].result(timeout=T)


def test_confluent_admin(group_broker):
    bs = group_broker.bootstrap
    topic, active, simple = uniq("adm"), uniq("g-active"), uniq("g-simple")
    cfk_create_topic(bs, topic, 6)
    produced, _ = cfk_produce(bs, topic, 120, "adm")
    ends = end_offsets(produced)
    members = [CfkMember(f"adm{i}", bs, active, [topic]) for i in range(2)]
    a = cfk.admin(bs)
    try:
        start_members(members)
        wait_received(members, produced, 30)
        wait_balanced(members, set(ends), 30, hold=0.5)
        sc.CONFLUENT.commit_simple(bs, simple, {(topic, 0): (5, "five")})
        node_id = a.describe_cluster(request_timeout=T).result(timeout=T).nodes[0].id

        # list, with and without a state filter
        listed = _cfk_listed(a)
        assert active in listed and simple in listed, sorted(listed)
        assert listed[active].state == ConsumerGroupState.STABLE, listed[active].state
        assert not listed[active].is_simple_consumer_group
        assert listed[simple].state == ConsumerGroupState.EMPTY, listed[simple].state
        assert listed[simple].is_simple_consumer_group
        assert listed[active].type == listed[simple].type == ConsumerGroupType.CLASSIC
        stable = _cfk_listed(a, {ConsumerGroupState.STABLE})
        assert active in stable and simple not in stable, sorted(stable)
        empty = _cfk_listed(a, {ConsumerGroupState.EMPTY})
        assert simple in empty and active not in empty, sorted(empty)

        # describe: state, coordinator, members and their assignments
        d = _cfk_describe(a, active)
        assert d.group_id == active and d.state == ConsumerGroupState.STABLE
        assert not d.is_simple_consumer_group
        assert d.partition_assignor in ("range", "roundrobin"), d.partition_assignor
        assert d.coordinator is not None and d.coordinator.id == node_id, d.coordinator
        assert sorted(m.client_id for m in d.members) == ["adm0", "adm1"]
        by_client = {m.client_id: m for m in d.members}
        for m in members:
            desc = by_client[m.name]
            assert desc.member_id and desc.host, desc
            assigned = {(tp.topic, tp.partition) for tp in desc.assignment.topic_partitions}
            assert assigned == set(m.snapshot()[0]), f"{m.name}: described {sorted(assigned)}, owns {sorted(m.snapshot()[0])}"
        d = _cfk_describe(a, simple)
        assert d.state == ConsumerGroupState.EMPTY and d.members == [], (d.state, d.members)

        # committed offsets
        wait_until(lambda: {tp: v[0] for tp, v in _cfk_offsets(a, active).items()} == ends, 10,
                   what="the members' commits in list_consumer_group_offsets")
        got = _cfk_offsets(a, simple, [CTP(topic, 0), CTP(topic, 1)])
        assert got[(topic, 0)] == (5, "five") and got[(topic, 1)][0] == OFFSET_INVALID, got

        # alter offsets: fine for the empty group, refused for one with members
        res = a.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(simple, [CTP(topic, 1, 9, metadata="nine")])], request_timeout=T
        )[simple].result(timeout=T)
        assert [(tp.partition, tp.error) for tp in res.topic_partitions] == [(1, None)]
        assert _cfk_offsets(a, simple, [CTP(topic, 1)])[(topic, 1)] == (9, "nine")
        with pytest.raises(KafkaException) as ei:
            res = a.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(active, [CTP(topic, 0, 1)])], request_timeout=T
            )[active].result(timeout=T)
            errs = [tp.error for tp in res.topic_partitions if tp.error is not None]
            if errs:
                raise KafkaException(errs[0])
        assert ei.value.args[0].code() == KafkaError.UNKNOWN_MEMBER_ID, ei.value

        # delete: refused while the group has members
        with pytest.raises(KafkaException) as ei:
            a.delete_consumer_groups([active], request_timeout=T)[active].result(timeout=T)
        assert ei.value.args[0].code() == KafkaError.NON_EMPTY_GROUP, ei.value
        never = uniq("never")
        with pytest.raises(KafkaException) as ei:
            # (keep the returned dict referenced: its futures are completed through it)
            a.delete_consumer_groups([never], request_timeout=T)[never].result(timeout=T)
        assert ei.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND, ei.value

        stop_members(members, check=True)
        wait_until(lambda: _cfk_describe(a, active).state == ConsumerGroupState.EMPTY, 10,
                   what="the group to be Empty after its members left")
        assert {tp: v[0] for tp, v in _cfk_offsets(a, active).items()} == ends
        a.delete_consumer_groups([active], request_timeout=T)[active].result(timeout=T)
        try:
            assert _cfk_describe(a, active).state == ConsumerGroupState.DEAD
        except KafkaException as e:  # DescribeGroups v6+ reports a missing group as an error
            assert e.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND, e
        left = _cfk_offsets(a, active)
        assert all(off == OFFSET_INVALID for off, _ in left.values()), f"offsets survived DeleteGroups: {left}"
        assert active not in _cfk_listed(a)
        assert simple in _cfk_listed(a)
    finally:
        stop_members(members)
    check_no_commit_errors(members)


def _kp_partitions(assignment):
    """Partitions of a kafka-python described member assignment (object or dict)."""
    if hasattr(assignment, "partitions"):
        return {(tp.topic, tp.partition) for tp in assignment.partitions()}
    out = set()
    for t in assignment["assigned_partitions"]:
        out |= {(t["topic"], p) for p in t["partitions"]}
    return out


def test_kafka_python_admin(group_broker):
    bs = group_broker.bootstrap
    topic, active, simple = uniq("kadm"), uniq("g-kactive"), uniq("g-ksimple")
    kp_create_topic(bs, topic, 6)
    produced, _ = kp_produce(bs, topic, 120, "kadm")
    ends = end_offsets(produced)
    members = [KpMember(f"kadm{i}", bs, active, [topic]) for i in range(2)]
    a = kp_admin(bs)
    try:
        start_members(members)
        wait_received(members, produced, 30)
        wait_balanced(members, set(ends), 30, hold=0.5)
        sc.KAFKA_PYTHON.commit_simple(bs, simple, {(topic, 0): (5, "five"), (topic, 1): (6, "")})

        listed = {g["group_id"]: g for g in a.list_groups()}
        assert active in listed and simple in listed, listed
        assert listed[active]["protocol_type"] == "consumer" and listed[simple]["protocol_type"] == ""
        assert listed[active]["group_type"] == listed[simple]["group_type"] == "classic", listed
        assert {g["group_id"] for g in a.list_groups(types_filter=["classic"])} >= {active, simple}
        assert not {g["group_id"] for g in a.list_groups(types_filter=["consumer"])} & {active, simple}
        assert {g["group_id"] for g in a.list_groups(states_filter=["Stable"])} >= {active}
        assert simple not in {g["group_id"] for g in a.list_groups(states_filter=["Stable"])}
        assert simple in {g["group_id"] for g in a.list_groups(states_filter=["Empty"])}

        d = a.describe_groups([active])[active]
        assert d["error"] is None, d
        assert d["group_state"] == "Stable" and d["protocol_type"] == "consumer", d
        assert d["protocol_data"] in ("range", "roundrobin", "sticky"), d["protocol_data"]
        described = {m["client_id"]: _kp_partitions(m["member_assignment"]) for m in d["members"]}
        assert described == {m.name: set(m.snapshot()[0]) for m in members}, described
        d = a.describe_groups([simple])[simple]
        assert d["group_state"] == "Empty" and d["members"] == [], d

        wait_until(lambda: {(tp.topic, tp.partition): o.offset
                            for tp, o in a.list_group_offsets({active: None})[active].items()} == ends,
                   10, what="the members' commits in list_group_offsets")
        got = a.list_group_offsets({simple: None})[simple]
        assert {(tp.partition, o.offset, o.metadata) for tp, o in got.items()} == {(0, 5, "five"), (1, 6, "")}

        # alter + delete offsets (OffsetDelete)
        res = a.alter_group_offsets(simple, {KTP(topic, 2): OffsetAndMetadata(8, "eight", -1)})
        assert res == {KTP(topic, 2): KErrors.NoError}, res
        res = a.delete_group_offsets(simple, [KTP(topic, 0)])
        assert res == {KTP(topic, 0): KErrors.NoError}, res
        got = a.list_group_offsets({simple: None})[simple]
        assert {(tp.partition, o.offset) for tp, o in got.items()} == {(1, 6), (2, 8)}, got
        # refused while members are subscribed to the topic
        res = a.delete_group_offsets(active, [KTP(topic, 0)])
        assert res == {KTP(topic, 0): KErrors.GroupSubscribedToTopicError}, res

        assert a.delete_groups([active]) == {active: "NonEmptyGroupError"}
        assert a.delete_groups([uniq("never")]).popitem()[1] == "GroupIdNotFoundError"
        stop_members(members, check=True)
        wait_until(lambda: a.describe_groups([active])[active]["group_state"] == "Empty", 10,
                   what="the group to be Empty after its members left")
        assert a.delete_groups([active, simple]) == {active: "OK", simple: "OK"}
        d = a.describe_groups([active])[active]
        assert d["group_state"] == "Dead" or "GroupIdNotFound" in (d["error"] or ""), d
        try:
            assert a.list_group_offsets({active: None})[active] == {}
        except KErrors.GroupIdNotFoundError:
            pass
        listed = {g["group_id"] for g in a.list_groups()}
        assert active not in listed and simple not in listed, listed
    finally:
        stop_members(members)
        a.close()
    check_no_commit_errors(members)


def test_consumer_offsets_is_internal(group_broker):
    bs = group_broker.bootstrap
    topic, group = uniq("int"), uniq("g-int")
    cfk_create_topic(bs, topic, 1)
    sc.CONFLUENT.commit_simple(bs, group, {(topic, 0): (0, "")})
    a = kp_admin(bs)
    try:
        wait_until(lambda: "__consumer_offsets" in [t["name"] for t in a.describe_topics()], 10,
                   what="__consumer_offsets in the metadata")
        [t] = a.describe_topics(["__consumer_offsets"])
        assert t["error_code"] == 0, t
        assert t["is_internal"] is True, t
        assert len(t["partitions"]) == 5, f"offsets.topic.num.partitions=5, got {len(t['partitions'])}"
        [t] = a.describe_topics([topic])
        assert t["is_internal"] is False
    finally:
        a.close()
    p = cfk.producer(bs, message_timeout_ms=5000)
    errs = []
    p.produce("__consumer_offsets", value=b"not an offset commit", partition=0,
              on_delivery=lambda err, msg: errs.append(err))
    p.flush(15)
    assert len(errs) == 1 and errs[0] is not None, "a client produced to __consumer_offsets"
    assert errs[0].code() in (KafkaError.TOPIC_EXCEPTION, KafkaError.TOPIC_AUTHORIZATION_FAILED), errs[0]


def _send(admin, request, node_id):
    async def go():
        return await admin._manager.send(request, node_id=node_id)
    return admin._manager.run(go)


def _commit_errors(response):
    return {(t.name, p.partition_index): p.error_code for t in response.topics for p in t.partitions}


def test_bad_group_requests_refused(group_broker):
    bs = group_broker.bootstrap
    topic, group, other = uniq("bad"), uniq("g-bad"), uniq("g-other")
    kp_create_topic(bs, topic, 3)
    produced, _ = kp_produce(bs, topic, 90, "bad-1")
    ends = end_offsets(produced)
    m = KpMember("m", bs, group, [topic])
    o = KpMember("o", bs, other, [topic])
    a = kp_admin(bs)
    try:
        start_members([m])
        wait_received([m], produced, 30)
        wait_balanced([m], set(ends), 30)
        time.sleep(0.3)
        assert {tp: v[0] for tp, v in kp_committed(bs, group, sorted(ends)).items()} == ends
        gm = m.c.group_metadata()
        gen, member_id = gm.generation_id, gm.member_id
        assert gen > 0 and member_id, gm
        events = len(m.event_log())
        node = a._manager.run(a._find_coordinator_id, group)

        _T = OffsetCommitRequest.OffsetCommitRequestTopic
        _P = _T.OffsetCommitRequestPartition

        def commit(generation, mid):
            req = OffsetCommitRequest(
                max_version=8,  # as kafka-python's consumer (the newest versions: test_group_api_versions)
                group_id=group, generation_id_or_member_epoch=generation, member_id=mid,
                group_instance_id=None, retention_time_ms=-1,
                topics=[_T(name=topic, partitions=[_P(partition_index=p, committed_offset=1,
                                                      committed_leader_epoch=-1, committed_metadata="bad")
                                                   for p in range(3)])])
            return _send(a, req, node)

        r = commit(gen + 5, member_id)
        assert set(_commit_errors(r).values()) == {KErrors.IllegalGenerationError.errno}, (r.API_VERSION, r)
        r = commit(gen, "not-a-member")
        assert set(_commit_errors(r).values()) == {KErrors.UnknownMemberIdError.errno}, (r.API_VERSION, r)
        r = commit(-1, "")  # a "simple" commit into a group that has members
        assert set(_commit_errors(r).values()) == {KErrors.UnknownMemberIdError.errno}, (r.API_VERSION, r)

        hb = _send(a, HeartbeatRequest(group_id=group, generation_id=gen + 5, member_id=member_id,
                                       group_instance_id=None), node)
        assert hb.error_code == KErrors.IllegalGenerationError.errno, hb
        hb = _send(a, HeartbeatRequest(group_id=group, generation_id=gen, member_id="not-a-member",
                                       group_instance_id=None), node)
        assert hb.error_code == KErrors.UnknownMemberIdError.errno, hb
        sync = _send(a, SyncGroupRequest(max_version=5, group_id=group, generation_id=gen, member_id="not-a-member",
                                         group_instance_id=None, protocol_type="consumer",
                                         protocol_name="range", assignments=[]), node)
        assert sync.error_code == KErrors.UnknownMemberIdError.errno, sync

        def join(group_id, mid, session_timeout_ms=6000):
            return _send(a, JoinGroupRequest(
                max_version=7, group_id=group_id, session_timeout_ms=session_timeout_ms,
                rebalance_timeout_ms=6000, member_id=mid,
                group_instance_id=None, protocol_type="consumer", reason=None,
                protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")]), node)

        r = join(group, "not-a-member")
        assert r.error_code == KErrors.UnknownMemberIdError.errno, r
        r = join("", "")
        assert r.error_code == KErrors.InvalidGroupIdError.errno, (r.API_VERSION, r)
        hb = _send(a, HeartbeatRequest(group_id="", generation_id=1, member_id="x", group_instance_id=None), node)
        assert hb.error_code == KErrors.InvalidGroupIdError.errno, hb
        sync = _send(a, SyncGroupRequest(max_version=5, group_id="", generation_id=1, member_id="x", group_instance_id=None,
                                         protocol_type="consumer", protocol_name="range", assignments=[]), node)
        assert sync.error_code == KErrors.InvalidGroupIdError.errno, sync

        # session timeout outside [group.min.session.timeout.ms, group.max.session.timeout.ms]
        for timeout in (SESSION_TIMEOUT_MS - 1, 1_800_001):
            r = join(uniq("g-timeout"), "", session_timeout_ms=timeout)
            assert r.error_code == KErrors.InvalidSessionTimeoutError.errno, (timeout, r)

        # per-partition refusals: unknown topic / partition, metadata over offset.metadata.max.bytes
        req = OffsetCommitRequest(
            max_version=8, group_id=group, generation_id_or_member_epoch=gen, member_id=member_id,
            group_instance_id=None, retention_time_ms=-1,
            topics=[_T(name="no-such-topic", partitions=[_P(partition_index=0, committed_offset=1,
                                                             committed_leader_epoch=-1, committed_metadata="")]),
                    _T(name=topic, partitions=[
                        _P(partition_index=0, committed_offset=1, committed_leader_epoch=-1,
                           committed_metadata="x" * 5000),
                        _P(partition_index=99, committed_offset=1, committed_leader_epoch=-1,
                           committed_metadata="")])])
        r = _send(a, req, node)
        assert _commit_errors(r) == {
            ("no-such-topic", 0): KErrors.UnknownTopicOrPartitionError.errno,
            (topic, 0): KErrors.OffsetMetadataTooLargeError.errno,
            (topic, 99): KErrors.UnknownTopicOrPartitionError.errno,
        }, r

        # nothing of that changed the group: offsets, assignment, no rebalance
        assert {tp: v for tp, v in kp_committed(bs, group, sorted(ends)).items()} == {
            tp: (off, "") for tp, off in ends.items()}
        more, _ = kp_produce(bs, topic, 60, "bad-2")
        wait_received([m], more, 30)
        assert m.snapshot()[0] == set(ends)
        assert len(m.event_log()) == events, f"the bad requests caused a rebalance: {m.describe()}"
        # and another group works next to it
        start_members([o])
        wait_received([o], produced | more, 30)
        stop_members([m, o], check=True)
    finally:
        stop_members([m, o])
        a.close()
    check_no_commit_errors([m, o])


def test_group_api_versions(group_broker):
    """Every group API at the newest version both kafka-python and kavka support
    (what kavka advertises in ApiVersions must decode): a response, not a
    closed connection."""
    bs = group_broker.bootstrap
    topic, group = uniq("ver"), uniq("g-ver")
    kp_create_topic(bs, topic, 1)
    a = kp_admin(bs)
    try:
        node = a._manager.run(a._find_coordinator_id, group)
        bvd = a._manager.broker_version_data
        v = {cls.__name__: bvd.api_version(cls) for cls in (
            FindCoordinatorRequest, JoinGroupRequest, SyncGroupRequest, HeartbeatRequest, LeaveGroupRequest,
            OffsetCommitRequest, OffsetFetchRequest, OffsetDeleteRequest, DescribeGroupsRequest,
            ListGroupsRequest, DeleteGroupsRequest)}
        report(f"group API versions used (min of kafka-python's and kavka's max): {v}")
        _OC = OffsetCommitRequest.OffsetCommitRequestTopic
        _OD = OffsetDeleteRequest.OffsetDeleteRequestTopic
        _OF = OffsetFetchRequest.OffsetFetchRequestGroup
        if v["OffsetFetchRequest"] >= 8:
            fetch = OffsetFetchRequest(require_stable=False, groups=[_OF(
                group_id=group, member_id=None, member_epoch=-1,
                topics=[_OF.OffsetFetchRequestTopics(name=topic, partition_indexes=[0])])])
        else:
            fetch = OffsetFetchRequest(group_id=group, require_stable=False, topics=[
                OffsetFetchRequest.OffsetFetchRequestTopic(name=topic, partition_indexes=[0])])
        if v["FindCoordinatorRequest"] >= 4:
            find = FindCoordinatorRequest(key_type=0, coordinator_keys=[group])
        else:
            find = FindCoordinatorRequest(key=group, key_type=0)
        if v["LeaveGroupRequest"] >= 3:
            leave = LeaveGroupRequest(group_id=group, members=[LeaveGroupRequest.MemberIdentity(
                member_id="nobody", group_instance_id=None, reason=None)])
        else:
            leave = LeaveGroupRequest(group_id=group, member_id="nobody")
        requests = [
            find,
            OffsetCommitRequest(group_id=group, generation_id_or_member_epoch=-1, member_id="",
                                group_instance_id=None, retention_time_ms=-1,
                                topics=[_OC(name=topic, partitions=[_OC.OffsetCommitRequestPartition(
                                    partition_index=0, committed_offset=0, committed_leader_epoch=-1,
                                    committed_metadata="v")])]),
            fetch,
            JoinGroupRequest(group_id=group, session_timeout_ms=6000, rebalance_timeout_ms=6000, member_id="",
                             group_instance_id=None, protocol_type="consumer", reason=None,
                             protocols=[JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=b"")]),
            SyncGroupRequest(group_id=group, generation_id=1, member_id="nobody", group_instance_id=None,
                             protocol_type="consumer", protocol_name="range", assignments=[]),
            HeartbeatRequest(group_id=group, generation_id=1, member_id="nobody", group_instance_id=None),
            leave,
            DescribeGroupsRequest(groups=[group], include_authorized_operations=False),
            ListGroupsRequest(states_filter=[], types_filter=[]),
            OffsetDeleteRequest(group_id=group, topics=[_OD(name=topic, partitions=[
                _OD.OffsetDeleteRequestPartition(partition_index=0)])]),
            DeleteGroupsRequest(groups_names=[group]),
        ]
        failed = {}
        for req in requests:
            name = type(req).__name__
            try:
                resp = _send(a, req, None if isinstance(req, FindCoordinatorRequest) else node)
                assert type(resp).__name__ == name.replace("Request", "Response")
            except Exception as e:
                failed[f"{name} v{v[name]}"] = repr(e)
        assert not failed, f"requests without a response (see the broker log): {failed}"
    finally:
        a.close()


def test_deleting_a_topic_deletes_its_committed_offsets(group_broker):
    """A deleted topic's offsets go from every group (as in Kafka), so a topic created again
    under the same name does not inherit them; other topics' offsets stay."""
    bs = group_broker.bootstrap
    topic, other, g1, g2 = uniq("del"), uniq("keep"), uniq("g-del1"), uniq("g-del2")
    cfk_create_topic(bs, topic, 2)
    cfk_create_topic(bs, other, 1)
    sc.CONFLUENT.commit_simple(bs, g1, {(topic, 0): (5, "a"), (topic, 1): (6, "b"), (other, 0): (7, "c")})
    sc.CONFLUENT.commit_simple(bs, g2, {(topic, 1): (9, "d")})
    a = cfk.admin(bs)
    a.delete_topics([topic], operation_timeout=10)[topic].result(timeout=T)
    wait_until(lambda: topic not in a.list_topics(timeout=T).topics, 10, what="topic deleted")
    cfk_create_topic(bs, topic, 2)
    got1 = _cfk_offsets(a, g1, [CTP(topic, 0), CTP(topic, 1), CTP(other, 0)])
    assert got1[(topic, 0)][0] == OFFSET_INVALID and got1[(topic, 1)][0] == OFFSET_INVALID, got1
    assert got1[(other, 0)] == (7, "c")
    assert _cfk_offsets(a, g2, [CTP(topic, 1)])[(topic, 1)][0] == OFFSET_INVALID
    # and the deletion is durable: the tombstones are in __consumer_offsets
    group_broker.kill()
    group_broker.start()
    wait_until(lambda: _try_offsets(a, g1, [CTP(topic, 0), CTP(other, 0)]) is not None, 15,
               what="coordinator loaded after restart")
    got = _try_offsets(a, g1, [CTP(topic, 0), CTP(other, 0)])
    assert got[(topic, 0)][0] == OFFSET_INVALID and got[(other, 0)] == (7, "c"), got


def _try_offsets(a, group, partitions):
    try:
        return _cfk_offsets(a, group, partitions)
    except (KafkaException, AssertionError):
        return None
