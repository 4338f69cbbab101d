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
from typing import Any

import pygit2

from gitcops.model.errors import SourceError
from gitcops.source.tree import EntryKind, normalize

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
    """The files of one commit, read from the object database."""

    def __init__(self, repo: pygit2.Repository, tree: Any) -> None:
        self._repo = repo
        self._root = tree

    @property
    def cache_key(self) -> str | None:
        return str(self._root.id)

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
        if entry.filemode == pygit2.GIT_FILEMODE_TREE:
            return "dir"
        if entry.filemode == pygit2.GIT_FILEMODE_LINK:
            return "symlink"
        if entry.filemode == pygit2.GIT_FILEMODE_COMMIT:
            return None
        return "file"

    def read(self, path: str) -> bytes:
        entry = self._entry(path)
        if entry is None or entry.filemode in (
            pygit2.GIT_FILEMODE_TREE,
            pygit2.GIT_FILEMODE_LINK,
            pygit2.GIT_FILEMODE_COMMIT,
        ):
            raise FileNotFoundError(path)
        data: bytes = self._repo[entry.id].read_raw()
        return data

    def list_dir(self, path: str) -> list[str]:
        if not normalize(path):
            tree = self._root
        else:
            entry = self._entry(path)
            if entry is None or entry.filemode != pygit2.GIT_FILEMODE_TREE:
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


class Source:
    """One repository: a local path (work tree or bare) or a remote URL mirrored in the cache."""

    def __init__(self, location: str, cache_dir: Path) -> None:
        self.location = redact(location)  # for messages; the real URL is only given to git
        self.remote = is_remote(location)
        if self.remote:
            path = _mirror_path(cache_dir, location)
            _fetch(location, path)
            self.workdir: Path | None = None
        else:
            path = Path(location).expanduser().resolve()
            if not path.exists():
                raise SourceError(f"repository {location}: no such directory")
        try:
            self.repo = pygit2.Repository(str(path))
        except pygit2.GitError as exc:
            raise SourceError(f"repository {self.location}: not a Git repository") from exc
        if not self.remote:
            self.workdir = Path(self.repo.workdir) if self.repo.workdir else None

    def resolve(self, rev: str | None) -> Revision:
        wanted = rev or "HEAD"
        candidates = [wanted]
        if self.remote and wanted == "HEAD":
            candidates = ["refs/remotes/origin/HEAD", "HEAD"]
        obj = None
        for candidate in candidates:
            try:
                obj = self.repo.revparse_single(candidate)
                break
            except (KeyError, ValueError, pygit2.GitError):
                continue
        if obj is None:
            if wanted == "HEAD":
                raise SourceError(f"repository {self.location} has no commits yet")
            raise SourceError(
                f"revision {wanted!r} does not exist in {self.location} "
                "(not a branch, tag or commit)"
            )
        try:
            commit = obj.peel(pygit2.Commit)
        except (ValueError, pygit2.GitError) as exc:
            raise SourceError(f"revision {wanted!r} does not name a commit") from exc
        return Revision(
            requested=wanted,
            commit=str(commit.id),
            tree=str(commit.tree_id),
            author=f"{commit.author.name} <{commit.author.email}>",
            message=commit.message.strip().splitlines()[0] if commit.message.strip() else "",
            committed_at=int(commit.commit_time),
        )

    def tree(self, revision: Revision) -> GitTree:
        commit = self.repo.get(revision.commit)
        if commit is None:
            raise SourceError(f"commit {revision.commit} is not in {self.location}")
        return GitTree(self.repo, commit.peel(pygit2.Commit).tree)

    def is_ancestor(self, older: str, newer: str) -> bool:
        try:
            return bool(self.repo.descendant_of(newer, older)) or older == newer
        except (KeyError, ValueError, pygit2.GitError):
            return False
