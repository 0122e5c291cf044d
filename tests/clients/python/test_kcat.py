"""kcat (Debian's, on librdkafka) against kavka with kcat's defaults.

Metadata with -L (text and -J), produce with -P (keys with -K, headers with -H, a partition
with -p), consume with -C (from the start, from an absolute offset, from the end backwards,
exiting at the end with -e), a balanced consumer group with -G whose offsets land in the group,
and librdkafka options with -X (zstd compression, seen in the stored batches by dump-log).
scripts/test installs kcat from apt; a missing kcat fails these tests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import List

import pytest

from conftest import kavka_bin

TIMEOUT_S = 60


def kcat_bin() -> str:
    path = shutil.which("kcat")
    if path is None:
        pytest.fail("kcat is not installed (scripts/test installs it with apt)", pytrace=False)
    return path


def run(cmd: List[str], stdin: str = "") -> str:
    proc = subprocess.run(cmd, input=stdin.encode(), capture_output=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n"
        f"stdout:\n{proc.stdout.decode(errors='replace')}\n"
        f"stderr:\n{proc.stderr.decode(errors='replace')}"
    )
    return proc.stdout.decode()


def kcat(bootstrap: str, *args: str, stdin: str = "") -> str:
    return run([kcat_bin(), "-b", bootstrap, *args], stdin)


def kavka(*args: str) -> str:
    return run([kavka_bin(), *args])


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    kavka("topics", "--bootstrap-server", bootstrap, "--create", "--topic", topic,
          "--partitions", str(partitions))


def test_metadata_lists_the_broker_topics_and_partitions(broker, bootstrap):
    create_topic(bootstrap, "kc-meta", 3)
    text = kcat(bootstrap, "-L")
    assert f"Metadata for all topics (from broker 1: 127.0.0.1:{broker.port}/1):" in text, text
    assert f"broker 1 at 127.0.0.1:{broker.port} (controller)" in text, text
    assert 'topic "kc-meta" with 3 partitions:' in text, text
    assert "partition 2, leader 1, replicas: 1, isrs: 1" in text, text
    meta = json.loads(kcat(bootstrap, "-L", "-J", "-t", "kc-meta"))
    assert meta["brokers"] == [{"id": 1, "name": f"127.0.0.1:{broker.port}"}], meta
    (topic,) = meta["topics"]
    assert topic["topic"] == "kc-meta"
    assert [p["partition"] for p in topic["partitions"]] == [0, 1, 2]
    assert all(p["leader"] == 1 and p["isrs"] == [{"id": 1}] for p in topic["partitions"])


def test_produce_with_keys_and_headers_then_consume_from_offsets(bootstrap):
    create_topic(bootstrap, "kc-data", 2)
    lines = "".join(f"user{i}:event {i}\n" for i in range(10))
    kcat(bootstrap, "-P", "-t", "kc-data", "-p", "1", "-K", ":", "-H", "source=kcat",
         "-H", "n=1", stdin=lines)
    fmt = "%p|%o|%k|%s|%h\n"
    out = kcat(bootstrap, "-C", "-t", "kc-data", "-p", "1", "-o", "beginning", "-e", "-f", fmt)
    rows = [l.split("|") for l in out.splitlines()]
    assert [r[1] for r in rows] == [str(i) for i in range(10)], out
    assert all(r[0] == "1" for r in rows)
    assert rows[3][2:] == ["user3", "event 3", "source=kcat,n=1"], rows[3]
    # From an absolute offset, and from the end backwards.
    out = kcat(bootstrap, "-C", "-t", "kc-data", "-p", "1", "-o", "7", "-e", "-f", "%o:%s\n")
    assert out == "7:event 7\n8:event 8\n9:event 9\n", out
    out = kcat(bootstrap, "-C", "-t", "kc-data", "-p", "1", "-o", "-2", "-e", "-f", "%o\n")
    assert out == "8\n9\n", out
    # Partition 0 got nothing: consuming it from the start ends at once with nothing.
    out = kcat(bootstrap, "-C", "-t", "kc-data", "-p", "0", "-o", "beginning", "-e")
    assert out == "", out


def test_a_balanced_group_consumes_everything_and_commits(bootstrap):
    create_topic(bootstrap, "kc-group", 3)
    kcat(bootstrap, "-P", "-t", "kc-group", "-K", ":",
         stdin="".join(f"k{i}:v{i}\n" for i in range(30)))
    out = kcat(bootstrap, "-G", "kc-readers", "-X", "auto.offset.reset=earliest", "-e",
               "-f", "%s\n", "kc-group")
    assert sorted(out.split()) == sorted(f"v{i}" for i in range(30)), out
    described = kavka("consumer-groups", "--bootstrap-server", bootstrap, "--describe",
                      "--group", "kc-readers")
    rows = [l.split() for l in described.splitlines() if l.startswith("kc-readers ")]
    assert len(rows) == 3, described
    # GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG ...: committed at the end.
    assert sum(int(r[3]) for r in rows) == 30, described
    assert all(r[3] == r[4] and r[5] == "0" for r in rows), described


def test_librdkafka_options_reach_the_client(broker, bootstrap):
    create_topic(bootstrap, "kc-zstd", 1)
    kcat(bootstrap, "-P", "-t", "kc-zstd", "-X", "compression.codec=zstd",
         "-X", "linger.ms=50", stdin="".join(f"compressed {i}\n" for i in range(100)))
    out = kcat(bootstrap, "-C", "-t", "kc-zstd", "-o", "beginning", "-e", "-f", "%s\n")
    assert out.splitlines() == [f"compressed {i}" for i in range(100)]
    dump = kavka("dump-log", "--files",
                 str(broker.data_dir / "kc-zstd-0" / "00000000000000000000.log"))
    assert "compresscodec: zstd" in dump, dump
