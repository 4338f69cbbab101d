"""Suspension, pins and bad revisions: decided by people (or the agent), recorded in the audit
log, shown by status."""

from __future__ import annotations

import json

from conftest import Cli, Repo, file_doc


def _dev(cli: Cli, repo: Repo) -> dict[str, object]:
    data = json.loads(cli("status", "-o", "json", repo=repo.path).stdout)
    return next(e for e in data["environments"] if e["environment"] == "dev")


def _actions(cli: Cli, repo: Repo) -> list[str]:
    log = json.loads(cli("audit", "log", "-o", "json").stdout)["entries"]
    return [e["action"] for e in log]


def test_suspend_and_resume_are_recorded_and_shown(cli: Cli, repo: Repo) -> None:
    assert _dev(cli, repo)["suspended"] is False
    cli("suspend", "--env", "dev", "--reason", "database migration", repo=repo.path)
    dev = _dev(cli, repo)
    assert dev["suspended"] is True
    assert "suspended: database migration" in cli("status", repo=repo.path).stdout
    cli("suspend", "--env", "dev", repo=repo.path)  # already: nothing new recorded
    cli("resume", "--env", "dev", repo=repo.path)
    assert _dev(cli, repo)["suspended"] is False
    assert _actions(cli, repo) == ["environment.suspended", "environment.resumed"]
    cli("suspend", "--env", "nowhere", repo=repo.path, expect=1)


def test_a_rollback_pins_until_unpinned(cli: Cli, repo: Repo) -> None:
    first = repo.git("rev-parse", "HEAD")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("motd", "etc/motd", "second\n")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    done = cli("rollback", "--env", "dev", "--yes", repo=repo.path)
    assert f"Pinned dev to {first[:12]} until gitcops unpin --env dev" in done.stderr
    dev = _dev(cli, repo)
    assert dev["pin"] == {"revision": first, "untilNewerThan": None}
    assert "pinned to" in cli("status", repo=repo.path).stdout
    assert "environment.pinned" in _actions(cli, repo)

    cli("unpin", "--env", "dev", repo=repo.path)
    assert _dev(cli, repo)["pin"] is None
    assert _actions(cli, repo)[-1] == "environment.unpinned"
    done = cli("unpin", "--env", "dev", repo=repo.path, expect=1)
    assert "not pinned" in done.stderr


def test_a_rollback_until_newer_records_the_head(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    head = repo.set_resources([file_doc("motd", "etc/motd", "second\n")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    cli("rollback", "--env", "dev", "--yes", "--until-newer", repo=repo.path)
    pin = _dev(cli, repo)["pin"]
    assert isinstance(pin, dict) and pin["untilNewerThan"] == head


def test_a_refused_rollback_pins_nothing(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("motd", "etc/motd", "second\n")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    (repo.root / "etc" / "motd").unlink()
    (repo.root / "etc").rmdir()
    (repo.root / "etc").write_text("a file where a directory must go\n")
    cli("rollback", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert _dev(cli, repo)["pin"] is None
