"""Crash paths: every failure must be a clean `error:` line and exit 1, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import Cli, Repo


def _clean_failure(result_code: int, stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert result_code == 1
    assert stderr.startswith("error:"), stderr


def test_plan_out_into_missing_directory(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    result = cli(
        "plan",
        "--env",
        "dev",
        "--out",
        str(tmp_path / "no" / "plan.json"),
        repo=repo.path,
        expect=None,
    )
    _clean_failure(result.code, result.stderr)


@pytest.mark.parametrize("kind", ["directory", "json-list"])
def test_unreadable_plan_file(cli: Cli, repo: Repo, tmp_path: Path, kind: str) -> None:
    plan = tmp_path / "plan.json"
    if kind == "directory":
        plan.mkdir()
    else:
        plan.write_text("[]")
    result = cli("apply", "--env", "dev", str(plan), repo=repo.path, expect=None)
    _clean_failure(result.code, result.stderr)
    assert not cli.state.exists()


def test_init_on_a_file(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x\n")
    result = cli("init", str(target), expect=None)
    _clean_failure(result.code, result.stderr)


def test_audit_verify_reports_tampered_detail(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    with sqlite3.connect(cli.state) as db:
        db.execute("UPDATE audit SET detail='{' WHERE seq=2")
    result = cli("audit", "verify", expect=None)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.code == 1
    assert "TAMPERED" in result.stderr
