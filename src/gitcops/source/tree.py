"""A read-only view of a repository's files at one revision, whatever stores them."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, Protocol

EntryKind = Literal["file", "dir", "symlink"]


def normalize(path: str) -> str:
    """Normalise a repository-relative POSIX path; '' is the root. Rejects escapes."""
    norm = posixpath.normpath(path.replace("\\", "/")) if path not in ("", ".") else ""
    if norm == ".":
        norm = ""
    if norm.startswith("/") or norm == ".." or norm.startswith("../"):
        raise ValueError(f"{path!r} leaves the repository")
    return norm


class SourceTree(Protocol):
    """Paths are POSIX, relative to the repository root, '' being the root."""

    @property
    def cache_key(self) -> str | None:
        """A content address of the whole tree (Git tree id) or None when not addressable."""
        ...

    def kind(self, path: str) -> EntryKind | None: ...

    def read(self, path: str) -> bytes:
        """Raise FileNotFoundError if no file is there (a directory is not a file)."""
        ...

    def list_dir(self, path: str) -> list[str]:
        """Names of the entries of a directory, sorted; FileNotFoundError if not a directory."""
        ...


def walk_files(tree: SourceTree, directory: str = "") -> Iterator[str]:
    """Every file under `directory` (files of a directory before its subdirectories; .git
    skipped); a missing directory yields nothing."""
    pending = [normalize(directory)]
    while pending:
        current = pending.pop()
        try:
            names = tree.list_dir(current)
        except FileNotFoundError:
            continue
        subdirs = []
        for name in names:
            if name == ".git":
                continue
            path = f"{current}/{name}" if current else name
            kind = tree.kind(path)
            if kind == "file":
                yield path
            elif kind == "dir":
                subdirs.append(path)
        pending.extend(reversed(subdirs))


class DictTree:
    """An in-memory tree: {'base/a.yaml': b'...'}; directories are implied by file paths."""

    def __init__(self, files: dict[str, bytes], cache_key: str | None = None) -> None:
        self._files = {normalize(p): data for p, data in files.items()}
        self._dirs: dict[str, set[str]] = {"": set()}
        for p in self._files:
            parts = p.split("/")
            for i in range(len(parts)):
                parent = "/".join(parts[:i])
                self._dirs.setdefault(parent, set()).add(parts[i])
        self._cache_key = cache_key

    @property
    def cache_key(self) -> str | None:
        return self._cache_key

    def kind(self, path: str) -> EntryKind | None:
        p = normalize(path)
        if p in self._files:
            return "file"
        if p in self._dirs:
            return "dir"
        return None

    def read(self, path: str) -> bytes:
        p = normalize(path)
        if p not in self._files:
            raise FileNotFoundError(path)
        return self._files[p]

    def list_dir(self, path: str) -> list[str]:
        p = normalize(path)
        if p not in self._dirs:
            raise FileNotFoundError(path)
        return sorted(self._dirs[p])


class WorkTree:
    """The files on disk under a directory, including uncommitted ones (for --worktree)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    @property
    def cache_key(self) -> str | None:
        return None

    def _abs(self, path: str) -> Path:
        """Git never follows a symlink inside a tree, so the work tree view does not either."""
        norm = normalize(path)
        if not norm:
            return self.root
        current = self.root
        for part in norm.split("/")[:-1]:
            current = current / part
            if current.is_symlink():
                raise FileNotFoundError(f"{path} (goes through symlink {norm!r})")
        return self.root / norm

    def kind(self, path: str) -> EntryKind | None:
        try:
            p = self._abs(path)
        except FileNotFoundError:
            return None
        if p.is_symlink():
            return "symlink"
        if p.is_dir():
            return "dir"
        if p.is_file():
            return "file"
        return None

    def read(self, path: str) -> bytes:
        p = self._abs(path)
        if p.is_symlink() or not p.is_file():
            raise FileNotFoundError(path)
        return p.read_bytes()

    def list_dir(self, path: str) -> list[str]:
        p = self._abs(path)
        if not p.is_dir() or p.is_symlink():
            raise FileNotFoundError(path)
        return sorted(n for n in os.listdir(p) if not (normalize(path) == "" and n == ".git"))
