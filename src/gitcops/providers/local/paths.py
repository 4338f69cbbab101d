"""Confinement: every managed path stays inside the provider root, symlinks included."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path


class PathEscapeError(ValueError):
    pass


def relative_path(path: str) -> str:
    """Check a spec path lexically and return it normalised ('etc/motd')."""
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
    current = root
    upto = parts if include_last else parts[:-1]
    for part in upto:
        current = current / part
        if current.is_symlink():
            resolved = Path(os.path.realpath(current))
            if resolved != root and root not in resolved.parents:
                raise PathEscapeError(
                    f"{rel!r} goes through symlink {current.relative_to(root)} "
                    f"which points outside the provider root"
                )
        elif not current.exists():
            return


def symlink_target_inside(root: Path, rel: str, target: str) -> None:
    """A managed symlink may only point at something inside the root."""
    if target.startswith("/"):
        resolved = Path(posixpath.normpath(target))
    else:
        resolved = Path(posixpath.normpath(str(root / posixpath.dirname(rel) / target)))
    if resolved != root and root not in resolved.parents:
        raise PathEscapeError(f"symlink target {target!r} points outside the provider root")
