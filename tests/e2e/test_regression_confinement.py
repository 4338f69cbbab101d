"""Confinement and data safety: never touch anything outside the root or not managed."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import Cli, Repo, file_doc, symlink_doc

APPLY = ("apply", "--env", "dev", "--yes")


def test_prune_never_deletes_outside_root_through_symlinked_parent(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    repo.set_resources([file_doc("keep", "keep.txt"), file_doc("motd", "etc/motd", "managed\n")])
    cli(*APPLY, repo=repo.path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "motd").write_text("not gitcops's\n")
    (repo.root / "etc" / "motd").unlink()
    (repo.root / "etc").rmdir()
    (repo.root / "etc").symlink_to(outside)
    repo.set_resources([file_doc("keep", "keep.txt")])
    cli(*APPLY, repo=repo.path, expect=None)
    assert (outside / "motd").read_text() == "not gitcops's\n"


def test_prune_after_root_change_never_deletes_unmanaged_file(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    repo.set_resources([file_doc("keep", "keep.txt"), file_doc("gone", "data.txt", "managed\n")])
    cli(*APPLY, repo=repo.path)
    new_root = tmp_path / "new-root"
    new_root.mkdir()
    (new_root / "data.txt").write_text("precious, unmanaged\n")
    repo.set_root(new_root)
    repo.set_resources([file_doc("keep", "keep.txt")])
    cli(*APPLY, repo=repo.path, expect=None)
    assert (new_root / "data.txt").read_text() == "precious, unmanaged\n"


def test_symlink_target_escaping_via_another_symlink_is_rejected(cli: Cli, repo: Repo) -> None:
    repo.set_resources([symlink_doc("a", "a", "."), symlink_doc("b", "b", "a/..")])
    cli(*APPLY, repo=repo.path, expect=None)
    root = Path(os.path.realpath(repo.root))
    for link in ("a", "b"):
        if (repo.root / link).is_symlink():
            resolved = Path(os.path.realpath(repo.root / link))
            assert resolved == root or root in resolved.parents, f"{link} -> {resolved}"


def test_worktree_does_not_follow_symlinks_out_of_the_repository(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("TOPSECRET\n")
    doc = file_doc("f", "f.txt")
    spec = doc["spec"]
    assert isinstance(spec, dict)
    del spec["content"]
    spec["source"] = "link/key"
    repo.set_resources([doc])
    (repo.path / "base" / "link").symlink_to(secret)
    result = cli("render", "--env", "dev", "--worktree", repo=repo.path, expect=None)
    assert "TOPSECRET" not in result.stdout
    assert result.code == 1
