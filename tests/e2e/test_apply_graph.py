"""Apply: dependency order, implicit edges, failure isolation, one apply at a time."""

from __future__ import annotations

import json
import subprocess
import time

from conftest import GITCOPS, Cli, Repo, dir_doc, file_doc


def _check(name: str, argv: list[str], depends_on: list[str], **spec: object) -> dict[str, object]:
    return {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "HealthCheck",
        "metadata": {
            "name": name,
            "annotations": {"config.kubernetes.io/depends-on": ",".join(depends_on)},
        },
        "spec": {"command": {"argv": argv}, **spec},
    }


def test_explicit_and_implicit_order(cli: Cli, repo: Repo) -> None:
    repo.set_resources(
        [
            file_doc("app-conf", "app/conf/app.ini", depends_on=["local.gitcops.io/File/base"]),
            dir_doc("conf", "app/conf"),
            file_doc("base", "base.txt"),
            dir_doc("app", "app"),
        ]
    )
    result = json.loads(cli("apply", "--env", "dev", "--yes", "-o", "json", repo=repo.path).stdout)
    order = [e["id"].split("/", 1)[1] for e in result["entries"]]
    assert (
        order.index("Directory/app") < order.index("Directory/conf") < order.index("File/app-conf")
    )
    assert order.index("File/base") < order.index("File/app-conf")


def test_failure_skips_dependents_and_others_go_on(cli: Cli, repo: Repo) -> None:
    repo.root.mkdir(parents=True)
    (repo.root / "blocker").write_text("an unmanaged file where a directory is needed")
    repo.set_resources(
        [
            file_doc("broken", "blocker/inside.txt"),
            file_doc("after-broken", "after.txt", depends_on=["local.gitcops.io/File/broken"]),
            file_doc("chain", "chain.txt", depends_on=["local.gitcops.io/File/after-broken"]),
            file_doc("independent", "independent.txt"),
        ]
    )
    result = cli("apply", "--env", "dev", "--yes", "-o", "json", repo=repo.path, expect=1)
    entries = {e["id"].rsplit("/", 1)[1]: e for e in json.loads(result.stdout)["entries"]}
    assert entries["broken"]["action"] == "failed"
    assert entries["after-broken"]["action"] == "skipped"
    assert entries["chain"]["action"] == "skipped"
    assert entries["independent"]["action"] == "created"
    assert (repo.root / "independent.txt").exists()
    assert not (repo.root / "after.txt").exists()
    runs = json.loads(cli("history", "-o", "json", repo=repo.path).stdout)["runs"]
    assert runs[0]["status"] == "failed"
    status = json.loads(cli("status", "-o", "json", repo=repo.path).stdout)["environments"][0]
    assert status["appliedRevision"] is None or status["appliedRevision"] == ""
    (repo.root / "blocker").unlink()
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert (repo.root / "after.txt").exists()


def test_health_check_failure_fails_the_run(cli: Cli, repo: Repo) -> None:
    repo.set_resources(
        [
            file_doc("page", "index.html", "<h1>hi</h1>\n"),
            _check("page-present", ["test", "-s", "index.html"], ["local.gitcops.io/File/page"]),
            _check(
                "never", ["false"], ["local.gitcops.io/File/page"], retries=1, intervalSeconds=0
            ),
        ]
    )
    result = cli("apply", "--env", "dev", "--yes", "-o", "json", repo=repo.path, expect=1)
    entries = {e["id"].rsplit("/", 1)[1]: e for e in json.loads(result.stdout)["entries"]}
    assert entries["page-present"]["action"] == "verified"
    assert entries["never"]["action"] == "failed"
    assert "attempt 2" in entries["never"]["message"]
    status = json.loads(cli("status", "-o", "json", repo=repo.path).stdout)["environments"][0]
    assert status["healthy"] is False


def test_one_apply_at_a_time(cli: Cli, repo: Repo) -> None:
    repo.set_resources(
        [file_doc("a", "a.txt"), _check("slow", ["sleep", "3"], ["local.gitcops.io/File/a"])]
    )
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
    ]
    first = subprocess.Popen(argv, env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not (repo.root / "a.txt").exists():
            assert time.monotonic() < deadline, "first apply never started"
            time.sleep(0.05)
        second = cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
        assert "is locked by another apply" in second.stderr
        waited = cli("apply", "--env", "dev", "--yes", "--lock-timeout", "30", repo=repo.path)
        assert "Apply complete" in waited.stdout
    finally:
        first.wait(timeout=60)
    assert first.returncode == 0
    runs = json.loads(cli("history", "-o", "json", repo=repo.path).stdout)["runs"]
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
