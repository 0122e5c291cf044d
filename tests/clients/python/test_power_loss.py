"""Power loss, not just kill -9: the broker's data directory sits on an ext4 filesystem on a
disk that forgets every write not flushed (lazydisk.py: FUSE + a loop device). A power cut
freezes the broker (SIGSTOP, so it acknowledges nothing more), drops every unflushed write,
kills the broker, unmounts (the page cache's dirty pages go nowhere) and mounts again (ext4
replays its journal), then restarts the broker. With `log.flush.interval.messages=1` an
acknowledged record has been fsynced, so it must survive every cut; the kill -9 tests
(test_idempotence.py, test_transactions.py, whose checks run here again) cannot tell, since
there the page cache survives the kill.

Needs root, /dev/fuse and loop devices (this project's test machines have them); elsewhere
the tests are skipped with that reason. KAVKA_POWER_CUTS sets the number of cuts (default 3).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from test_idempotence import idempotent_writes_survive
from test_transactions import transactions_survive

HERE = pathlib.Path(__file__).resolve().parent


def _missing() -> str:
    if os.geteuid() != 0:
        return "needs root (mount, losetup)"
    if not os.path.exists("/dev/fuse"):
        return "needs /dev/fuse"
    for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return ""


pytestmark = pytest.mark.skipif(bool(_missing()), reason=_missing() or "runs")


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def wait_stopped(pid: int, timeout_s: float = 10.0) -> None:
    """Waits until every thread of `pid` is in the stopped state."""
    deadline = time.monotonic() + timeout_s
    while True:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{task}/stat") as f:
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
            except FileNotFoundError:
                pass  # the thread ended
        if states and all(s in ("T", "t") for s in states):
            return
        assert time.monotonic() < deadline, f"broker threads not stopped: {states}"
        time.sleep(0.001)


class PowerLossDisk:
    """An ext4 filesystem at `target` on a lazydisk image; `cut()` is a power cut."""

    def __init__(self, workdir: pathlib.Path, target: pathlib.Path, size_mib: int = 384):
        self.workdir = workdir
        self.target = target
        self.image = workdir / "disk.backing"
        self.fuse_dir = workdir / "lazydisk"
        self.fuse_dir.mkdir()
        with open(self.image, "wb") as f:
            f.truncate(size_mib << 20)
        # No lazy initialisation: it would write behind the tests' back after mounting.
        run("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(self.image))
        self.log = open(workdir / "lazydisk.log", "wb")
        self.daemon = subprocess.Popen(
            [sys.executable, str(HERE / "lazydisk.py"), str(self.image), str(self.fuse_dir)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 10
        while not os.path.exists(self.fuse_dir / "disk.img"):
            assert self.daemon.poll() is None, "lazydisk exited"
            assert time.monotonic() < deadline, "lazydisk did not come up"
            time.sleep(0.05)
        self.device = ""
        self.attach()

    def attach(self) -> None:
        self.device = run("losetup", "--find", "--show", str(self.fuse_dir / "disk.img"))
        self.target.mkdir(parents=True, exist_ok=True)
        run("mount", "-t", "ext4", self.device, str(self.target))

    def detach(self) -> None:
        for attempt in range(50):
            r = subprocess.run(["umount", str(self.target)], capture_output=True, text=True)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"umount {self.target}: {r.stderr.strip()}")
        run("losetup", "-d", self.device)

    def cut(self, broker) -> None:
        """Power cut under `broker` (left down; `power_back` restarts the disk).

        The broker must run no instruction after the disk has died, or it could acknowledge a
        write the dead disk pretended to flush. SIGSTOP alone does not ensure that: the stop
        reaches a multi-threaded process through whichever thread takes the signal first, and
        on a busy machine the others run on for milliseconds (a thread finishing an fdatasync
        then sends its answer). So the cut waits until every thread is stopped; a thread still
        inside an fdatasync completes it against the live disk first, and stops before it can
        answer."""
        broker.proc.send_signal(signal.SIGSTOP)
        wait_stopped(broker.proc.pid)
        self.daemon.send_signal(signal.SIGUSR1)
        time.sleep(0.05)  # let the daemon take the signal before anything else is written
        broker.kill()
        self.detach()

    def power_back(self) -> None:
        self.daemon.send_signal(signal.SIGUSR2)
        time.sleep(0.05)
        self.attach()

    def close(self) -> None:
        if self.device:
            subprocess.run(["umount", str(self.target)], capture_output=True)
            subprocess.run(["losetup", "-d", self.device], capture_output=True)
        subprocess.run(["umount", str(self.fuse_dir)], capture_output=True)
        try:
            self.daemon.wait(10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
        self.log.close()


def stop_on_disks(nodes, disks) -> None:
    """Stops the brokers still running (a cluster's, before its disks go), then unmounts
    every power-loss disk."""
    for b in nodes:
        if b.running():
            b.stop()
    for d in disks:
        d.close()


def test_acknowledged_idempotent_writes_survive_power_cuts(broker_factory):
    b = broker_factory({"log.flush.interval.messages": "1"}, start=False)
    disk = PowerLossDisk(b.workdir, b.data_dir)
    try:
        b.start()
        cuts = int(os.environ.get("KAVKA_POWER_CUTS", "3"))

        def down():
            disk.cut(b)

        def up():
            disk.power_back()
            b.start()

        idempotent_writes_survive(b, "power-loss", cuts, down=down, up=up)
    finally:
        if b.running():
            b.stop()
        disk.close()
    # The cuts really happened: the disk says so (and what it threw away).
    stats = (b.workdir / "lazydisk.log").read_text().strip().splitlines()[-1]
    print(stats)
    assert f"'cuts': {cuts}" in stats, stats


def test_transactions_survive_a_power_cut(broker_factory):
    """test_transactions.py's crash check with a power cut: committed transactions whole, the
    one left open aborted after the restart (its state and the LSO come back from the log)."""
    b = broker_factory({"log.flush.interval.messages": "1"}, start=False)
    disk = PowerLossDisk(b.workdir, b.data_dir)
    try:
        b.start()

        def up():
            disk.power_back()
            b.start()

        transactions_survive(b, down=lambda: disk.cut(b), up=up)
    finally:
        if b.running():
            b.stop()
        disk.close()
    stats = (b.workdir / "lazydisk.log").read_text().strip().splitlines()[-1]
    assert "'cuts': 1" in stats, stats
