"""Bad input: a clear message naming file, document and field; exit 1; nothing written anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Cli, Repo, dump, file_doc, tree_snapshot


def _assert_rejected(cli: Cli, repo: Repo, *needles: str, command: str = "apply") -> str:
    before_state = cli.state.exists()
    before_root = tree_snapshot(repo.root)
    args = {"apply": ("apply", "--env", "dev", "--yes"), "validate": ("validate",)}[command]
    result = cli(*args, repo=repo.path, expect=1)
    for needle in needles:
        assert needle in result.stderr, result.stderr
    assert tree_snapshot(repo.root) == before_root
    assert cli.state.exists() == before_state
    if not before_state:
        assert not cli.state.exists()
    return result.stderr


def test_malformed_yaml(cli: Cli, repo: Repo) -> None:
    repo.write(
        "base/resources.yaml", "apiVersion: local.gitcops.io/v1\nkind: File\nmetadata: [oops\n"
    )
    repo.commit()
    message = _assert_rejected(cli, repo, "base/resources.yaml")
    assert "line" in message


def test_document_without_kind(cli: Cli, repo: Repo) -> None:
    doc = file_doc("motd", "etc/motd")
    del doc["kind"]
    repo.set_resources([doc])
    _assert_rejected(cli, repo, "base/resources.yaml", "document 1", "kind")


def test_unknown_kind(cli: Cli, repo: Repo) -> None:
    doc = file_doc("motd", "etc/motd")
    doc["kind"] = "Fiel"
    repo.set_resources([file_doc("ok", "ok.txt"), doc])
    _assert_rejected(
        cli, repo, "base/resources.yaml", "document 2", "field kind", "unknown kind 'Fiel'"
    )


def test_unknown_api_version(cli: Cli, repo: Repo) -> None:
    doc = file_doc("motd", "etc/motd")
    doc["apiVersion"] = "nosuch.gitcops.io/v1"
    repo.set_resources([doc])
    _assert_rejected(cli, repo, "field apiVersion", "unknown apiVersion")


def test_schema_violation_reports_every_problem(cli: Cli, repo: Repo) -> None:
    bad_mode = file_doc("a", "a.txt", mode="rwx")
    unknown_field = file_doc("b", "b.txt")
    unknown_field["spec"]["colour"] = "blue"  # type: ignore[index]
    no_path = file_doc("c", "c.txt")
    del no_path["spec"]["path"]  # type: ignore[attr-defined]
    repo.set_resources([bad_mode, unknown_field, no_path])
    message = _assert_rejected(cli, repo, "3 problems found")
    assert "document 1 (local.gitcops.io/File/a): field spec.mode" in message
    assert "document 2 (local.gitcops.io/File/b): field spec.colour: unknown field" in message
    assert "document 3 (local.gitcops.io/File/c): field spec: 'path' is required" in message


def test_duplicate_id(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("motd", "a.txt"), file_doc("motd", "b.txt")])
    _assert_rejected(cli, repo, "base/resources.yaml")


def test_two_resources_same_path(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("one", "same.txt"), file_doc("two", "same.txt")])
    _assert_rejected(
        cli, repo, "document 2", "manages the same object as local.gitcops.io/File/one"
    )


def test_dependency_cycle(cli: Cli, repo: Repo) -> None:
    repo.set_resources(
        [
            file_doc("a", "a.txt", depends_on=["local.gitcops.io/File/b"]),
            file_doc("b", "b.txt", depends_on=["local.gitcops.io/File/a"]),
        ]
    )
    _assert_rejected(
        cli,
        repo,
        "dependency cycle",
        "field metadata.annotations.config.kubernetes.io/depends-on",
    )


def test_dangling_dependency(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("a", "a.txt", depends_on=["local.gitcops.io/File/ghost"])])
    _assert_rejected(cli, repo, "document 1 (local.gitcops.io/File/a)", "File/ghost, which is not")


@pytest.mark.parametrize(
    ("path", "needle"),
    [("../escape.txt", "leaves the provider root"), ("/etc/passwd", "is absolute")],
)
def test_path_escape(cli: Cli, repo: Repo, path: str, needle: str) -> None:
    repo.set_resources([file_doc("evil", path)])
    _assert_rejected(cli, repo, "field spec.path", needle)


def test_path_escape_through_symlink(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo.root.mkdir(parents=True)
    os.symlink(outside, repo.root / "link")
    repo.set_resources([file_doc("evil", "link/file.txt")])
    _assert_rejected(cli, repo, "field spec.path", "points outside the provider root")
    assert not (outside / "file.txt").exists()


def test_symlink_target_escape(cli: Cli, repo: Repo) -> None:
    link = {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "Symlink",
        "metadata": {"name": "out"},
        "spec": {"path": "l", "target": "../../etc"},
    }
    repo.set_resources([link])
    _assert_rejected(cli, repo, "field spec.target", "outside the provider root")


def test_patch_target_matches_nothing(cli: Cli, repo: Repo) -> None:
    repo.write(
        "environments/dev/kustomization.yaml",
        "resources:\n  - ../../base\npatches:\n  - target: {kind: File, name: nothing}\n"
        "    patch: |-\n      - op: replace\n        path: /spec/content\n        value: x\n",
    )
    repo.commit()
    _assert_rejected(cli, repo, "environments/dev/kustomization.yaml", "patches")


def test_missing_environment(cli: Cli, repo: Repo) -> None:
    result = cli("apply", "--env", "staging", "--yes", repo=repo.path, expect=1)
    assert "environment 'staging' is not in gitcops.yaml" in result.stderr
    assert not cli.state.exists()


def test_missing_environment_directory(cli: Cli, repo: Repo) -> None:
    repo.git("rm", "-q", "-r", "environments/dev")
    repo.commit()
    _assert_rejected(cli, repo, "gitcops.yaml", "environments/dev")


def test_revision_that_does_not_exist(cli: Cli, repo: Repo) -> None:
    result = cli(
        "apply", "--env", "dev", "--rev", "no-such-branch", "--yes", repo=repo.path, expect=1
    )
    assert "revision 'no-such-branch' does not exist" in result.stderr
    assert not cli.state.exists()


def test_unreadable_provider_root(cli: Cli, repo: Repo) -> None:
    repo.root.parent.mkdir(parents=True)
    repo.root.write_text("a file where the root directory should be")
    result = cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert "is not a directory" in result.stderr
    assert repo.root.read_text() == "a file where the root directory should be"


def test_unreadable_provider_root_permissions(cli: Cli, repo: Repo) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root: permission bits do not stop root from reading")
    repo.root.mkdir(parents=True)
    repo.root.chmod(0)
    try:
        result = cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
        assert "not readable" in result.stderr
    finally:
        repo.root.chmod(0o755)


def test_bad_project_file(cli: Cli, repo: Repo) -> None:
    repo.write(
        "gitcops.yaml",
        "apiVersion: gitcops.io/v1\nkind: Project\nmetadata: {name: x}\n"
        "spec:\n  environments:\n    - name: Dev_1\n      path: e\n      colour: red\n",
    )
    repo.commit()
    message = _assert_rejected(cli, repo, "gitcops.yaml")
    assert "spec.environments[0].name" in message
    assert "spec.environments[0].colour: unknown field" in message


def test_validate_lists_problems_across_files(cli: Cli, repo: Repo) -> None:
    repo.write("base/kustomization.yaml", "resources:\n  - resources.yaml\n  - more.yaml\n")
    repo.write("base/more.yaml", dump([file_doc("x", "/abs")]))
    repo.set_resources([file_doc("y", "y.txt", mode="9999")])
    message = _assert_rejected(
        cli, repo, "base/more.yaml", "base/resources.yaml", command="validate"
    )
    assert "problems found" in message


def test_yaml_alias_bomb_is_refused(cli: Cli, repo: Repo) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    repo.write("base/resources.yaml", "\n".join(lines) + "\n")
    repo.commit()
    _assert_rejected(cli, repo, "base/resources.yaml", "aliases expand to more than")
