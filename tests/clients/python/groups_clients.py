"""Client-specific pieces of the consumer group tests: group members for
confluent-kafka and kafka-python (see groups_common.Member), topic creation
and producing with each client, and the child-process member scripts."""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Set, Tuple

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka import TopicPartition as CTP
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTP
from kafka import errors as KErrors
from kafka.consumer.subscription_state import ConsumerRebalanceListener

import cfk
from groups_common import HEARTBEAT_MS, SESSION_TIMEOUT_MS, TP, Member, RecordId
from helpers import make_records

KP_TIMEOUT_MS = 15_000


# --- confluent-kafka -----------------------------------------------------

def cfk_consumer_conf(bootstrap: str, group: str, **extra) -> dict:
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": HEARTBEAT_MS,
        "fetch.wait.max.ms": 100,
        "reconnect.backoff.max.ms": 1000,
    }
    conf.update(extra)
    return conf


def cfk_group_consumer(bootstrap: str, group: str, **extra) -> Consumer:
    return Consumer(cfk_consumer_conf(bootstrap, group, **extra))


class CfkMember(Member):
    """confluent-kafka member. Commits synchronously after every batch and,
    for the partitions being revoked, in on_revoke (needed with cooperative-sticky,
    where a member keeps consuming while the group rebalances)."""

    def _open(self) -> None:
        conf = cfk_consumer_conf(self.bootstrap, self.group, **{"client.id": self.name})
        conf.update(self.conf)
        self.cooperative = conf.get("partition.assignment.strategy") == "cooperative-sticky"
        self.c = Consumer(conf)
        self.c.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                         on_lost=self._on_lost)

    @staticmethod
    def _tps(partitions) -> List[TP]:
        return [(tp.topic, tp.partition) for tp in partitions]

    def _on_assign(self, consumer, partitions) -> None:
        self.member_id = consumer.memberid()  # (Consumer calls from another thread can block)
        self.event("assign", self._tps(partitions))

    def _on_revoke(self, consumer, partitions) -> None:
        self.event("revoke", self._tps(partitions))
        if not partitions or not self.commit_each_batch or self._stop_evt.is_set() or self._leave_evt.is_set():
            return  # (closing: the final commit before close() covered everything)
        positions = [tp for tp in consumer.position(partitions) if tp.offset >= 0]
        if positions:
            try:
                res = consumer.commit(offsets=positions, asynchronous=False)
                bad = [tp for tp in res or [] if tp.error is not None]
                if bad:
                    raise KafkaException(bad[0].error)
            except KafkaException as e:
                if not self._is_benign_commit_error(e):
                    with self.lock:
                        self.commit_errors.append(f"on_revoke: {e!r}")

    def _on_lost(self, consumer, partitions) -> None:
        self.event("lost", self._tps(partitions))

    def _poll(self):
        out = []
        for m in self.c.consume(num_messages=self.max_batch, timeout=self.poll_timeout):
            err = m.error()
            if err is not None:
                if err.fatal():
                    raise KafkaException(err)
                with self.lock:
                    self.client_errors.append(f"{time.monotonic():.3f} {err.name()}: {err.str()}")
                continue
            out.append((m.topic(), m.partition(), m.offset(), m.value()))
        return out

    def _assignment(self) -> Set[TP]:
        return {(tp.topic, tp.partition) for tp in self.c.assignment()}

    def _commit(self) -> None:
        res = self.c.commit(asynchronous=False)
        bad = [tp for tp in res or [] if tp.error is not None]
        if bad:
            raise KafkaException(bad[0].error)

    def _is_benign_commit_error(self, e: BaseException) -> bool:
        if not isinstance(e, KafkaException):
            return False
        code = e.args[0].code()
        if code == KafkaError._NO_OFFSET:  # nothing new to commit
            return True
        # A cooperative member keeps consuming (and committing) while it rejoins: a commit
        # that reaches the coordinator once the next generation's join has completed
        # gets REBALANCE_IN_PROGRESS (sent with the new generation) or ILLEGAL_GENERATION
        # (with the previous one), as in Kafka. Correctness is checked by exactly-once.
        return self.cooperative and code in (KafkaError.REBALANCE_IN_PROGRESS, KafkaError.ILLEGAL_GENERATION)

    def _close(self) -> None:
        self.c.close()


def cfk_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    cfk.create_topic(bootstrap, topic, partitions=partitions)


def cfk_produce(bootstrap: str, topic: str, n: int, tag: str) -> Tuple[Set[RecordId], Dict[RecordId, bytes]]:
    """Produces n keyed records; returns their (topic, partition, offset) ids and values."""
    recs = make_records(tag, n=n)
    acked = cfk.produce_all(cfk.producer(bootstrap), topic, recs)
    values = {(topic, p, o): recs[i].value for i, (p, o) in acked.items()}
    return set(values), values


def cfk_committed(bootstrap: str, group: str, tps: Sequence[TP]) -> Dict[TP, Tuple[int, Optional[str]]]:
    """Committed (offset, metadata) per partition, read by a consumer that does not join."""
    c = cfk_group_consumer(bootstrap, group)
    try:
        res = c.committed([CTP(t, p) for t, p in tps], timeout=cfk.TIMEOUT)
    finally:
        c.close()
    out = {}
    for tp in res:
        assert tp.error is None, f"committed() {tp.topic}/{tp.partition}: {tp.error}"
        out[(tp.topic, tp.partition)] = (tp.offset, tp.metadata)
    return out


# --- kafka-python --------------------------------------------------------

def kp_consumer_conf(bootstrap: str, group: Optional[str], **extra) -> dict:
    conf = dict(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_MS,
        fetch_max_wait_ms=100,
        request_timeout_ms=KP_TIMEOUT_MS,
        reconnect_backoff_max_ms=1000,
    )
    conf.update(extra)
    return conf


def kp_group_consumer(bootstrap: str, group: Optional[str], *topics: str, **extra) -> KafkaConsumer:
    return KafkaConsumer(*topics, **kp_consumer_conf(bootstrap, group, **extra))


class _KpListener(ConsumerRebalanceListener):
    def __init__(self, member: "KpMember"):
        self.member = member

    def on_partitions_revoked(self, revoked):
        self.member.event("revoke", [(tp.topic, tp.partition) for tp in revoked])

    def on_partitions_assigned(self, assigned):
        self.member.event("assign", [(tp.topic, tp.partition) for tp in assigned])

    def on_partitions_lost(self, lost):
        self.member.event("lost", [(tp.topic, tp.partition) for tp in lost])


class KpMember(Member):
    """kafka-python member: sync commit of the consumed positions after every batch.
    (Its rebalance listener runs on the client's IO loop, where a blocking
    commit() is not possible; with the eager protocol the per-batch commit
    leaves nothing uncommitted at a revocation.)"""

    def _open(self) -> None:
        conf = kp_consumer_conf(self.bootstrap, self.group, client_id=self.name)
        conf.update(self.conf)
        self.c = KafkaConsumer(**conf)
        self.c.subscribe(self.topics, listener=_KpListener(self))

    def _poll(self):
        out = []
        try:
            batches = self.c.poll(timeout_ms=int(self.poll_timeout * 1000), max_records=self.max_batch)
        except KErrors.KafkaError as e:
            if not e.retriable:
                raise
            with self.lock:
                self.client_errors.append(f"{time.monotonic():.3f} {e!r}")
            return out
        for tp, msgs in batches.items():
            for m in msgs:
                out.append((m.topic, m.partition, m.offset, m.value))
        return out

    def _assignment(self) -> Set[TP]:
        return {(tp.topic, tp.partition) for tp in self.c.assignment()}

    def _commit(self) -> None:
        self.c.commit()

    def _close(self) -> None:
        self.c.close()


def kp_admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=KP_TIMEOUT_MS)


def kp_create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    a = kp_admin(bootstrap)
    try:
        res = a.create_topics(
            {topic: {"num_partitions": partitions, "replication_factor": 1}}, timeout_ms=10_000)
        assert [t["error_code"] for t in res["topics"]] == [0], res
    finally:
        a.close()


def kp_produce(bootstrap: str, topic: str, n: int, tag: str) -> Tuple[Set[RecordId], Dict[RecordId, bytes]]:
    recs = make_records(tag, n=n)
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                      linger_ms=5, request_timeout_ms=KP_TIMEOUT_MS)
    try:
        futures = [p.send(topic, key=r.key, value=r.value, timestamp_ms=r.timestamp) for r in recs]
        p.flush(timeout=60)
        values = {}
        for r, f in zip(recs, futures):
            md = f.get(timeout=1)
            values[(topic, md.partition, md.offset)] = r.value
    finally:
        p.close()
    return set(values), values


def kp_committed(bootstrap: str, group: str, tps: Sequence[TP]) -> Dict[TP, Optional[Tuple[int, str]]]:
    """Committed (offset, metadata) per partition (None: no commit), by a consumer that does not join."""
    c = kp_group_consumer(bootstrap, group)
    try:
        out = {}
        for t, p in tps:
            oam = c.committed(KTP(t, p), metadata=True, timeout_ms=KP_TIMEOUT_MS)
            out[(t, p)] = None if oam is None else (oam.offset, oam.metadata)
        return out
    finally:
        c.close()


# --- members in child processes (SIGKILLed: no LeaveGroup) ---------------

CFK_CHILD = r"""
import sys
from confluent_kafka import Consumer
bootstrap, group, topic, session, heartbeat = sys.argv[1:6]
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": int(session),
              "heartbeat.interval.ms": int(heartbeat), "client.id": "child"})
c.subscribe([topic])
last = None
while True:
    c.poll(0.1)
    now = sorted((tp.topic, tp.partition) for tp in c.assignment())
    if now != last:
        print("ASSIGNED " + " ".join(f"{t}:{p}" for t, p in now), flush=True)
        last = now
"""

KP_CHILD = r"""
import sys
from kafka import KafkaConsumer
bootstrap, group, topic, session, heartbeat = sys.argv[1:6]
c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                  enable_auto_commit=False, session_timeout_ms=int(session),
                  heartbeat_interval_ms=int(heartbeat), client_id="child")
c.subscribe([topic])
last = None
while True:
    c.poll(timeout_ms=100)
    now = sorted((tp.topic, tp.partition) for tp in c.assignment())
    if now != last:
        print("ASSIGNED " + " ".join(f"{t}:{p}" for t, p in now), flush=True)
        last = now
"""
