"""Client-independent harness for the consumer group tests (test_groups_*.py).

A group member is a thread (``Member``) that owns one consumer: it polls,
records every record it is handed as (topic, partition, offset, value),
commits synchronously after every batch, and publishes its current
assignment. The test thread only looks at that published state and sends
commands (leave = close the consumer, stop = final commit + close).
Client-specific subclasses live in groups_clients.py.

A member that must die without a LeaveGroup runs in a child process
(``ChildMember``) that prints its assignment on stdout; the test SIGKILLs it.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

SESSION_TIMEOUT_MS = 6000  # the broker's group.min.session.timeout.ms
HEARTBEAT_MS = 500
N_GROUP_PARTITIONS = 6

TP = Tuple[str, int]  # (topic, partition)
RecordId = Tuple[str, int, int]  # (topic, partition, offset)


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Member(threading.Thread):
    """One consumer group member driven by its own thread.

    Subclasses implement _open, _poll (-> [(topic, partition, offset, value)]),
    _assignment (-> set of (topic, partition)), _commit (synchronous commit of
    the consumed positions; returns normally or raises), _is_benign_commit_error
    and _close. _open must subscribe and install callbacks that call
    self.event("assign"|"revoke"|"lost", tps).
    """

    poll_timeout = 0.1

    def __init__(self, name: str, bootstrap: str, group: str, topics: Sequence[str], *,
                 max_batch: int = 500, pause: float = 0.0, commit_each_batch: bool = True,
                 **conf):
        super().__init__(name=name, daemon=True)
        self.bootstrap = bootstrap
        self.group = group
        self.topics = list(topics)
        self.max_batch = max_batch
        self.pause = pause
        self.commit_each_batch = commit_each_batch
        self.conf = conf
        self.lock = threading.Lock()
        self.received: List[Tuple[str, int, int, bytes]] = []
        self.assigned: FrozenSet[TP] = frozenset()
        self.assigned_at = 0.0
        self.events: List[Tuple[float, str, FrozenSet[TP]]] = []
        self.commit_errors: List[str] = []
        self.client_errors: List[str] = []  # non-fatal errors reported by the consumer
        self.final_commit_errors: List[str] = []
        self.error: Optional[str] = None
        self.opened = threading.Event()
        self.closed = threading.Event()
        self.close_started: Optional[float] = None
        self.close_finished: Optional[float] = None
        self._stop_evt = threading.Event()
        self._leave_evt = threading.Event()
        self._commit_at_stop = True

    # --- to implement -------------------------------------------------
    def _open(self) -> None: raise NotImplementedError
    def _poll(self) -> List[Tuple[str, int, int, bytes]]: raise NotImplementedError
    def _assignment(self) -> Set[TP]: raise NotImplementedError
    def _commit(self) -> None: raise NotImplementedError
    def _is_benign_commit_error(self, e: BaseException) -> bool: return False
    def _close(self) -> None: raise NotImplementedError

    # --- called from the member thread --------------------------------
    def event(self, kind: str, tps: Iterable[TP]) -> None:
        with self.lock:
            self.events.append((time.monotonic(), kind, frozenset(tps)))

    def safe_commit(self) -> None:
        try:
            self._commit()
        except Exception as e:  # recorded; the exactly-once checks decide
            if not self._is_benign_commit_error(e):
                with self.lock:
                    self.commit_errors.append(f"{time.monotonic():.3f} {e!r}")

    def _refresh_assignment(self) -> None:
        a = frozenset(self._assignment())
        if a != self.assigned:
            with self.lock:
                self.assigned = a
                self.assigned_at = time.monotonic()

    def run(self) -> None:
        try:
            self._open()
            self.opened.set()
            while not self._stop_evt.is_set() and not self._leave_evt.is_set():
                recs = self._poll()
                if recs:
                    with self.lock:
                        self.received.extend(recs)
                    if self.commit_each_batch:
                        self.safe_commit()
                self._refresh_assignment()
                if self.pause and recs:
                    time.sleep(self.pause)
            if self._commit_at_stop and self.commit_each_batch:
                # Normally nothing new: every batch was committed. When the other
                # members stop at the same time, the group may be rebalancing now,
                # so errors are only recorded (the committed offsets are checked).
                n = len(self.commit_errors)
                self.safe_commit()
                with self.lock:
                    self.final_commit_errors = self.commit_errors[n:]
                    del self.commit_errors[n:]
            self.close_started = time.monotonic()
            self._close()
            self.close_finished = time.monotonic()
        except BaseException:
            self.error = traceback.format_exc()
        finally:
            with self.lock:
                self.assigned = frozenset()
            self.opened.set()
            self.closed.set()

    # --- called from the test thread ----------------------------------
    def leave(self, commit: bool = True) -> None:
        """Ask the thread to close its consumer (a LeaveGroup for dynamic members)."""
        self._commit_at_stop = commit
        self._leave_evt.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop_evt.set()
        if self.is_alive():
            self.join(timeout)
        assert not self.is_alive(), f"{self.name}: consumer thread did not finish in {timeout}s"

    def snapshot(self) -> Tuple[FrozenSet[TP], float]:
        with self.lock:
            return self.assigned, self.assigned_at

    def records(self) -> List[Tuple[str, int, int, bytes]]:
        with self.lock:
            return list(self.received)

    def event_log(self) -> List[Tuple[float, str, FrozenSet[TP]]]:
        with self.lock:
            return list(self.events)

    def check_alive(self) -> None:
        if self.error is not None:
            raise AssertionError(f"member {self.name} failed:\n{self.error}")

    def describe(self) -> str:
        return (f"{self.name}: assigned={sorted(self.assigned)} received={len(self.received)} "
                f"events={[(round(at, 3), k, sorted(p for _, p in t)) for at, k, t in self.events]} "
                f"commit_errors={self.commit_errors[:5]} final_commit_errors={self.final_commit_errors} "
                f"client_errors={self.client_errors[:5]}")


def start_members(members: Sequence[Member], timeout: float = 15.0) -> None:
    for m in members:
        m.start()
    for m in members:
        assert m.opened.wait(timeout), f"{m.name} did not open its consumer in {timeout}s"
        m.check_alive()


def stop_members(members: Sequence[Member], check: bool = False) -> None:
    """Stops all the members at once (final commit + close). With check, fails if a
    member does not finish or had failed; without, best effort (for finally blocks)."""
    for m in members:
        m._stop_evt.set()
    for m in members:
        if m.is_alive():
            m.join(30)
    if check:
        for m in members:
            assert not m.is_alive(), f"{m.name}: consumer thread did not finish in 30s"
            m.check_alive()


def all_tps(topic: str, n: int = N_GROUP_PARTITIONS) -> Set[TP]:
    return {(topic, p) for p in range(n)}


def ownership(members: Sequence[Member], tps: Set[TP]) -> Dict[TP, List[str]]:
    owners: Dict[TP, List[str]] = {tp: [] for tp in tps}
    for m in members:
        for tp in m.snapshot()[0]:
            if tp in owners:
                owners[tp].append(m.name)
    return owners


def balanced(members: Sequence[Member], tps: Set[TP]) -> bool:
    """Every partition owned by exactly one member, and every member owns some."""
    owners = ownership(members, tps)
    if any(len(o) != 1 for o in owners.values()):
        return False
    return all(m.snapshot()[0] & tps for m in members)


def wait_balanced(members: Sequence[Member], tps: Set[TP], timeout: float, hold: float = 0.0,
                  what: str = "a balanced assignment", others: Sequence[Member] = ()) -> float:
    """Waits until balanced(members, tps) holds (for `hold` seconds in a row).

    Returns the monotonic time at which it was first observed. Fails early if
    a member (or one of `others`) died.
    """
    deadline = time.monotonic() + timeout
    since: Optional[float] = None
    while True:
        for m in list(members) + list(others):
            m.check_alive()
        now = time.monotonic()
        if balanced(members, tps):
            if since is None:
                since = now
            if now - since >= hold:
                return since
        else:
            since = None
        if now > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; ownership "
                f"{sorted(ownership(members, tps).items())}\n" + "\n".join(m.describe() for m in members)
            )
        time.sleep(0.02)


def wait_received(members: Sequence[Member], ids: Set[RecordId], timeout: float,
                  what: str = "records") -> None:
    deadline = time.monotonic() + timeout
    while True:
        for m in members:
            m.check_alive()
        got = {(t, p, o) for m in members for (t, p, o, _) in m.records()}
        missing = ids - got
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}: {len(missing)} of {len(ids)} "
                f"never consumed, e.g. {sorted(missing)[:5]}\n" + "\n".join(m.describe() for m in members)
            )
        time.sleep(0.05)


def check_exactly_once(members: Sequence[Member], produced: Set[RecordId],
                       values: Optional[Dict[RecordId, bytes]] = None) -> Dict[str, int]:
    """Every produced record consumed by exactly one member, nothing else consumed.

    Returns {member name: number of records it consumed}."""
    seen: Dict[RecordId, List[str]] = collections.defaultdict(list)
    for m in members:
        for (t, p, o, v) in m.records():
            seen[(t, p, o)].append(m.name)
            if values is not None and (t, p, o) in values:
                assert v == values[(t, p, o)], f"{m.name} got a wrong value at {t}/{p}@{o}"
    dups = {rid: who for rid, who in seen.items() if len(who) > 1}
    missing = produced - set(seen)
    extra = set(seen) - produced
    detail = "\n".join(m.describe() for m in members)
    assert not dups, (f"{len(dups)} records consumed more than once, e.g. "
                      f"{sorted(dups.items())[:5]}\n{detail}")
    assert not missing, f"{len(missing)} records never consumed, e.g. {sorted(missing)[:5]}\n{detail}"
    assert not extra, f"{len(extra)} unexpected records consumed, e.g. {sorted(extra)[:5]}"
    return {m.name: len(m.records()) for m in members}


def end_offsets(produced: Iterable[RecordId]) -> Dict[TP, int]:
    """Log end offset per partition, for partitions written only by the test from offset 0."""
    ends: Dict[TP, int] = {}
    for t, p, o in produced:
        ends[(t, p)] = max(ends.get((t, p), 0), o + 1)
    return ends


# Consumer errors that say nothing about the broker's group support.
BENIGN_CLIENT_ERRORS = ("_TRANSPORT", "_ALL_BROKERS_DOWN", "_PARTITION_EOF")


def check_no_commit_errors(members: Sequence[Member]) -> None:
    """No failed commit, and no consumer error other than a connection being closed."""
    errs = {m.name: m.commit_errors for m in members if m.commit_errors}
    assert not errs, f"commits failed: {errs}\n" + "\n".join(m.describe() for m in members)
    errs = {m.name: [e for e in m.client_errors if not any(b in e for b in BENIGN_CLIENT_ERRORS)]
            for m in members}
    errs = {k: v for k, v in errs.items() if v}
    assert not errs, f"consumer errors: {errs}"


# --- members in a child process (killed with SIGKILL, no LeaveGroup) --------

class ChildMember:
    """A group member in a `python -c` child process printing 'ASSIGNED [..]' lines."""

    def __init__(self, script: str, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
        self.lock = threading.Lock()
        self.assigned: FrozenSet[TP] = frozenset()
        self.output: List[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            with self.lock:
                self.output.append(line)
                if line.startswith("ASSIGNED "):
                    parts = line[len("ASSIGNED "):].split()
                    self.assigned = frozenset((t, int(p)) for t, p in (x.rsplit(":", 1) for x in parts))

    def snapshot(self) -> FrozenSet[TP]:
        with self.lock:
            return self.assigned

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"child member exited with {code}:\n" + "\n".join(self.output[-50:]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def log(self) -> str:
        with self.lock:
            return "\n".join(self.output[-50:])


def wait_child_assigned(child: ChildMember, members: Sequence[Member], tps: Set[TP], timeout: float) -> None:
    """Waits until the child and the in-process members split tps with no overlap, everyone owning some."""
    deadline = time.monotonic() + timeout
    while True:
        child.check_alive()
        for m in members:
            m.check_alive()
        mine = [m.snapshot()[0] & tps for m in members]
        theirs = child.snapshot() & tps
        union = set(theirs).union(*mine)
        total = len(theirs) + sum(len(x) for x in mine)
        if union == tps and total == len(tps) and theirs and all(mine):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for the child member to get partitions: child {sorted(theirs)}, "
                + ", ".join(m.describe() for m in members) + "\nchild output:\n" + child.log()
            )
        time.sleep(0.05)


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def report(line: str) -> None:
    """Prints a measurement (visible with -s, and in the captured output of a failure)
    and appends it to $KAVKA_GROUPS_MEASUREMENTS if set."""
    print(line, flush=True)
    path = os.environ.get("KAVKA_GROUPS_MEASUREMENTS")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")
