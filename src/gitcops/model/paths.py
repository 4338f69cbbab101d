"""Paths into the repository, as users write them: relative, and never leaving it."""

import posixpath


class PathOutsideError(ValueError):
    """A path that is absolute or climbs out of the repository."""


def normalize(path: str) -> str:
    """Normalise a repository-relative POSIX path; '' is the root. Rejects escapes."""
    norm = posixpath.normpath(path.replace("\\", "/")) if path not in ("", ".") else ""
    if norm == ".":
        norm = ""
    if norm.startswith("/"):
        raise PathOutsideError(f"{path!r} is absolute; paths are relative to the repository root")
    if norm == ".." or norm.startswith("../"):
        raise PathOutsideError(f"{path!r} leaves the repository")
    return norm


def path_problem(path: str) -> str | None:
    """What is wrong with a path a user wrote into the repository, or None."""
    # A drive letter would be a directory named "C:" here, but it surely means Windows'.
    if len(path) > 2 and path[1] == ":" and path[2] in "/\\" and path[0].isalpha():
        return f"{path!r} is absolute; paths are relative to the repository root"
    try:
        normalize(path)
    except PathOutsideError as exc:
        return str(exc)
    return None
