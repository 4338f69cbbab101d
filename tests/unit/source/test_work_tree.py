"""WorkTree (--worktree) shows the files Git would commit: tracked and untracked, never ignored."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitcops.source.tree import WorkTree, walk_files


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "base").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text("*.sarif\nbuild/\n")
    (repo / "base" / "tracked.yaml").write_text("a: 1\n")
    (repo / "base" / "gone.yaml").write_text("b: 2\n")
    (repo / "forced.sarif").write_text("{}\n")
    _git(repo, "add", ".gitignore", "base")
    _git(repo, "add", "--force", "forced.sarif")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "one")
    (repo / "base" / "gone.yaml").unlink()  # tracked, deleted on disk, not yet committed
    (repo / "base" / "draft.yaml").write_text("c: 3\n")  # untracked, not ignored
    (repo / "results.sarif").write_text('{"runs": []}\n')  # ignored by pattern
    (repo / "build" / "deep").mkdir(parents=True)
    (repo / "build" / "deep" / "out.yaml").write_text("d: 4\n")  # under an ignored directory
    return repo


def test_ignored_files_are_not_in_the_work_tree(repo: Path) -> None:
    tree = WorkTree(repo)
    assert sorted(walk_files(tree)) == [
        ".gitignore",
        "base/draft.yaml",
        "base/tracked.yaml",
        "forced.sarif",
    ]
    assert tree.kind("results.sarif") is None and tree.kind("build") is None
    assert tree.kind("build/deep/out.yaml") is None and tree.kind("base/gone.yaml") is None
    assert tree.list_dir("") == [".gitignore", "base", "forced.sarif"]
    assert tree.list_dir("base") == ["draft.yaml", "tracked.yaml"]
    for hidden in ("results.sarif", "build/deep/out.yaml", "base/gone.yaml"):
        with pytest.raises(FileNotFoundError):
            tree.read(hidden)
    with pytest.raises(FileNotFoundError):
        tree.list_dir("build")
    assert tree.read("base/draft.yaml") == b"c: 3\n"
    assert tree.read("forced.sarif") == b"{}\n", "a tracked file stays, ignored or not"


def test_outside_a_repository_every_file_is_in_the_work_tree(tmp_path: Path) -> None:
    (tmp_path / "plain" / "sub").mkdir(parents=True)
    (tmp_path / "plain" / ".gitignore").write_text("*.sarif\n")
    (tmp_path / "plain" / "sub" / "a.sarif").write_text("{}\n")
    assert sorted(walk_files(WorkTree(tmp_path / "plain"))) == [".gitignore", "sub/a.sarif"]
