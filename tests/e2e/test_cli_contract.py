"""The command line refuses nonsense numbers, and shows progress on stderr, never stdout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli, Repo, file_doc


@pytest.mark.parametrize(
    "argv",
    [
        ("apply", "--env", "dev", "--yes", "--parallelism", "0"),
        ("apply", "--env", "dev", "--yes", "--parallelism", "-1"),
        ("apply", "--env", "dev", "--yes", "--lock-timeout", "-5"),
        ("rollback", "--env", "dev", "--yes", "--lock-timeout", "-1"),
        ("history", "--limit", "-1"),
        ("history", "--limit", "0"),
    ],
)
def test_out_of_range_numbers_are_refused(cli: Cli, repo: Repo, argv: tuple[str, ...]) -> None:
    done = cli(*argv, repo=repo.path, expect=2)
    assert "Invalid value" in done.stderr
    assert not repo.root.exists()  # nothing was applied


def _slow_chain(n: int, seconds: float) -> list[dict[str, object]]:
    checks: list[dict[str, object]] = []
    for i in range(n):
        annotations = (
            {"config.kubernetes.io/depends-on": f"local.gitcops.io/HealthCheck/wait{i - 1}"}
            if i
            else {}
        )
        checks.append(
            {
                "apiVersion": "local.gitcops.io/v1",
                "kind": "HealthCheck",
                "metadata": {"name": f"wait{i}", "annotations": annotations},
                "spec": {"command": {"argv": ["sleep", str(seconds)]}},
            }
        )
    return checks


def test_a_long_apply_shows_progress_lines_on_stderr(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("motd", "etc/motd"), *_slow_chain(4, 0.3)])
    cli.env["GITCOPS_PROGRESS_SECONDS"] = "0.2"
    done = cli("apply", "--env", "dev", "--yes", "-o", "json", repo=repo.path)
    progress = [line for line in done.stderr.splitlines() if line.startswith("applying shop/dev:")]
    assert len(progress) >= 2, done.stderr
    assert "/5 (" in progress[-1]
    json.loads(done.stdout)  # stdout holds the result alone


def test_no_cache_gives_the_same_answers(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("motd", "etc/motd"), file_doc("b", "b.txt")])
    cached = cli("plan", "--env", "dev", "-o", "json", repo=repo.path).stdout
    uncached = cli("plan", "--env", "dev", "-o", "json", "--no-cache", repo=repo.path).stdout
    assert strip(cached) == strip(uncached)
    cli.env["GITCOPS_NO_CACHE"] = "1"
    cache_dir = cli.env["GITCOPS_CACHE_DIR"]
    before = sorted(str(p) for p in Path(cache_dir).rglob("*"))
    again = cli("plan", "--env", "dev", "-o", "json", repo=repo.path).stdout
    assert strip(again) == strip(cached)
    after = sorted(str(p) for p in Path(cache_dir).rglob("*"))
    assert before == after  # nothing read into or written to the cache directory


def strip(text: str) -> dict[str, Any]:
    return {k: v for k, v in json.loads(text).items() if k != "createdAt"}


def test_a_refused_json_apply_keeps_stdout_for_json(cli: Cli, repo: Repo) -> None:
    repo.write(
        "policies/no.rego",
        'package main\n\nimport rego.v1\n\ndeny contains "never" if input.kind == "File"\n',
    )
    repo.set_resources([file_doc("motd", "etc/motd")])
    done = cli("apply", "--env", "dev", "--yes", "-o", "json", repo=repo.path, expect=1)
    assert done.stdout == ""
    assert "never" in done.stderr and "policy failure(s) block this apply" in done.stderr
    assert not repo.root.exists()
