"""The README's first command: the demo reconciles a generated project end to end."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_script_runs_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITCOPS_", "GIT_"))}
    env.update(GITCOPS_DEMO_SKIP_SETUP="1", TMPDIR=str(tmp_path), HOME=str(tmp_path))
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Apply complete (run 1" in out
    assert "modified: local.gitcops.io/File/motd" in out
    assert "missing: local.gitcops.io/File/index" in out
    assert "1 created, 1 configured" in out
    assert "No drift" in out
    assert "in-sync" in out and "healthy" in out
    assert "hash chain verified" in out
    assert "content: (sensitive value)" in out
    assert "demo-password-" not in done.stdout + done.stderr
