"""Power loss under the metadata quorum: every node of a three-node cluster keeps its data on
its own disk that forgets unflushed writes (lazydisk.py, see test_power_loss.py). Topics are
created through every node, then the power goes off everywhere at once: every node frozen,
every disk's unflushed writes dropped, every process killed. A metadata change the quorum
acknowledged was fsynced on a majority before the answer, so after the power comes back and
the nodes restart, every acknowledged topic must be on every node, whole.
Kill -9 cannot tell this: the page cache survives it.

Needs root, /dev/fuse and loop devices, as test_power_loss.py; skipped elsewhere with that
reason. KAVKA_POWER_CUTS sets the number of cuts (default 2).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Dict, List

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from test_cluster import bootstrap, make_cluster, wait_formed
from test_power_loss import PowerLossDisk, _missing, stop_on_disks, wait_stopped

pytestmark = pytest.mark.skipif(bool(_missing()), reason=_missing() or "runs")


def topics_of(node) -> Dict[str, int]:
    """Topic -> partition count, as `node` answers Metadata."""
    md = AdminClient({"bootstrap.servers": node.bootstrap}).list_topics(timeout=10)
    return {n: len(t.partitions) for n, t in md.topics.items()}


def create_acked(node, name: str) -> bool:
    """Creates `name` (2 partitions) through `node`; whether the cluster acknowledged it."""
    admin = AdminClient({"bootstrap.servers": node.bootstrap})  # alive until the answer
    futures = admin.create_topics([NewTopic(name, 2)], operation_timeout=10)
    try:
        futures[name].result(timeout=20)
        return True
    except Exception as e:  # retriable while the quorum elects or a node restarts
        print(f"{name} via {node.bootstrap}: {e}")
        return False


def test_acknowledged_metadata_survives_a_cluster_wide_power_cut(broker_factory):
    disks: List[PowerLossDisk] = []
    cuts = int(os.environ.get("KAVKA_POWER_CUTS", "2"))

    def mount(b):
        disks.append(PowerLossDisk(b.workdir, b.data_dir, size_mib=256))

    try:
        nodes = make_cluster(broker_factory, prepare=mount)
        acked: List[str] = []
        for cut in range(cuts):
            for i in range(6):
                name = f"c{cut}-t{i}"
                deadline = time.monotonic() + 30
                while not create_acked(nodes[i % len(nodes)], name):
                    assert time.monotonic() < deadline, f"{name} never acknowledged"
                    time.sleep(0.3)
                acked.append(name)
            # The power goes off everywhere: nothing runs once the disks die.
            for b in nodes:
                b.proc.send_signal(signal.SIGSTOP)
            for b in nodes:
                wait_stopped(b.proc.pid)
            for b, d in zip(nodes, disks):
                d.cut(b)
            for b, d in zip(nodes, disks):
                d.power_back()
            for b in nodes:
                b.start()
            wait_formed(nodes)
            deadline = time.monotonic() + 30
            while True:
                views = [topics_of(b) for b in nodes]
                whole = all(views[0].get(t, 0) == 2 for t in acked)
                if whole and all(v == views[0] for v in views):
                    break
                missing = [t for t in acked if t not in views[0]]
                assert time.monotonic() < deadline, f"after cut {cut}: lost {missing}; views {views}"
                time.sleep(0.2)
    finally:
        stop_on_disks(locals().get("nodes", []), disks)
    # The cuts really happened on every disk (the daemons report at exit).
    for d in disks:
        stats = (d.workdir / "lazydisk.log").read_text().strip().splitlines()[-1]
        print(stats)
        assert f"'cuts': {cuts}" in stats, stats
