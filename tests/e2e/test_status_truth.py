"""What status, rollback and saved plans say is true: in sync means the last run succeeded and a
plan of the latest revision would change nothing; reasons are the real ones."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import GITCOPS, Cli, Repo, file_doc


def _check(name: str, argv: list[str]) -> dict[str, object]:
    return {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "HealthCheck",
        "metadata": {"name": name},
        "spec": {"command": {"argv": argv}, "retries": 0},
    }


def _dev(cli: Cli, repo: Repo) -> dict[str, object]:
    data = json.loads(cli("status", "-o", "json", repo=repo.path).stdout)
    return next(e for e in data["environments"] if e["environment"] == "dev")


def test_a_failed_health_check_is_not_in_sync(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("motd", "etc/motd"), _check("never", ["false"])])
    cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    dev = _dev(cli, repo)
    assert dev["inSync"] is False
    assert dev["lastRun"]["status"] == "failed"  # type: ignore[index]
    assert "failed" in str(dev["reason"])
    assert "outdated" in cli("status", repo=repo.path).stdout


def test_a_branch_revision_applied_is_not_in_sync_with_main(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert _dev(cli, repo)["inSync"] is True
    repo.git("checkout", "--quiet", "-b", "feature")
    feature = repo.set_resources([file_doc("motd", "etc/motd", "from a branch\n")])
    repo.git("checkout", "--quiet", "main")
    cli("apply", "--env", "dev", "--yes", "--rev", feature, repo=repo.path)
    dev = _dev(cli, repo)
    assert dev["appliedRevision"] == feature
    assert dev["inSync"] is False
    assert dev["pendingChanges"] == 1
    assert "would make 1 change" in str(dev["reason"])

    # A commit that renders the same as what was applied is in sync, though not applied.
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.write("README.md", "docs only\n")
    repo.commit("docs")
    dev = _dev(cli, repo)
    assert dev["inSync"] is True and dev["appliedRevision"] != dev["latestRevision"]


def test_live_drift_makes_an_environment_outdated(cli: Cli, repo: Repo) -> None:
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    (repo.root / "etc" / "motd").write_text("edited by hand\n")
    dev = _dev(cli, repo)
    assert dev["inSync"] is False and dev["pendingChanges"] == 1


def test_rollback_gives_the_true_reason_for_its_deletions(cli: Cli, repo: Repo) -> None:
    first = repo.git("rev-parse", "HEAD")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("motd", "etc/motd", "hello\n"), file_doc("new", "new.txt")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    done = cli("rollback", "--env", "dev", "--yes", repo=repo.path)
    assert f"will be deleted (rolled back: not in revision {first[:12]})" in done.stdout
    assert "pruned: no longer in Git" not in done.stdout
    assert not (repo.root / "new.txt").exists()
    history = json.loads(cli("history", "--env", "dev", "-o", "json", repo=repo.path).stdout)
    assert history["runs"][0]["kind"] == "rollback"


def test_a_saved_plan_records_the_policy_warnings_it_showed(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    repo.write(
        "policies/warn.rego",
        'package main\n\nimport rego.v1\n\nwarn contains "motd is world-readable" if {\n'
        '    input.metadata.name == "motd"\n}\n',
    )
    repo.commit("a warning")
    saved = tmp_path / "plan.json"
    shown = cli("plan", "--env", "dev", "--out", str(saved), repo=repo.path)
    assert "motd is world-readable" in shown.output
    warnings = json.loads(saved.read_text())["warnings"]
    assert any("motd is world-readable" in w for w in warnings), warnings
    applied = json.loads(
        cli("apply", "--env", "dev", str(saved), "-o", "json", repo=repo.path).stdout
    )
    assert applied["warnings"] == warnings  # recorded once, not twice


def test_status_of_a_repository_without_commits(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    subprocess.run(["git", "init", "--quiet", str(empty)], check=True)
    done = cli("status", repo=empty)
    assert "no commits yet" in done.stdout
    data = json.loads(cli("status", "-o", "json", repo=empty).stdout)
    assert data["environments"] == []


def test_version() -> None:
    done = subprocess.run([GITCOPS, "--version"], capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.startswith("gitcops ")
