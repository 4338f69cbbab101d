"""Validation: every problem at once, before anything is written; bad input never crashes."""

from __future__ import annotations

import pytest
from conftest import Cli, Repo, file_doc

APPLY = ("apply", "--env", "dev", "--yes")


def test_invalid_base64_is_a_validation_error(cli: Cli, repo: Repo) -> None:
    doc = file_doc("g", "g.txt")
    spec = doc["spec"]
    assert isinstance(spec, dict)
    del spec["content"]
    spec["contentBase64"] = "!!notbase64"
    repo.set_resources([doc])
    result = cli("validate", repo=repo.path, expect=None)
    assert result.code == 1
    assert "contentBase64" in result.stderr


def test_nul_in_path_is_a_clean_error(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("h", "h\0.txt")])
    result = cli(*APPLY, repo=repo.path, expect=None)
    assert "Traceback" not in result.stderr
    assert result.code == 1
    assert result.stderr.startswith("error:")
    assert not cli.state.exists()


def test_every_problem_reported_at_once(cli: Cli, repo: Repo) -> None:
    repo.write(
        "base/resources.yaml",
        "apiVersion: local.gitcops.io/v1\nkind: File\n"
        "metadata: {name: f}\nspec: {path: f.txt, content: x, colour: red}\n",
    )
    repo.write(
        "environments/dev/kustomization.yaml",
        "resources:\n  - ../../base\npatches:\n  - target: {kind: File, name: nomatch}\n"
        "    patch: |-\n      - op: replace\n        path: /spec/content\n        value: y\n",
    )
    repo.commit()
    result = cli("validate", repo=repo.path, expect=1)
    assert "patches[0].target" in result.stderr
    assert "colour" in result.stderr


@pytest.mark.parametrize("command", ["drift", "history", "rollback"])
def test_missing_environment_writes_nothing(cli: Cli, repo: Repo, command: str) -> None:
    result = cli(command, "--env", "nope", repo=repo.path, expect=1)
    assert "not in gitcops.yaml" in result.stderr
    assert not cli.state.exists()


def test_remote_credentials_are_not_printed(cli: Cli) -> None:
    url = "https://alice:S3CRETTOKEN@127.0.0.1:9/repo.git"
    result = cli("plan", "--env", "dev", repo=url, expect=1)
    assert "S3CRETTOKEN" not in result.output
