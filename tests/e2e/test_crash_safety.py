"""SIGKILL during an apply of 1,000+ files: nothing half-written; the next run converges."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import GITCOPS, Cli, Repo, dir_doc, file_doc

N_FILES = 1200
KILLS = 6


def _docs(version: int) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = [dir_doc(f"d{d}", f"d{d}") for d in range(12)]
    for i in range(N_FILES):
        body = f"v{version} file {i:05d} " + ("x" * 180) + "\n"
        docs.append(file_doc(f"f{i:05d}", f"d{i % 12}/f{i:05d}.txt", body, mode="0644"))
    return docs


def _expected(version: int) -> dict[str, str]:
    return {
        f"d{i % 12}/f{i:05d}.txt": f"v{version} file {i:05d} " + ("x" * 180) + "\n"
        for i in range(N_FILES)
    }


def _assert_no_torn_files(root: Path, versions: list[int]) -> None:
    allowed = [_expected(v) for v in versions]
    for rel in allowed[0]:
        path = root / rel
        if not path.exists():
            continue
        content = path.read_text()
        assert any(content == a[rel] for a in allowed), f"{rel} is torn: {content[:40]!r}"


@pytest.mark.slow
def test_sigkill_during_apply_converges(cli: Cli, repo: Repo) -> None:
    rng = random.Random(20261126)
    argv = [
        GITCOPS,
        "apply",
        "--env",
        "dev",
        "--yes",
        "--repo",
        str(repo.path),
        "--state",
        str(cli.state),
        "--lock-timeout",
        "10",
    ]
    versions_seen = [0]
    for attempt in range(KILLS):
        version = attempt % 2 + 1  # alternate so files are rewritten, not only created
        repo.set_resources(_docs(version), f"version {version}")
        versions_seen.append(version)
        proc = subprocess.Popen(
            argv, env=cli.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        time.sleep(rng.uniform(0.4, 1.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _assert_no_torn_files(repo.root, [v for v in set(versions_seen) if v])
        if cli.state.exists():
            with sqlite3.connect(cli.state) as db:
                assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    final = versions_seen[-1]
    result = cli("apply", "--env", "dev", "--yes", "-o", "json", repo=repo.path)
    assert json.loads(result.stdout)["succeeded"] is True
    for rel, content in _expected(final).items():
        assert (repo.root / rel).read_text() == content
    assert not list(repo.root.rglob(".gitcops-tmp-*")), "temp files left behind"
    cli("plan", "--env", "dev", "--detailed-exitcode", repo=repo.path, expect=0)
    cli("drift", "--env", "dev", repo=repo.path, expect=0)
    with sqlite3.connect(cli.state) as db:
        rows = db.execute("SELECT id, spec, status FROM inventory").fetchall()
        assert len(rows) == N_FILES + 12
        assert {r[2] for r in rows} == {"applied"}
        for _, spec, _ in rows:
            data = json.loads(spec)
            if "content" in data:
                assert (repo.root / data["path"]).read_text() == data["content"]
        statuses = [r[0] for r in db.execute("SELECT status FROM runs ORDER BY id")]
    assert statuses[-1] == "succeeded"
    assert "running" not in statuses, "killed runs are marked interrupted"
    cli("audit", "verify", "--state", str(cli.state))
