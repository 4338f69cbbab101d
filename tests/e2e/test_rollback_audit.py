"""Rollback to an earlier revision, recorded as such; the audit log detects tampering."""

from __future__ import annotations

import json
import sqlite3

from conftest import Cli, Repo, file_doc


def test_rollback_to_previous_and_named_revision(cli: Cli, repo: Repo) -> None:
    first = repo.set_resources([file_doc("motd", "motd", "v1\n"), file_doc("old", "old.txt")], "v1")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("motd", "motd", "v2\n"), file_doc("new", "new.txt")], "v2")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert (repo.root / "motd").read_text() == "v2\n"

    cli("rollback", "--env", "dev", "--yes", repo=repo.path)
    assert (repo.root / "motd").read_text() == "v1\n"
    assert (repo.root / "old.txt").exists() and not (repo.root / "new.txt").exists()
    runs = json.loads(cli("history", "-o", "json", repo=repo.path).stdout)["runs"]
    assert runs[0]["kind"] == "rollback" and runs[0]["revision"] == first
    status = json.loads(cli("status", "-o", "json", repo=repo.path).stdout)["environments"][0]
    assert status["appliedRevision"] == first and status["inSync"] is False

    cli("rollback", "--env", "dev", "--to", "main", "--yes", repo=repo.path)
    assert (repo.root / "motd").read_text() == "v2\n"


def test_rollback_without_history(cli: Cli, repo: Repo) -> None:
    result = cli("rollback", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert "no earlier successful revision" in result.stderr


def test_audit_chain_detects_tampering(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    verified = cli("audit", "verify", "--state", str(cli.state))
    assert "hash chain verified" in verified.stdout
    log = json.loads(cli("audit", "log", "-o", "json", "--state", str(cli.state)).stdout)
    actions = [e["action"] for e in log["entries"]]
    assert actions == ["run.started", "resource.created", "run.finished"]
    with sqlite3.connect(cli.state) as db:
        db.execute("UPDATE audit SET actor='mallory' WHERE seq=2")
    tampered = cli("audit", "verify", "--state", str(cli.state), expect=1)
    assert "TAMPERED at entry 2" in tampered.stderr
