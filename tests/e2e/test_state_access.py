"""The state store as the file system and other runs leave it: read-only, or busy."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import GITCOPS, Cli, Repo, file_doc, tree_snapshot

READ_COMMANDS = [
    ("status",),
    ("history",),
    ("drift", "--env", "dev"),
    ("plan", "--env", "dev"),
    ("audit", "verify"),
]


@pytest.fixture
def unprivileged(cli: Cli) -> Iterator[Cli]:
    """The CLI with permission bits applying to it: root ignores them unless it gives up
    CAP_DAC_OVERRIDE (setpriv drops it from the bounding set, so the executable lacks it)."""
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: permission bits do not stop root")
        cli.wrapper = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    yield cli
    cli.wrapper = []


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _applied(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("motd", "etc/motd", "changed\n")])  # the next apply writes


def _refused_then_read(cli: Cli, repo: Repo, why: str = "") -> None:
    before = (_digest(cli.state), tree_snapshot(repo.root))
    refused = cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert refused.stderr == f"error: state {cli.state} is read-only{why}: cannot record the run\n"
    assert (_digest(cli.state), tree_snapshot(repo.root)) == before, "nothing changed"
    for command in READ_COMMANDS:
        cli(*command, repo=repo.path)
    runs = json.loads(cli("history", "-o", "json", repo=repo.path).stdout)["runs"]
    assert [r["status"] for r in runs] == ["succeeded"]
    planned = cli("plan", "--env", "dev", repo=repo.path).stdout
    assert "changed" in planned


def test_a_read_only_state_file(unprivileged: Cli, repo: Repo) -> None:
    cli = unprivileged
    _applied(cli, repo)
    cli.state.chmod(0o444)
    try:
        _refused_then_read(cli, repo)
    finally:
        cli.state.chmod(0o644)
    # SQLite left its journal files behind as read-only as the state was when it read it:
    # a write is refused naming the one in the way, and goes ahead once they are gone.
    left = [p for p in cli.state.parent.glob("state.db-*") if not p.stat().st_mode & 0o200]
    if left:
        result = cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
        assert any(f"is read-only ({p.name} is not writable)" in result.stderr for p in left)
        for path in left:
            path.unlink()
    cli("apply", "--env", "dev", "--yes", repo=repo.path)


def test_a_state_in_a_read_only_directory(unprivileged: Cli, repo: Repo) -> None:
    cli = unprivileged
    _applied(cli, repo)
    cli.state.parent.chmod(0o555)
    try:
        _refused_then_read(cli, repo, " (its directory is not writable)")
    finally:
        cli.state.parent.chmod(0o755)


def test_a_new_state_in_a_read_only_directory(unprivileged: Cli, repo: Repo) -> None:
    cli = unprivileged
    cli.state.parent.mkdir(parents=True)
    cli.state.parent.chmod(0o555)
    try:
        for command in (("apply", "--env", "dev", "--yes"), ("status",)):
            result = cli(*command, repo=repo.path, expect=1)
            assert result.stderr.startswith(f"error: cannot create state {cli.state}: "), (
                result.stderr
            )
        assert not repo.root.exists()
    finally:
        cli.state.parent.chmod(0o755)
    assert list(cli.state.parent.iterdir()) == []


# -- busy -----------------------------------------------------------------------------------

ENVIRONMENTS = [f"e{i}" for i in range(6)]


def _many_environments(repo: Repo, out: Path) -> None:
    lines = ["apiVersion: gitcops.io/v1", "kind: Project", "metadata: {name: shop}", "spec:"]
    lines.append("  environments:")
    for env in ENVIRONMENTS:
        repo.write(f"environments/{env}/kustomization.yaml", "resources:\n  - ../../base\n")
        lines += [
            f"    - name: {env}",
            f"      path: environments/{env}",
            f"      providers: {{local: {{root: {out / env}}}}}",
        ]
    lines += ["  providers:", f"    local: {{root: {out}}}", ""]
    repo.write("gitcops.yaml", "\n".join(lines))
    repo.commit("six environments")


def _start_applies(cli: Cli, repo: Repo) -> list[subprocess.Popen[str]]:
    return [
        subprocess.Popen(
            [
                GITCOPS,
                "apply",
                "--env",
                env,
                "-y",
                "--repo",
                str(repo.path),
                "--state",
                str(cli.state),
            ],
            env=cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for env in ENVIRONMENTS
    ]


def _has_open(pid: int, path: Path) -> bool:
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == str(path) for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:  # it ended meanwhile, or a descriptor closed under us
        return False


def _finish(runs: list[subprocess.Popen[str]]) -> list[str]:
    """What went wrong, for each run that failed."""
    failures = []
    for run in runs:
        _, stderr = run.communicate(timeout=300)
        if run.returncode != 0:
            failures.append(f"{' '.join(run.args[1:4])}: exit {run.returncode}: {stderr}")
    return failures


def test_concurrent_applies_of_different_environments_on_a_new_state(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    """A first apply holds a new state file for a moment while it sets the WAL journal up;
    SQLite answers 'database is locked' at once to anyone else doing the same then, without
    waiting for the busy timeout. Here a connection holds that moment open until every apply
    has reached the state file (or failed), so each one meets it."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to see which runs opened the state")
    _many_environments(repo, tmp_path / "out")
    cli("validate", repo=repo.path)  # warms the render cache: the runs reach the state sooner
    cli.state.parent.mkdir(parents=True)
    holder = sqlite3.connect(cli.state, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    runs = _start_applies(cli, repo)
    reached: set[int] = set()
    try:
        while len(reached) < len(runs):
            reached.update(
                r.pid for r in runs if r.poll() is not None or _has_open(r.pid, cli.state)
            )
            time.sleep(0.005)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert _finish(runs) == []

    # And again, as they come, several times over on the now existing state.
    for _ in range(3):
        assert _finish(_start_applies(cli, repo)) == []
    status = json.loads(cli("status", "-o", "json", repo=repo.path).stdout)
    assert {
        e["environment"]: e["lastRun"]["status"] for e in status["environments"]
    } == dict.fromkeys(ENVIRONMENTS, "succeeded")
    assert (
        len(
            json.loads(cli("history", "--limit", "100", "-o", "json", repo=repo.path).stdout)[
                "runs"
            ]
        )
        == 24
    )
    cli("audit", "verify")
