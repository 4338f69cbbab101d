"""A read-only view of a repository's files at one revision, whatever stores them."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from gitcops.model.errors import GitcopsError, SourceError
from gitcops.model.paths import normalize

EntryKind = Literal["file", "dir", "symlink"]


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


def read_if_present(tree: SourceTree, path: str | None) -> bytes | None:
    """The file's bytes; None when no path is given or no such file can be read."""
    if path is None:
        return None
    try:
        return tree.read(path)
    except (OSError, GitcopsError, KeyError):
        return None


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


class _Listing(NamedTuple):
    files: frozenset[str]  # tracked and untracked-but-not-ignored paths, as Git lists them
    dirs: dict[str, set[str]]  # directory -> names of the listed entries under it


def _git_listing(root: Path) -> _Listing | None:
    """What `git add --all` would take under root: one git process for the whole tree. None
    when root is not in a Git work tree (then nothing is ignored)."""
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},  # its messages in English: one is looked for below
    )
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        if "not a git repository" in message:
            return None
        raise SourceError(f"cannot list the files of the work tree {root}: {message}")
    files: set[str] = set()
    dirs: dict[str, set[str]] = {"": set()}
    for raw in done.stdout.split(b"\0"):
        # An untracked nested repository is listed as "dir/": Git would not commit its files.
        if not raw or raw.endswith(b"/"):
            continue
        path = os.fsdecode(raw)
        files.add(path)
        parent, _, name = path.rpartition("/")
        while True:
            names = dirs.setdefault(parent, set())
            known = bool(names)
            names.add(name)
            if not parent or known:
                break
            parent, _, name = parent.rpartition("/")
    return _Listing(frozenset(files), dirs)


class WorkTree:
    """The files on disk under a directory, uncommitted ones included (for --worktree): what
    Git would commit, so tracked files and untracked ones that .gitignore does not exclude."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._listing: _Listing | None = None
        self._listed = False

    @property
    def cache_key(self) -> str | None:
        return None

    def _git(self) -> _Listing | None:
        if not self._listed:
            self._listing = _git_listing(self.root)
            self._listed = True
        return self._listing

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
        listing = self._git()
        is_dir = p.is_dir() and not p.is_symlink()
        if listing is not None:
            norm = normalize(path)
            if norm in listing.dirs:
                return "dir" if is_dir else None
            # A listed path that is a directory on disk is a submodule or a file replaced
            # since: neither is a file Git would take from here, as GitTree sees it too.
            if norm not in listing.files or is_dir:
                return None
        if p.is_symlink():
            return "symlink"
        if is_dir:
            return "dir"
        if p.is_file():
            return "file"
        return None

    def read(self, path: str) -> bytes:
        p = self._abs(path)
        listing = self._git()
        if listing is not None and normalize(path) not in listing.files:
            raise FileNotFoundError(path)
        if p.is_symlink() or not p.is_file():
            raise FileNotFoundError(path)
        return p.read_bytes()

    def list_dir(self, path: str) -> list[str]:
        p = self._abs(path)
        if not p.is_dir() or p.is_symlink():
            raise FileNotFoundError(path)
        norm = normalize(path)
        listing = self._git()
        if listing is None:
            return sorted(n for n in os.listdir(p) if not (norm == "" and n == ".git"))
        names = listing.dirs.get(norm)
        if names is None:
            raise FileNotFoundError(path)
        # Tracked files deleted on disk are still in Git's index, not in the tree to commit.
        return sorted(n for n in names if os.path.lexists(p / n))
