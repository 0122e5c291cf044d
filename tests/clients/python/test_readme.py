"""The README, followed top to bottom by a newcomer, in one shell.

Every `sh` and `python` block of README.md runs in order in one bash process, in a fresh
directory that is also $HOME: the single broker (`cargo run --release --bin kavka -- server`),
the quick start, the Kafka shims, the Python example, then the local cluster and its commands.
Only what cannot run here is changed, and only in the glue, not in the blocks:

- `cargo run --release --bin kavka -- ARGS` runs the binary under test (a `cargo` on PATH that
  does only that), so the first build is not repeated, and `kavka` on PATH is that binary;
- the ports: the README's 9092-9094, 19092-19094 and the HTTP ports 9644-9646 become free ports
  (tests never touch 9092 or 9644);
- the commands that run until Ctrl-C (the server, the dev cluster) start in the background and
  are waited for, and the server is stopped before the cluster starts, as the README says;
- `scripts/test` (this suite's own command) is not run;
- `python` is the suite's venv, where confluent-kafka is installed.
"""

from __future__ import annotations

import os
import pathlib
import re
import socket
import subprocess
import sys
from typing import List, Tuple

from conftest import REPO_ROOT, kavka_bin

TIMEOUT_S = 420
LONG_RUNNING = re.compile(r"^cargo run --release --bin kavka -- (server|dev-cluster)\b")


def blocks() -> List[Tuple[str, str]]:
    """(language, text) of the README's sh and python blocks, in order."""
    text = (REPO_ROOT / "README.md").read_text()
    found = re.findall(r"^```(\w+)\n(.*?)^```", text, re.S | re.M)
    return [(lang, body) for lang, body in found if lang in ("sh", "python")]


def free_base(count: int) -> int:
    """A port P with P..P+count-1 all free."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count >= 65535:
            continue
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free port range")


def script(client: int, controller: int, http: int) -> str:
    """The README's blocks as one bash script, with the glue described above."""
    ports = {9092 + i: client + i for i in range(3)}
    ports.update({19092 + i: controller + i for i in range(3)})
    ports.update({9644 + i: http + i for i in range(3)})

    def remap(text: str) -> str:
        return re.sub(r"\b(1?909[2-4]|964[4-6])\b", lambda m: str(ports[int(m.group(1))]), text)

    out = [
        "set -euo pipefail",
        "shopt -s expand_aliases",
        "wait_port() {",
        "  for _ in $(seq 1 600); do",
        "    (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0",
        "    sleep 0.1",
        "  done",
        "  echo \"README walkthrough: port $1 never opened\" >&2; return 1",
        "}",
        # Whatever fails, the server and the cluster started in the background are stopped.
        "cleanup() {",
        "  for p in ${SERVER:-} ${CLUSTER:-}; do kill -INT \"$p\" 2>/dev/null || true; done",
        "  wait || true",
        "}",
        "trap cleanup EXIT",
    ]
    for n, (lang, body) in enumerate(blocks()):
        out.append(f"echo '### README block {n} ({lang})'")
        if lang == "python":
            out.append("python - <<'README_PYTHON'")
            out.append(remap(body).rstrip("\n"))
            out.append("README_PYTHON")
            continue
        if body.strip() == "scripts/test":
            continue
        for line in remap(body).splitlines():
            m = LONG_RUNNING.match(line)
            if m and m.group(1) == "server":
                out.append(f"{line.split('#')[0].strip()} >server.log 2>&1 &")
                out.append("SERVER=$!")
                out.append(f"wait_port {client}")
            elif m:
                out.append("kill -INT $SERVER; wait $SERVER; SERVER=")
                out.append(f"{line.split('#')[0].strip()} >cluster.log 2>&1 &")
                out.append("CLUSTER=$!")
                out.append("until grep -q '^bootstrap servers:' cluster.log; do sleep 0.1; done")
                out.extend(f"wait_port {client + i}" for i in range(3))
            else:
                out.append(line)
    out.append("kill -INT $CLUSTER; wait $CLUSTER; CLUSTER=")
    return "\n".join(out) + "\n"


def fake_cargo(bin_dir: pathlib.Path, client: int, controller: int, http: int) -> None:
    cargo = bin_dir / "cargo"
    cargo.write_text(f"""#!/usr/bin/env bash
# The README's `cargo run --release --bin kavka -- ARGS`, on the binary under test and free ports.
if [ "${{1:-}} ${{2:-}} ${{3:-}} ${{4:-}} ${{5:-}}" != "run --release --bin kavka --" ]; then
    echo "README walkthrough: unexpected cargo $*" >&2; exit 2
fi
shift 5
case "${{1:-}}" in
    server) exec {kavka_bin()} "$@" --override listeners=PLAINTEXT://127.0.0.1:{client} --override kavka.http.listener=127.0.0.1:{http} ;;
    dev-cluster) exec {kavka_bin()} "$@" --base-port {client} --controller-base-port {controller} --http-base-port {http} ;;
    *) exec {kavka_bin()} "$@" ;;
esac
""")
    cargo.chmod(0o755)


def test_every_readme_example_runs_in_order_in_one_shell(tmp_path):
    client = free_base(3)
    controller = free_base(3)
    while abs(controller - client) < 3:
        controller = free_base(3)
    http = free_base(3)
    while min(abs(http - client), abs(http - controller)) < 3:
        http = free_base(3)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_cargo(bin_dir, client, controller, http)
    # `kavka` on PATH is the binary under test too (not one a `cargo install` left earlier).
    (bin_dir / "kavka").symlink_to(kavka_bin())
    work = tmp_path / "newcomer"
    work.mkdir()
    text = script(client, controller, http)
    (tmp_path / "walkthrough.sh").write_text(text)
    env = dict(os.environ)
    env["HOME"] = str(work)
    env["PATH"] = f"{bin_dir}:{pathlib.Path(sys.executable).parent}:{env['PATH']}"
    proc = subprocess.run(["bash", str(tmp_path / "walkthrough.sh")], cwd=work, env=env,
                          capture_output=True, timeout=TIMEOUT_S)
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    logs = ""
    for name in ("server.log", "cluster.log"):
        path = work / name
        if path.exists():
            logs += f"\n--- {name} (tail)\n" + path.read_text(errors="replace")[-4000:]
    report = f"script:\n{text}\nstdout:\n{out[-8000:]}\nstderr:\n{err[-8000:]}{logs}"
    assert proc.returncode == 0, report
    # What a newcomer reads at each step.
    assert "Created topic quickstart." in out, report
    assert "Processed a total of 3 messages" in err + out, report
    assert "Created topic events." in out, report
    assert "100000 records sent" in out, report
    python_lines = [l for l in out.splitlines() if re.fullmatch(r"\d \d+ b'user\d' b'event \d'", l)]
    assert len(python_lines) == 10, report
    assert re.search(r"Topic: safe\s.*ReplicationFactor: 3", out), report
    assert re.search(r"Partition: 0\s+Leader: \d\s+Replicas: [123],[123],[123]\s+Isr: [123],[123],[123]", out), report
