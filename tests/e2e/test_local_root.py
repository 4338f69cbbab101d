"""The local provider's root: the filesystem root only when the project says so; one address."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import Cli, Repo, file_doc

PROJECT = """\
apiVersion: gitcops.io/v1
kind: Project
metadata: {{name: shop}}
spec:
  environments:
    - name: dev
      path: environments/dev
      providers:
        local: {dev}
    - name: prod
      path: environments/prod
  providers:
    local: {top}
"""


def _configure(repo: Repo, top: str, dev: str = "{}") -> None:
    repo.write("gitcops.yaml", PROJECT.format(top=top, dev=dev))
    repo.commit("provider settings")


def _refused(cli: Cli, repo: Repo, field: str, *needles: str) -> None:
    for command in (("validate",), ("plan", "--env", "dev"), ("apply", "--env", "dev", "-y")):
        result = cli(*command, repo=repo.path, expect=1)
        assert f"gitcops.yaml: document 1 (Project): field {field}: " in result.stderr
        for needle in needles:
            assert needle in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not cli.state.exists()


@pytest.mark.parametrize(
    ("top", "dev", "field"),
    [
        ("{root: /}", "{}", "spec.providers.local.root"),
        ("{root: /srv/unused}", "{root: /}", "spec.environments[0].providers.local.root"),
        ("{root: '/tmp/..'}", "{}", "spec.providers.local.root"),
        ("{root: /, allowFilesystemRoot: false}", "{}", "spec.providers.local.root"),
    ],
    ids=["top-level", "environment", "resolved", "false"],
)
def test_the_filesystem_root_is_refused_unless_allowed(
    cli: Cli, repo: Repo, top: str, dev: str, field: str
) -> None:
    _configure(repo, top, dev)
    _refused(cli, repo, field, "is the filesystem root", "allowFilesystemRoot: true")


@pytest.mark.parametrize(
    ("top", "field", "needle"),
    [
        ("{root: /srv, allowFilesystemRoot: 'yes'}", "allowFilesystemRoot", "boolean"),
        ("{root: /srv, rooot: /x}", "rooot", "unknown field"),
    ],
)
def test_provider_settings_follow_their_schema(
    cli: Cli, repo: Repo, top: str, field: str, needle: str
) -> None:
    _configure(repo, top)
    _refused(cli, repo, f"spec.providers.local.{field}", needle)


def test_the_filesystem_root_when_allowed_records_absolute_addresses(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    _configure(repo, "{root: /, allowFilesystemRoot: true}")
    target = tmp_path / "under-root" / "motd"
    repo.set_resources([file_doc("motd", str(target).lstrip("/"), "hi\n")])
    plan = json.loads(cli("plan", "--env", "dev", "-o", "json", repo=repo.path).stdout)
    assert [c["address"] for c in plan["changes"]] == [f"local:{target}"]
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert target.read_text() == "hi\n"

    # gitcops before this recorded objects under / as local://path: still the same objects.
    with sqlite3.connect(cli.state) as db:
        db.execute("UPDATE inventory SET address = 'local://' || substr(address, 8)")
    again = json.loads(cli("plan", "--env", "dev", "-o", "json", repo=repo.path).stdout)
    assert [(c["action"], c["reason"]) for c in again["changes"]] == [("no-op", "")]
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert target.read_text() == "hi\n"
