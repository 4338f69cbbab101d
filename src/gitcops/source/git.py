"""Revisions straight from Git objects (pygit2), local or fetched from a remote; no checkout."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pygit2

from gitcops.model.errors import SourceError
from gitcops.source.tree import EntryKind, normalize

# Git's tree entry modes (pygit2.GIT_FILEMODE_*), spelled out to keep pygit2 out of import time.
_MODE_TREE = 0o040000
_MODE_LINK = 0o120000
_MODE_COMMIT = 0o160000
_REMOTE_PREFIXES = ("file://", "http://", "https://", "ssh://", "git://", "git@")


def is_remote(location: str) -> bool:
    return location.startswith(_REMOTE_PREFIXES)


def redact(location: str) -> str:
    """A URL fit for messages: credentials in it (user:token@) are never shown."""
    parts = urllib.parse.urlsplit(location)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{host}"))
    return location


@dataclass(frozen=True, slots=True)
class Revision:
    """A resolved commit: what was asked for and what it is."""

    requested: str
    commit: str
    tree: str
    author: str
    message: str
    committed_at: int

    @property
    def short(self) -> str:
        return self.commit[:12]


class GitTree:
    """The files of one commit, read from the object database when first asked for."""

    def __init__(self, source: Source, revision: Revision) -> None:
        self._source = source
        self._revision = revision
        self._tree: Any = None

    @property
    def cache_key(self) -> str | None:
        return self._revision.tree

    @property
    def _root(self) -> Any:
        if self._tree is None:
            import pygit2

            commit = self._source.repo.get(self._revision.commit)
            if commit is None:
                raise SourceError(
                    f"commit {self._revision.commit} is not in {self._source.location}"
                )
            self._tree = commit.peel(pygit2.Commit).tree
        return self._tree

    @property
    def _repo(self) -> Any:
        return self._source.repo

    def _entry(self, path: str) -> Any | None:
        norm = normalize(path)
        if not norm:
            return None
        try:
            return self._root[norm]
        except KeyError:
            return None

    def kind(self, path: str) -> EntryKind | None:
        if not normalize(path):
            return "dir"
        entry = self._entry(path)
        if entry is None:
            return None
        if entry.filemode == _MODE_TREE:
            return "dir"
        if entry.filemode == _MODE_LINK:
            return "symlink"
        if entry.filemode == _MODE_COMMIT:
            return None
        return "file"

    def read(self, path: str) -> bytes:
        entry = self._entry(path)
        if entry is None or entry.filemode in (
            _MODE_TREE,
            _MODE_LINK,
            _MODE_COMMIT,
        ):
            raise FileNotFoundError(path)
        data: bytes = self._repo[entry.id].read_raw()
        return data

    def list_dir(self, path: str) -> list[str]:
        if not normalize(path):
            tree = self._root
        else:
            entry = self._entry(path)
            if entry is None or entry.filemode != _MODE_TREE:
                raise FileNotFoundError(path)
            tree = self._repo[entry.id]
        return sorted(e.name for e in tree)


def _mirror_path(cache_dir: Path, url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:24]
    return cache_dir / "repos" / f"{digest}.git"


def _fetch(url: str, mirror: Path) -> None:
    """The git CLI fetches: it speaks every transport (dumb and smart http, ssh) and auth setup."""
    if not mirror.exists():
        # Built aside and renamed into place: concurrent or killed first fetches never leave a
        # half-made mirror behind.
        mirror.parent.mkdir(parents=True, exist_ok=True)
        temp = mirror.with_name(f".{mirror.name}.{os.getpid()}.tmp")
        shutil.rmtree(temp, ignore_errors=True)
        _git(["init", "--bare", "--quiet", str(temp)])
        try:
            temp.rename(mirror)
        except OSError:
            shutil.rmtree(temp, ignore_errors=True)
    # The URL is given each time rather than stored, so credentials in it stay out of config.
    _git(
        [
            "-C",
            str(mirror),
            "fetch",
            "--quiet",
            "--prune",
            "--force",
            url,
            "+HEAD:refs/remotes/origin/HEAD",
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ],
        what=f"fetch {redact(url)}",
    )


def _git(args: list[str], what: str = "git") -> None:
    done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        detail = re.sub(r"://[^/@\s]+@", "://***@", detail)
        raise SourceError(f"{what}: {detail}")


_FORMAT = "%H%x00%T%x00%an <%ae>%x00%ct%x00%s"


class Source:
    """One repository: a local path (work tree or bare) or a remote URL mirrored in the cache.

    Revisions are resolved with the git CLI (one process, a few milliseconds); pygit2 is only
    loaded when a tree is actually read, which a run answered from the render cache never does.
    """

    def __init__(self, location: str, cache_dir: Path) -> None:
        self.location = redact(location)  # for messages; the real URL is only given to git
        self.remote = is_remote(location)
        self.workdir: Path | None = None
        if self.remote:
            self.git_dir = _mirror_path(cache_dir, location)
            _fetch(location, self.git_dir)
        else:
            path = Path(location).expanduser().resolve()
            if not path.exists():
                raise SourceError(f"repository {self.location}: no such directory")
            done = subprocess.run(
                [
                    "git",
                    "-C",
                    str(path),
                    "rev-parse",
                    "--absolute-git-dir",
                    "--is-bare-repository",
                    "--show-toplevel",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            lines = done.stdout.splitlines()
            if len(lines) < 2:
                raise SourceError(f"repository {self.location}: not a Git repository")
            self.git_dir = Path(lines[0])
            if lines[1] == "false" and len(lines) > 2:
                self.workdir = Path(lines[2])
        self._repo: Any = None

    @property
    def repo(self) -> pygit2.Repository:
        if self._repo is None:
            import pygit2

            try:
                self._repo = pygit2.Repository(str(self.git_dir))
            except pygit2.GitError as exc:
                raise SourceError(f"repository {self.location}: not a Git repository") from exc
        repo: pygit2.Repository = self._repo
        return repo

    def resolve(self, rev: str | None) -> Revision:
        wanted = rev or "HEAD"
        candidates = [wanted]
        if self.remote and wanted == "HEAD":
            candidates = ["refs/remotes/origin/HEAD", "HEAD"]
        for candidate in candidates:
            done = subprocess.run(
                [
                    "git",
                    f"--git-dir={self.git_dir}",
                    "log",
                    "-1",
                    "--no-walk",
                    f"--format={_FORMAT}",
                    "--end-of-options",
                    f"{candidate}^{{commit}}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            fields = done.stdout.rstrip("\n").split("\x00")
            if done.returncode == 0 and len(fields) == 5:
                commit, tree, author, when, subject = fields
                return Revision(wanted, commit, tree, author, subject, int(when))
        if wanted == "HEAD":
            raise SourceError(f"repository {self.location} has no commits yet")
        raise SourceError(
            f"revision {wanted!r} does not exist in {self.location} (not a branch, tag or commit)"
        )

    def tree(self, revision: Revision) -> GitTree:
        return GitTree(self, revision)
