"""Confinement: every managed path stays inside the provider root, symlinks included."""

from __future__ import annotations

import functools
import os
import posixpath
import re
import stat
from pathlib import Path

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # one scan in C: every path is checked several times


class PathEscapeError(ValueError):
    pass


@functools.lru_cache(maxsize=1 << 16)  # a pure function, asked about each path several times
def relative_path(path: str) -> str:
    """Check a spec path lexically and return it normalised ('etc/motd')."""
    if _CONTROL.search(path):
        raise PathEscapeError(f"{path!r} contains control characters")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise PathEscapeError(f"{path!r} is absolute; paths are relative to the provider root")
    norm = posixpath.normpath(path)
    if norm == ".." or norm.startswith("../"):
        raise PathEscapeError(f"{path!r} leaves the provider root")
    if norm in (".", ""):
        raise PathEscapeError(f"{path!r} names the provider root itself")
    return norm


def check_existing_components(root: Path, rel: str, *, include_last: bool) -> None:
    """Reject a path that reaches outside the root through a symlink already on disk."""
    parts = rel.split("/")
    current = str(root).rstrip("/")  # "" under the root "/": paths are "/etc", not "//etc"
    upto = parts if include_last else parts[:-1]
    for part in upto:
        current = f"{current}/{part}"
        try:
            mode = os.lstat(current).st_mode  # one call per component: writes do this per file
        except (OSError, ValueError):  # missing, under a file, unreadable: nothing beyond
            return
        if stat.S_ISLNK(mode):
            _check_link(root, current, rel)


def _check_link(root: Path, link: str, rel: str) -> None:
    resolved = Path(os.path.realpath(link))
    if resolved != root and root not in resolved.parents:
        raise PathEscapeError(
            f"{rel!r} goes through symlink {os.path.relpath(link, root)} "
            f"which points outside the provider root"
        )


class ParentCheck:
    """Memoised parent-directory checks: 10,000 files share a few hundred directories."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._safe: set[str] = set()

    def check(self, rel: str) -> None:
        parent = rel.rpartition("/")[0]  # rel is normalised (relative_path): its dirname
        if not parent or parent in self._safe:
            return
        check_existing_components(self.root, rel, include_last=False)
        self._safe.add(parent)

    def forget(self) -> None:
        self._safe.clear()


def climbs(target: str) -> bool:
    """Whether a relative link target starts by going up ('../x')."""
    return not target.startswith("/") and target.split("/", 1)[0] == ".."


def symlink_target_inside(root: Path, rel: str, target: str) -> None:
    """A managed symlink may only point at something inside the root, symlinks considered."""
    entered = False
    for part in target.split("/"):
        if part == "..":
            if entered:
                # 'a/..' lands wherever a's symlink chain says, not where the text says.
                raise PathEscapeError(
                    f"symlink target {target!r} steps back out of a directory it entered; "
                    "write it without 'dir/..'"
                )
        elif part not in ("", "."):
            entered = True
    if target.startswith("/"):
        resolved = Path(posixpath.normpath(target))
    else:
        resolved = Path(posixpath.normpath(str(root / posixpath.dirname(rel) / target)))
    if resolved != root and root not in resolved.parents:
        raise PathEscapeError(f"symlink target {target!r} points outside the provider root")
    if resolved != root:
        check_existing_components(root, str(resolved.relative_to(root)), include_last=True)
    if climbs(target):
        # '..' is taken from where the link really is: under a symlinked directory that is
        # somewhere else than the text of the path says.
        current = root
        for part in rel.split("/")[:-1]:
            current = current / part
            if current.is_symlink():
                raise PathEscapeError(
                    f"symlink target {target!r} climbs out of {current.relative_to(root)}, "
                    "which is itself a symlink"
                )
