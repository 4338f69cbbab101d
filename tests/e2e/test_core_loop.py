"""The loop end to end: plan, apply, a hand-made drift detected and healed, status, history."""

from __future__ import annotations

import json

from conftest import Cli, Repo, dir_doc, file_doc


def test_plan_apply_drift_heal_status(cli: Cli, repo: Repo) -> None:
    repo.set_resources(
        [
            dir_doc("etc", "etc"),
            file_doc("motd", "etc/motd", "hello\n", mode="0644"),
            file_doc("issue", "etc/issue", "welcome\n"),
        ]
    )
    planned = cli("plan", "--env", "dev", "--detailed-exitcode", repo=repo.path, expect=2)
    assert "+ local.gitcops.io/File/motd" in planned.stdout
    assert "Plan: 3 to create, 0 to update, 0 to delete" in planned.stdout

    applied = cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert "3 created" in applied.stdout
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"
    assert oct((repo.root / "etc" / "motd").stat().st_mode & 0o777) == "0o644"

    again = cli("plan", "--env", "dev", "--detailed-exitcode", repo=repo.path, expect=0)
    assert again.stdout.startswith("No changes.")

    (repo.root / "etc" / "motd").write_text("tampered\n")
    (repo.root / "etc" / "issue").unlink()
    drift = cli("drift", "--env", "dev", repo=repo.path, expect=2)
    assert "modified: local.gitcops.io/File/motd" in drift.stdout
    assert "missing: local.gitcops.io/File/issue" in drift.stdout
    report = json.loads(cli("drift", "--env", "dev", "-o", "json", repo=repo.path, expect=2).stdout)
    assert report["drifted"] == 2

    healed = cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert "1 created" in healed.stdout and "1 configured" in healed.stdout
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"
    cli("drift", "--env", "dev", repo=repo.path, expect=0)

    status = json.loads(cli("status", "-o", "json", repo=repo.path).stdout)
    dev = next(e for e in status["environments"] if e["environment"] == "dev")
    assert dev["inSync"] is True and dev["healthy"] is True
    assert dev["appliedRevision"] == repo.git("rev-parse", "HEAD")
    prod = next(e for e in status["environments"] if e["environment"] == "prod")
    assert prod["appliedRevision"] is None

    runs = json.loads(cli("history", "-o", "json", repo=repo.path).stdout)["runs"]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[0]["summary"]["configured"] == 1 and runs[0]["actor"] == "tester"


def test_prune_removes_what_left_git_in_reverse_order(cli: Cli, repo: Repo) -> None:
    repo.set_resources(
        [
            dir_doc("app", "app"),
            dir_doc("conf", "app/conf"),
            file_doc("a", "app/conf/a.ini", "a=1\n"),
            file_doc("keep", "keep.txt"),
        ]
    )
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("keep", "keep.txt")], "drop the app")
    plan = cli("plan", "--env", "dev", repo=repo.path).stdout
    order = [
        plan.index(f"- local.gitcops.io/{ref}")
        for ref in ("File/a", "Directory/conf", "Directory/app")
    ]
    assert order == sorted(order), plan
    result = cli("apply", "--env", "dev", "--yes", "-o", "json", repo=repo.path)
    deleted = [e["id"] for e in json.loads(result.stdout)["entries"] if e["action"] == "deleted"]
    assert deleted == [
        "local.gitcops.io/File/a",
        "local.gitcops.io/Directory/conf",
        "local.gitcops.io/Directory/app",
    ]
    assert not (repo.root / "app").exists()
    assert (repo.root / "keep.txt").exists()


def test_prune_never_removes_unmanaged_content(cli: Cli, repo: Repo) -> None:
    repo.set_resources([dir_doc("data", "data"), file_doc("f", "data/f")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    (repo.root / "data" / "precious").write_text("not managed by gitcops")
    repo.set_resources([], "remove all")
    failed = cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert "holds files gitcops does not manage" in failed.output
    assert (repo.root / "data" / "precious").exists()


def test_a_directory_left_out_of_git_but_still_holding_managed_files_is_kept(
    cli: Cli, repo: Repo
) -> None:
    repo.set_resources([dir_doc("data", "data"), file_doc("f", "data/f")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("f", "data/f")], "stop managing the directory itself")
    plan = cli("plan", "--env", "dev", repo=repo.path).stdout
    assert "forgotten, not deleted: local.gitcops.io/File/f still needs it" in plan
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert (repo.root / "data" / "f").exists()
    cli("plan", "--env", "dev", "--detailed-exitcode", repo=repo.path, expect=0)
