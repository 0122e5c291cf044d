"""Client-independent data set and checks shared by the Python client tests.

The data set: N records, key ``key-<i % 100>`` (so 100 keys, each with a
per-key order that must survive), a value containing the index, one or two
headers, and an explicit CreateTime timestamp ``base + i``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

N_RECORDS = 10_000
N_KEYS = 100
N_PARTITIONS = 3
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
# A fixed-ish filler so that the compressed codecs have something to chew on.
_FILLER = "the quick brown fox jumps over the lazy dog " * 2


@dataclass(frozen=True)
class Rec:
    index: int
    key: bytes
    value: bytes
    headers: Tuple[Tuple[str, bytes], ...]
    timestamp: int


@dataclass(frozen=True)
class Got:
    """A consumed record, normalised from whatever the client returns."""

    partition: int
    offset: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: Tuple[Tuple[str, bytes], ...]
    timestamp: int
    create_time: bool  # timestamp type is CreateTime


def base_timestamp() -> int:
    """A whole-second timestamp one hour in the past (inside any retention)."""
    return (int(time.time()) - 3600) * 1000


def make_records(tag: str, n: int = N_RECORDS, base_ts: Optional[int] = None) -> List[Rec]:
    base_ts = base_timestamp() if base_ts is None else base_ts
    recs = []
    for i in range(n):
        headers: Tuple[Tuple[str, bytes], ...] = (("idx", str(i).encode()),)
        if i % 2 == 0:
            headers += (("origin", f"{tag}/even".encode()),)
        recs.append(
            Rec(
                index=i,
                key=f"key-{i % N_KEYS}".encode(),
                value=f"{tag}|value-{i}|{_FILLER[: i % 64]}".encode(),
                headers=headers,
                timestamp=base_ts + i,
            )
        )
    return recs


def index_of(value: bytes) -> int:
    return int(value.split(b"|")[1][len(b"value-"):])


def check_consumed(
    sent: Sequence[Rec],
    got: Sequence[Got],
    n_partitions: int = N_PARTITIONS,
    acked: Optional[Dict[int, Tuple[int, int]]] = None,
) -> Dict[int, List[Tuple[int, int]]]:
    """Asserts that ``got`` (in consumption order) is exactly ``sent``.

    Checks content (key, value, headers), CreateTime timestamps, contiguous
    per-partition offsets 0..n-1, per-key order and a single partition per key,
    and, if given, that the offsets the producer was acknowledged with
    (index -> (partition, offset)) are the ones the records are read at.

    Returns {partition: [(offset, timestamp), ...]} sorted by offset.
    """
    by_index: Dict[int, Got] = {}
    for g in got:
        assert g.value is not None, f"record with null value at p{g.partition}@{g.offset}"
        i = index_of(g.value)
        assert i not in by_index, (
            f"record {i} consumed twice: p{by_index[i].partition}@{by_index[i].offset} "
            f"and p{g.partition}@{g.offset}"
        )
        by_index[i] = g
    missing = sorted(set(range(len(sent))) - set(by_index))
    assert not missing, f"{len(missing)} records never consumed, first: {missing[:10]}"
    assert len(got) == len(sent), f"consumed {len(got)} records, produced {len(sent)}"

    for r in sent:
        g = by_index[r.index]
        where = f"record {r.index} (p{g.partition}@{g.offset})"
        assert g.key == r.key, f"{where}: key {g.key!r} != {r.key!r}"
        assert g.value == r.value, f"{where}: value {g.value!r} != {r.value!r}"
        assert tuple(g.headers) == r.headers, f"{where}: headers {g.headers!r} != {r.headers!r}"
        assert g.timestamp == r.timestamp, f"{where}: timestamp {g.timestamp} != {r.timestamp}"
        assert g.create_time, f"{where}: timestamp type is not CreateTime"
        if acked is not None:
            assert acked[r.index] == (g.partition, g.offset), (
                f"{where}: producer was acknowledged with p{acked[r.index][0]}@{acked[r.index][1]}"
            )

    per_partition: Dict[int, List[Got]] = defaultdict(list)
    for g in got:
        assert 0 <= g.partition < n_partitions, f"record in unexpected partition {g.partition}"
        per_partition[g.partition].append(g)
    for p, gs in per_partition.items():
        offsets = [g.offset for g in gs]
        assert offsets == list(range(len(gs))), (
            f"partition {p}: offsets not contiguous from 0 in consumption order: "
            f"{_first_gap(offsets)}"
        )

    key_partition: Dict[bytes, int] = {}
    key_indices: Dict[bytes, List[int]] = defaultdict(list)
    for p in sorted(per_partition):
        for g in per_partition[p]:
            assert g.key is not None
            prev = key_partition.setdefault(g.key, p)
            assert prev == p, f"key {g.key!r} found in partitions {prev} and {p}"
            key_indices[g.key].append(index_of(g.value))
    for key, indices in key_indices.items():
        assert indices == sorted(indices), f"key {key!r}: per-key order broken: {indices[:20]}"

    return {
        p: [(g.offset, g.timestamp) for g in gs] for p, gs in sorted(per_partition.items())
    }


def _first_gap(offsets: List[int]) -> str:
    for expected, actual in enumerate(offsets):
        if expected != actual:
            return f"position {expected} has offset {actual} (neighbours {offsets[max(0, expected - 3):expected + 3]})"
    return f"{len(offsets)} offsets"


def time_queries(base_ts: int, n: int = N_RECORDS) -> List[int]:
    """Timestamps to look up: before all records, exact hits, in the middle, after all."""
    return [
        base_ts - 60_000,
        base_ts,
        base_ts + 1,
        base_ts + n // 3,
        base_ts + n // 2 + 7,
        base_ts + n - 2,
        base_ts + n - 1,
        base_ts + n + 60_000,
    ]


def expected_offset_for_time(entries: Iterable[Tuple[int, int]], ts: int) -> Optional[int]:
    """Offset of the first record whose timestamp is >= ts, None if there is none."""
    for offset, t in entries:
        if t >= ts:
            return offset
    return None


def wait_until(pred, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
