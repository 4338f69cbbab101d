"""GitTree reads trees and blobs through `git cat-file`: nested paths, kinds, both hash formats."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitcops.model.errors import SourceError
from gitcops.source.git import Source


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _repo(tmp_path: Path, object_format: str) -> Path:
    repo = tmp_path / f"repo-{object_format}"
    repo.mkdir()
    try:
        _git(repo, "init", "-q", f"--object-format={object_format}", "-b", "main")
    except subprocess.CalledProcessError:
        pytest.skip(f"this git cannot create {object_format} repositories")
    (repo / "a" / "b").mkdir(parents=True)
    (repo / "a" / "b" / "deep.yaml").write_bytes(b"x: 1\n" * 5000)  # larger than a pipe buffer
    (repo / "top.txt").write_text("top\n")
    (repo / "é café.txt").write_text("unicode name\n")
    (repo / "link").symlink_to("top.txt")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "one")
    return repo


@pytest.mark.parametrize("object_format", ["sha1", "sha256"])
def test_reads_nested_files_kinds_and_listings(tmp_path: Path, object_format: str) -> None:
    source = Source(str(_repo(tmp_path, object_format)), tmp_path / "cache")
    tree = source.tree(source.resolve(None))
    assert tree.read("a/b/deep.yaml") == b"x: 1\n" * 5000
    assert tree.read("./top.txt") == b"top\n"
    assert tree.read("é café.txt") == b"unicode name\n"
    assert tree.kind("a") == "dir" and tree.kind("") == "dir"
    assert tree.kind("link") == "symlink" and tree.kind("top.txt") == "file"
    assert tree.kind("missing") is None and tree.kind("top.txt/below") is None
    assert tree.list_dir("") == sorted(["a", "link", "top.txt", "é café.txt"])
    assert tree.list_dir("a/b") == ["deep.yaml"]
    for bad in ("a", "link", "missing", "a/b/deep.yaml/x"):
        with pytest.raises(FileNotFoundError):
            tree.read(bad)
    with pytest.raises(FileNotFoundError):
        tree.list_dir("top.txt")
    source.objects.close()
    assert tree.read("top.txt") == b"top\n"  # a closed reader starts again


def test_an_incomplete_repository_is_a_source_error(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "sha1")
    source = Source(str(repo), tmp_path / "cache")
    revision = source.resolve(None)
    subtree = _git(repo, "rev-parse", "HEAD:a")
    obj = repo / ".git" / "objects" / subtree[:2] / subtree[2:]
    obj.unlink()
    with pytest.raises(SourceError, match="not complete"):
        source.tree(revision).read("a/b/deep.yaml")
