"""Paths the user writes that would leave the repository: a diagnostic each, never a traceback."""

from __future__ import annotations

import pytest
from conftest import PROJECT, Cli, Repo, file_doc, tree_snapshot

ESCAPES = ["../../../../etc", "/etc", "environments/../../outside", "..\\..\\etc"]


def _rejected(cli: Cli, repo: Repo, *command: str) -> str:
    before = tree_snapshot(repo.root)
    result = cli(*command, repo=repo.path, expect=1)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert tree_snapshot(repo.root) == before
    assert not cli.state.exists()
    return result.stderr


@pytest.mark.parametrize("path", ESCAPES)
def test_an_environment_path_leaving_the_repository(cli: Cli, repo: Repo, path: str) -> None:
    text = PROJECT.format(root=repo.root, prod_root=repo.root.parent / "prod")
    repo.write("gitcops.yaml", text.replace("path: environments/prod", f"path: '{path}'"))
    repo.commit()
    # The Project is checked before anything else: also when another environment is asked for.
    for command in (("validate",), ("render", "--env", "dev"), ("apply", "--env", "dev", "-y")):
        stderr = _rejected(cli, repo, *command)
        assert "gitcops.yaml: document 1 (Project): field spec.environments[1].path: " in stderr
        assert "leaves the repository" in stderr or "is absolute" in stderr


@pytest.mark.parametrize("entry", ["../../../../etc", "..\\..\\..\\..\\etc", "/etc"])
def test_a_kustomization_resource_leaving_the_repository(cli: Cli, repo: Repo, entry: str) -> None:
    repo.write(
        "environments/dev/kustomization.yaml", f"resources:\n  - ../../base\n  - '{entry}'\n"
    )
    repo.commit()
    stderr = _rejected(cli, repo, "validate", "--env", "dev")
    assert "environments/dev/kustomization.yaml: document 1: field resources[1]: " in stderr


@pytest.mark.parametrize("entry", ["../../../x.yaml", "..\\..\\..\\x.yaml"])
def test_a_patch_file_leaving_the_repository(cli: Cli, repo: Repo, entry: str) -> None:
    repo.write(
        "environments/dev/kustomization.yaml",
        f"resources:\n  - ../../base\npatches:\n  - path: '{entry}'\n",
    )
    repo.commit()
    stderr = _rejected(cli, repo, "validate", "--env", "dev")
    assert "environments/dev/kustomization.yaml: document 1: field patches[0].path: " in stderr
    assert "leaves the repository" in stderr


@pytest.mark.parametrize("entry", ["../../../x.yaml", "..\\..\\..\\x.yaml"])
def test_a_strategic_merge_patch_file_leaving_the_repository(
    cli: Cli, repo: Repo, entry: str
) -> None:
    repo.write(
        "environments/dev/kustomization.yaml",
        f"resources:\n  - ../../base\npatchesStrategicMerge:\n  - '{entry}'\n",
    )
    repo.commit()
    stderr = _rejected(cli, repo, "validate", "--env", "dev")
    assert "field patchesStrategicMerge[0]: " in stderr and "leaves the repository" in stderr


@pytest.mark.parametrize("file", ["../../outside.sops.yaml", "..\\..\\outside.sops.yaml"])
def test_a_secret_file_leaving_the_repository(cli: Cli, repo: Repo, file: str) -> None:
    doc = file_doc("s", "s.txt")
    doc["spec"] = {"path": "s.txt", "content": {"valueFrom": {"secretRef": {"file": file}}}}
    repo.set_resources([doc])
    stderr = _rejected(cli, repo, "validate", "--env", "dev")
    assert "base/resources.yaml: document 1 (local.gitcops.io/File/s): field " in stderr
    assert "spec.content.valueFrom: `secretRef.file`" in stderr
    assert "leaves the repository" in stderr


@pytest.mark.parametrize("source", ["../../etc/passwd", "..\\..\\etc\\passwd", "/etc/passwd"])
def test_a_file_source_leaving_the_repository(cli: Cli, repo: Repo, source: str) -> None:
    doc = file_doc("f", "f.txt", source=source)
    del doc["spec"]["content"]  # type: ignore[attr-defined]
    repo.set_resources([doc])
    stderr = _rejected(cli, repo, "validate", "--env", "dev")
    assert (
        "base/resources.yaml: document 1 (local.gitcops.io/File/f): field spec.source: " in stderr
    )
