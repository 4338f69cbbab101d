"""Commit-to-applied latency through the agent's webhook, and the idle agent's footprint.

    .venv/bin/python bench/agent_latency.py [--sizes 1000,10000] [--pushes 20]
    .venv/bin/python bench/agent_latency.py --idle 600 --sizes 10000   # CPU and RSS, idle

Latency: compare.py's workload (N files of 200 bytes under N/100 directories) is pushed to a bare
repository served over HTTP on loopback (git http-backend, as a forge serves it), and a real
`gitcops agent` follows it (interval one hour: only webhooks move it). Each push changes one
file; the clock starts when the signed GitHub push webhook is sent and stops when the new
content is on disk. Targets (issue 12): p95 < 1 s at 1,000 and < 2 s at 10,000.

Idle: the agent at N files with a 60 s interval, doing nothing but its periodic reconciles, for
`--idle` seconds: its CPU time (user + system, from /proc) and resident memory over the run.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from compare import REPO_ROOT, GitcopsTool, file_content

sys.path.insert(0, str(REPO_ROOT / "tests" / "e2e"))
from git_http import GitHttpServer, bare_copy

SECRET = "bench-webhook-secret"
GITCOPS = REPO_ROOT / ".venv" / "bin" / "gitcops"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.005)
    raise SystemExit(f"timed out waiting for {what}")


class Setup:
    def __init__(self, root: Path, n: int, interval: float) -> None:
        self.tool = GitcopsTool(root / "work", n, GITCOPS)
        (root / "work").mkdir()
        self.tool.prepare()
        forge = root / "forge"
        forge.mkdir()
        bare_copy(self.tool.repo, forge, "bench.git")
        self.server = GitHttpServer(forge).start()
        self.url = self.server.url("bench.git")
        self.port = _free_port()
        secret_file = root / "secret"
        secret_file.write_text(SECRET)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GITCOPS_")}
        env.update(GITCOPS_CACHE_DIR=str(root / "cache"), GITCOPS_ACTOR="bench")
        argv = [
            str(GITCOPS), "agent", "--repo", self.url, "--branch", "main", "--env", "bench",
            "--state", str(root / "state" / "state.db"), "--interval", str(interval),
            "--listen", f"127.0.0.1:{self.port}", "--webhook-secret-file", str(secret_file),
            "--log-format", "json",
        ]  # fmt: skip
        self.log = (root / "agent.log").open("w")
        self.process = subprocess.Popen(argv, env=env, stdout=self.log, stderr=self.log)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        last = self.tool.target / "d000" / "f00001.txt"
        _wait(lambda: last.read_text() == file_content(1, 0), 600, "the first converge")

    def push(self, generation: int) -> str:
        self.tool.change_one(generation)
        # Into the forge's repository directly, as the forge itself would store a push.
        subprocess.run(
            ["git", "-C", str(self.tool.repo), "push", "--quiet", "origin", "main"], check=True
        )
        return subprocess.run(
            ["git", "-C", str(self.tool.repo), "rev-parse", "HEAD"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip

    def webhook(self, commit: str) -> None:
        body = json.dumps({"ref": "refs/heads/main", "after": commit}).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        answer = self.http.post(
            "/hooks/github",
            content=body,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": signature,
                     "Content-Type": "application/json"},
        )  # fmt: skip
        if answer.status_code != 202:
            raise SystemExit(f"webhook answered {answer.status_code}: {answer.text}")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self.http.close()
        self.server.stop()
        self.log.close()


def latency(n: int, pushes: int) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="gitcops-agent-bench-"))
    setup = Setup(root, n, interval=3600)
    target = setup.tool.target / "d000" / "f00001.txt"
    times = []
    try:
        for generation in range(1, pushes + 1):
            commit = setup.push(generation)
            expected = file_content(1, generation)
            started = time.monotonic()
            setup.webhook(commit)
            _wait(lambda e=expected: target.read_text() == e, 120, f"push {generation}")
            times.append(time.monotonic() - started)
            print(f"  N={n:,} push {generation}: {times[-1]:.3f} s", file=sys.stderr)
    finally:
        setup.close()
        shutil.rmtree(root, ignore_errors=True)
    return times


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle(n: int, seconds: float) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="gitcops-agent-idle-"))
    setup = Setup(root, n, interval=60)
    pid = setup.process.pid
    try:
        cpu0, started = _cpu_seconds(pid), time.monotonic()
        rss = []
        while time.monotonic() - started < seconds:
            rss.append(_rss_mb(pid))
            time.sleep(5)
        cpu = _cpu_seconds(pid) - cpu0
        wall = time.monotonic() - started
    finally:
        setup.close()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "seconds": wall,
        "cpu_seconds": cpu,
        "cpu_percent": 100 * cpu / wall,
        "rss_mb_min": min(rss),
        "rss_mb_max": max(rss),
        "rss_mb_last": rss[-1],
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--idle", type=float, default=0, help="measure idle for this long")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.idle:
        for n in sizes:
            figures = idle(n, args.idle)
            print(
                f"idle agent, N={n:,}, interval 60 s, {figures['seconds']:.0f} s: "
                f"CPU {figures['cpu_seconds']:.1f} s ({figures['cpu_percent']:.2f} %), "
                f"RSS {figures['rss_mb_min']:.0f}-{figures['rss_mb_max']:.0f} MB "
                f"(last {figures['rss_mb_last']:.0f} MB)"
            )
        return 0
    targets = {1_000: 1.0, 10_000: 2.0}
    print("| N | pushes | p50 s | p95 s | max s | target p95 |")
    print("|--:|--:|--:|--:|--:|---|")
    for n in sizes:
        times = latency(n, args.pushes)
        p95 = _p95(times)
        target = targets.get(n)
        verdict = "" if target is None else f"< {target:g} s: {'PASS' if p95 < target else 'FAIL'}"
        print(
            f"| {n:,} | {len(times)} | {statistics.median(times):.3f} | {p95:.3f} | "
            f"{max(times):.3f} | {verdict} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
