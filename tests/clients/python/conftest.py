"""Shared fixtures for the real-client compatibility suite.

Every test gets its own kavka broker: a free port (bound to port 0 and
released), a temporary data directory, stdout+stderr of the broker captured
into a log file that is attached to the pytest report when the test fails.

The broker binary comes from $KAVKA_BIN (scripts/test sets it); when unset,
<repo>/target/debug/kavka is used. A missing binary is an error, not a skip.
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import tempfile
import time
from typing import Dict, Iterator, List, Optional

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 20.0
LOG_TAIL_BYTES = 64 * 1024


def kavka_bin() -> str:
    path = os.environ.get("KAVKA_BIN") or str(REPO_ROOT / "target" / "debug" / "kavka")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail(
            f"kavka binary not found at {path!r}: run `cargo build --bin kavka` "
            "or set KAVKA_BIN",
            pytrace=False,
        )
    return path


READY_MARK = "kavka is ready listener="
HTTP_MARK = "serving /metrics, /health and /ready http="


def port_accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Broker:
    """One kavka server process bound to 127.0.0.1:<port> with its own data dir.

    The process can be stopped (SIGTERM), killed (SIGKILL) and started again on
    the same port and data directory; every start appends to the same log file.
    """

    def __init__(self, binary: str, workdir: pathlib.Path, overrides: Dict[str, str]):
        self.binary = binary
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "broker.log"
        # 0 until the first start: the broker binds a port the OS picks (no race between
        # parallel test runs) and names it in its ready line; restarts reuse it.
        self.port = 0
        self.overrides = dict(overrides)
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0
        # True while the process is down because the test stopped/killed it.
        self.stopped_on_purpose = False

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> List[str]:
        props = {
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.data_dir),
            "num.partitions": "1",
            # /metrics, /health and /ready on a port the OS picks (see `http`).
            "kavka.http.listener": "127.0.0.1:0",
        }
        props.update(self.overrides)
        cmd = [self.binary, "server"]
        for k, v in props.items():
            cmd += ["--override", f"{k}={v}"]
        return cmd

    def start(self) -> "Broker":
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.starts += 1
        self.stopped_on_purpose = False
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        log.write(f"\n===== kavka start #{self.starts}: {' '.join(self.command())}\n".encode())
        log.flush()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        # The ready line is logged at INFO.
        env["RUST_LOG"] = os.environ.get("KAVKA_TEST_LOG", "info")
        self.proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(self.workdir),
            env=env,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self.stopped_on_purpose = True  # reported here, not again at teardown
                raise RuntimeError(
                    f"kavka exited with status {code} during startup\n{self.log_tail()}"
                )
            with open(self.log_path, "rb") as f:
                f.seek(log_offset)
                text = f.read().decode("utf-8", "replace")
            at = text.find(READY_MARK)
            if at >= 0:
                addr = text[at + len(READY_MARK):].split()[0]
                self.port = int(addr.rsplit(":", 1)[1])
                if port_accepts(self.port):
                    return self
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(
            f"kavka did not accept connections on {self.bootstrap} within "
            f"{READY_TIMEOUT_S:.0f}s\n{self.log_tail()}"
        )

    @property
    def http(self) -> str:
        """`host:port` of this broker's HTTP listener (from its log, last start)."""
        text = self.log_path.read_text("utf-8", "replace")
        at = text.rfind(HTTP_MARK)
        assert at >= 0, f"no HTTP listener in the log\n{self.log_tail()}"
        return text[at + len(HTTP_MARK):].split()[0]

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM and wait for a clean exit; returns the exit status."""
        assert self.proc is not None
        self.stopped_on_purpose = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(
                    f"kavka did not exit within {timeout}s of SIGTERM\n{self.log_tail()}"
                )
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL (crash) and reap."""
        self.stopped_on_purpose = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> "Broker":
        self.stop()
        return self.start()

    def log_tail(self, limit: int = LOG_TAIL_BYTES) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - limit))
                data = f.read()
        except OSError as e:
            return f"<no broker log: {e}>"
        prefix = f"<... {size - limit} bytes cut ...>\n" if size > limit else ""
        return prefix + data.decode("utf-8", "replace")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Attach the broker log(s) of a failed test to its report."""
    rep = yield
    if rep.failed:
        for i, b in enumerate(getattr(item, "_kavka_brokers", [])):
            rep.sections.append(
                (f"kavka broker #{i} log ({b.bootstrap}, {b.log_path})", b.log_tail())
            )
    return rep


@pytest.fixture
def broker_factory(request, tmp_path_factory) -> Iterator:
    """Returns make(overrides=None, start=True) -> Broker.

    Teardown fails the test if a broker died without being told to (a crash
    or panic mid-test), then stops every broker (SIGTERM, SIGKILL after 10 s), the
    last made first (a cluster's brokers before its controllers, as operators do).
    Data directories stay under pytest's basetemp for post-mortems.
    """
    binary = kavka_bin()
    brokers: List[Broker] = []
    request.node._kavka_brokers = brokers

    def make(overrides: Optional[Dict[str, str]] = None, start: bool = True) -> Broker:
        workdir = pathlib.Path(
            tempfile.mkdtemp(prefix="kavka-", dir=tmp_path_factory.getbasetemp())
        )
        b = Broker(binary, workdir, {k: str(v) for k, v in (overrides or {}).items()})
        brokers.append(b)
        if start:
            b.start()
        return b

    yield make
    died = [
        (b, b.proc.returncode)
        for b in brokers
        if b.proc is not None and not b.stopped_on_purpose and b.proc.poll() is not None
    ]
    for b in reversed(brokers):
        if b.running():
            b.proc.send_signal(signal.SIGTERM)
            try:
                b.proc.wait(10)
            except subprocess.TimeoutExpired:
                b.kill()
    if died:
        b, code = died[0]
        raise AssertionError(
            f"kavka broker {b.bootstrap} died during the test (exit status {code})\n"
            f"{b.log_tail()}"
        )


@pytest.fixture
def broker(broker_factory) -> Broker:
    """A default broker (auto topic creation on, num.partitions=1)."""
    return broker_factory()


@pytest.fixture
def bootstrap(broker) -> str:
    return broker.bootstrap


# Consumer group tests: no 3 s initial rebalance delay, and a small
# __consumer_offsets so that the coordinator is ready quickly.
GROUP_OVERRIDES = {
    "group.initial.rebalance.delay.ms": "100",
    "offsets.topic.num.partitions": "5",
}


@pytest.fixture
def group_broker(broker_factory) -> Broker:
    """A broker set up for fast consumer group tests (GROUP_OVERRIDES)."""
    return broker_factory(GROUP_OVERRIDES)
