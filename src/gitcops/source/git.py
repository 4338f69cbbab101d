"""Revisions straight from Git objects (git CLI), local or fetched from a remote; no checkout."""

import hashlib
import os
import re
import shutil
import subprocess
import threading
import urllib.parse
from pathlib import Path
from typing import NamedTuple

from gitcops.model.errors import SourceError
from gitcops.model.paths import normalize
from gitcops.source.tree import EntryKind

# Git's tree entry modes.
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


class Revision(NamedTuple):
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


class ObjectReader:
    """Objects of one repository through a single `git cat-file --batch` process.

    Faster to start than loading a Git library (~5 ms against ~55 ms for pygit2), and a run
    answered from the render cache never starts it at all.
    """

    def __init__(self, git_dir: Path) -> None:
        self._git_dir = git_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def read(self, oid: str) -> tuple[str, bytes]:
        """(type, content) of an object; KeyError if the repository does not have it."""
        with self._lock:
            process = self._start()
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(oid.encode("ascii") + b"\n")
            process.stdin.flush()
            header = process.stdout.readline().split()
            if len(header) != 3:  # "<oid> missing", or the process died
                raise KeyError(oid)
            size = int(header[2])
            data = process.stdout.read(size)
            process.stdout.read(1)  # the newline after each object
            if len(data) != size:
                raise SourceError(f"git cat-file ended early reading {oid} in {self._git_dir}")
            return header[1].decode("ascii"), data

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                ["git", f"--git-dir={self._git_dir}", "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        return self._process

    def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.stdin is not None:
            process.stdin.close()
            process.wait()


class _Entry(NamedTuple):
    mode: int
    oid: str


def parse_tree(data: bytes, oid_size: int) -> dict[str, _Entry]:
    """Git's tree format: `<octal mode> <name>\\0<raw object id>`, repeated."""
    entries: dict[str, _Entry] = {}
    at = 0
    while at < len(data):
        space = data.index(b" ", at)
        nul = data.index(b"\0", space)
        mode = int(data[at:space], 8)
        name = data[space + 1 : nul].decode("utf-8", "surrogateescape")
        entries[name] = _Entry(mode, data[nul + 1 : nul + 1 + oid_size].hex())
        at = nul + 1 + oid_size
    return entries


class GitTree:
    """The files of one commit, read from the object database when first asked for."""

    def __init__(self, source: "Source", revision: Revision) -> None:
        self._source = source
        self._revision = revision
        self._trees: dict[str, dict[str, _Entry]] = {}
        self._oid_size = len(revision.tree) // 2  # SHA-1 or SHA-256 repositories

    @property
    def cache_key(self) -> str | None:
        return self._revision.tree

    def _tree(self, oid: str) -> dict[str, _Entry]:
        entries = self._trees.get(oid)
        if entries is None:
            try:
                kind, data = self._source.objects.read(oid)
            except KeyError:
                raise SourceError(
                    f"commit {self._revision.commit} is not complete in {self._source.location}"
                ) from None
            if kind != "tree":
                raise SourceError(f"object {oid} in {self._source.location} is not a tree")
            entries = self._trees[oid] = parse_tree(data, self._oid_size)
        return entries

    def _entry(self, path: str) -> _Entry | None:
        norm = normalize(path)
        if not norm:
            return None
        entry = _Entry(_MODE_TREE, self._revision.tree)
        for part in norm.split("/"):
            if entry.mode != _MODE_TREE:
                return None
            found = self._tree(entry.oid).get(part)
            if found is None:
                return None
            entry = found
        return entry

    def kind(self, path: str) -> EntryKind | None:
        if not normalize(path):
            return "dir"
        entry = self._entry(path)
        if entry is None:
            return None
        if entry.mode == _MODE_TREE:
            return "dir"
        if entry.mode == _MODE_LINK:
            return "symlink"
        if entry.mode == _MODE_COMMIT:
            return None
        return "file"

    def read(self, path: str) -> bytes:
        entry = self._entry(path)
        if entry is None or entry.mode in (_MODE_TREE, _MODE_LINK, _MODE_COMMIT):
            raise FileNotFoundError(path)
        return self._source.objects.read(entry.oid)[1]

    def list_dir(self, path: str) -> list[str]:
        if not normalize(path):
            oid = self._revision.tree
        else:
            entry = self._entry(path)
            if entry is None or entry.mode != _MODE_TREE:
                raise FileNotFoundError(path)
            oid = entry.oid
        return sorted(self._tree(oid))


def _mirror_path(cache_dir: Path, url: str) -> Path:
    digest = hashlib.sha256(url.encode()).hexdigest()[:24]
    return cache_dir / "repos" / f"{digest}.git"


# Where the mirror keeps the remote's HEAD: absent when the remote's HEAD names no branch.
_REMOTE_HEAD = "refs/remotes/origin/HEAD"
# Notes too: signed approvals travel under refs/notes/gitcops-approvals (docs/approvals.md).
_BRANCHES_AND_TAGS = (
    "+refs/heads/*:refs/heads/*",
    "+refs/tags/*:refs/tags/*",
    "+refs/notes/*:refs/notes/*",
)


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
    fetch = ["-C", str(mirror), "fetch", "--quiet", "--prune", "--force", url]
    done = _run_git([*fetch, f"+HEAD:{_REMOTE_HEAD}", *_BRANCHES_AND_TAGS])
    if done.returncode == 0:
        return
    if "couldn't find remote ref HEAD" not in done.stderr:
        raise SourceError(f"cannot fetch {redact(url)}: {_reason(done.stderr, url)}")
    # The remote's HEAD names a branch it does not have (a bare repository whose HEAD is
    # master that only ever got main), or it has no commits: its branches, tags and commits
    # can still be read with --rev. A HEAD recorded by an earlier fetch no longer holds.
    _git(["-C", str(mirror), "update-ref", "-d", _REMOTE_HEAD])
    _git([*fetch, *_BRANCHES_AND_TAGS], what=f"cannot fetch {redact(url)}", url=url)


def _run_git(args: list[str]) -> subprocess.CompletedProcess[str]:
    # Git's own messages in English: _fetch looks for one of them.
    return subprocess.run(
        ["git", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LC_ALL": "C"},
    )


def _git(args: list[str], what: str = "git", url: str = "") -> None:
    done = _run_git(args)
    if done.returncode != 0:
        raise SourceError(f"{what}: {_reason(done.stderr, url)}")


# What git adds after "Could not read from remote repository.": the advice is ours instead.
_ADVICE = ("Please make sure you have the correct access rights", "and the repository exists.")
_UNREADABLE = "Could not read from remote repository"


def _reason(stderr: str, url: str = "") -> str:
    """Git's lines that say what failed ("ssh: connect to host ...: Connection refused",
    "'/x' does not appear to be a git repository"), joined, with credentials hidden."""
    kept: list[str] = []
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line or line in _ADVICE or line.startswith("hint:"):
            continue
        line = line.removeprefix("fatal: ").removeprefix("error: ")
        if line.rstrip(".") == _UNREADABLE:
            line = f"{_UNREADABLE} (check the URL, network and credentials)"
        kept.append(line)
    return _hide_credentials("; ".join(dict.fromkeys(kept)) or "git failed", url)


def _hide_credentials(text: str, url: str) -> str:
    text = re.sub(r"://[^/@\s]+@", "://***@", text)
    parts = urllib.parse.urlsplit(url)
    # A token is often given as the user name of an https URL; over ssh the user is not secret.
    secrets = [parts.password, parts.username if parts.scheme in ("http", "https") else None]
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***").replace(urllib.parse.unquote(secret), "***")
    return text


_FORMAT = "%H%x00%T%x00%an <%ae>%x00%ct%x00%s"


class Source:
    """One repository: a local path (work tree or bare) or a remote URL mirrored in the cache.

    Revisions are resolved with the git CLI (one process, a few milliseconds); objects are read
    through `git cat-file`, started only when a tree is actually read, which a run answered
    from the render cache never does.
    """

    def __init__(self, location: str, cache_dir: Path, *, fetch: bool = True) -> None:
        """`fetch=False`: a remote's mirror fetched before is used as it is (fetched only if
        there is none yet); `fetch()` updates it later."""
        self.location = redact(location)  # for messages; the real URL is only given to git
        self.remote = is_remote(location)
        self.workdir: Path | None = None
        self._url = location if self.remote else ""  # in memory only, never written
        if self.remote:
            self.git_dir = _mirror_path(cache_dir, location)
            if fetch or not self.git_dir.exists():
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
        self.objects = ObjectReader(self.git_dir)

    def resolve(self, rev: str | None) -> Revision:
        wanted = rev or "HEAD"
        # A mirror's own HEAD is whatever `git init` chose, not the remote's: never used.
        candidates = [_REMOTE_HEAD if self.remote and wanted == "HEAD" else wanted]
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
            branches = self._branches() if self.remote else []
            if branches:
                raise SourceError(
                    f"{self.location}: the remote's HEAD names a branch that does not exist; pass "
                    f"--rev with a branch, tag or commit (its branches: {', '.join(branches)})"
                )
            raise SourceError(f"repository {self.location} has no commits yet")
        raise SourceError(
            f"revision {wanted!r} does not exist in {self.location} (not a branch, tag or commit)"
        )

    def _branches(self) -> list[str]:
        done = _run_git(
            [f"--git-dir={self.git_dir}", "for-each-ref", "--format=%(refname:short)", "refs/heads"]
        )
        return done.stdout.split()

    def tree(self, revision: Revision) -> GitTree:
        return GitTree(self, revision)

    def fetch(self) -> None:
        """Bring a remote's mirror up to date (a local repository is always current)."""
        if not self.remote:
            return
        _fetch(self._url, self.git_dir)
        self.objects.close()  # restarted on the next read: it then sees the new packs

    def branch_head(self, branch: str | None) -> Revision:
        """The commit a branch points at (None: the repository's, or the remote's, HEAD)."""
        if branch is None:
            return self.resolve(None)
        try:
            return self.resolve(f"refs/heads/{branch}")
        except SourceError:
            raise SourceError(f"branch {branch!r} does not exist in {self.location}") from None

    def head_branch(self) -> str | None:
        """The branch HEAD names (for a remote, its HEAD, asked once); None when detached or
        when the remote cannot say."""
        if self.remote:
            done = _run_git(["ls-remote", "--symref", self._url, "HEAD"])
            for line in done.stdout.splitlines():
                ref, _, name = line.partition("\t")
                if name == "HEAD" and ref.startswith("ref: refs/heads/"):
                    return ref.removeprefix("ref: refs/heads/")
            return None
        done = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", "symbolic-ref", "--quiet", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        )
        name = done.stdout.strip()
        return name.removeprefix("refs/heads/") if name.startswith("refs/heads/") else None

    def has_commits(self) -> bool:
        done = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", "rev-list", "-n", "1", "--all"],
            capture_output=True,
            text=True,
            check=False,
        )
        return bool(done.stdout.strip())

    def close(self) -> None:
        """Stop the object reader's `git cat-file` process (started again if needed)."""
        self.objects.close()
