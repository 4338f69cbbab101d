"""A saved plan is applied exactly, or refused when the live state, state or revision moved."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Cli, Repo, file_doc


def _save(cli: Cli, repo: Repo, name: str = "plan.json", *extra: str) -> Path:
    path = repo.path.parent / name
    cli("plan", "--env", "dev", "--out", str(path), *extra, repo=repo.path)
    return path


def test_plan_json_schema(cli: Cli, repo: Repo) -> None:
    data = json.loads(cli("plan", "--env", "dev", "-o", "json", repo=repo.path).stdout)
    assert data["apiVersion"] == "gitcops.io/cli/v1" and data["kind"] == "Plan"
    assert data["format"] == "gitcops.io/plan/v1"
    assert data["summary"] == {
        "create": 1,
        "replace": 0,
        "adopt": 0,
        "update": 0,
        "delete": 0,
        "noop": 0,
        "check": 0,
    }
    (change,) = data["changes"]
    assert change["action"] == "create"
    assert change["id"] == "local.gitcops.io/File/motd"
    assert change["after"] == {"path": "etc/motd", "content": "hello\n"}


def test_saved_plan_applies_exactly_that_plan(cli: Cli, repo: Repo) -> None:
    plan = _save(cli, repo, "plan.json", "--rev", repo.git("rev-parse", "HEAD"))
    repo.set_resources([file_doc("motd", "etc/motd", "newer\n")], "a later commit")
    cli("apply", "--env", "dev", str(plan), repo=repo.path)
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"


def test_saved_plan_refused_when_live_moved(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("motd", "etc/motd", "v2\n")])
    plan = _save(cli, repo)
    (repo.root / "etc" / "motd").write_text("changed by hand\n")
    refused = cli("apply", "--env", "dev", str(plan), repo=repo.path, expect=1)
    assert "live state changed since the plan was made" in refused.stderr
    assert (repo.root / "etc" / "motd").read_text() == "changed by hand\n"


def test_saved_plan_refused_when_revision_moved(cli: Cli, repo: Repo) -> None:
    plan = _save(cli, repo, "plan.json", "--rev", "main")
    repo.set_resources([file_doc("motd", "etc/motd", "v2\n")])
    refused = cli("apply", "--env", "dev", str(plan), repo=repo.path, expect=1)
    assert "revision main moved" in refused.stderr
    assert not (repo.root / "etc" / "motd").exists()


def test_saved_plan_refused_after_another_apply(cli: Cli, repo: Repo) -> None:
    plan = _save(cli, repo)
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    refused = cli("apply", "--env", "dev", str(plan), repo=repo.path, expect=1)
    assert "state changed since the plan was made" in refused.stderr


def test_garbage_plan_file(cli: Cli, repo: Repo) -> None:
    bad = repo.path.parent / "bad.json"
    bad.write_text("{}")
    refused = cli("apply", "--env", "dev", str(bad), repo=repo.path, expect=1)
    assert "not a readable gitcops plan" in refused.stderr


def test_apply_without_yes_on_non_interactive_run(cli: Cli, repo: Repo) -> None:
    refused = cli("apply", "--env", "dev", repo=repo.path, expect=1)
    assert "pass --yes" in refused.stderr
    assert not (repo.root / "etc" / "motd").exists()


def test_edited_plan_file_is_refused(cli: Cli, repo: Repo) -> None:
    plan = _save(cli, repo)
    data = json.loads(plan.read_text())
    data["changes"][0]["after"]["content"] = "smuggled in\n"
    plan.write_text(json.dumps(data))
    refused = cli("apply", "--env", "dev", str(plan), repo=repo.path, expect=1)
    assert "was the plan file edited?" in refused.stderr
    assert not (repo.root / "etc" / "motd").exists()
