"""Crash-safe writes: a reader sees the old file or the new one, never a half-written one."""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Collection
from pathlib import Path

TEMP_MARKER = ".gitcops-tmp-"


def fsync_dir(directory: Path | str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: str, data: bytes, mode: int) -> None:
    """Atomic from the first rename on; durable once the caller fsyncs the directory.

    Raises FileNotFoundError when the directory does not exist (the caller creates it and
    tries again) and IsADirectoryError when `path` is a directory (never replaced)."""
    temp = write_temp(path, data, mode, durable=True)
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_temp(path: str, data: bytes, mode: int, *, durable: bool) -> str:
    """`data` in a new file beside `path` (its name returned), fsynced if `durable`.

    Raises FileNotFoundError when the directory does not exist."""
    temp, fd = _create_temp(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)  # created 0600: no one else reads it before it is complete
        if durable:
            os.fsync(fd)
        fd, opened = -1, fd
        os.close(opened)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return temp


def _create_temp(path: str) -> tuple[str, int]:
    """A new file beside `path`, under a name no reader looks for (swept by the next run)."""
    directory, name = os.path.split(path)
    # Room for the marker and the suffix within a 255-byte name; cut as bytes (a name's limit).
    name = os.fsdecode(os.fsencode(name)[:_NAME_KEPT])
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    # Process and counter make a name unique without a random draw (a system call) per file;
    # a leftover of a killed run under the same name makes O_EXCL fail: then a random one.
    temp = f"{directory}/{TEMP_MARKER}{name}.{_PID[0]}-{next(_SERIAL)}"
    try:
        return temp, os.open(temp, flags, 0o600)
    except FileExistsError:
        temp = f"{directory}/{TEMP_MARKER}{name}.{secrets.token_hex(8)}"
        return temp, os.open(temp, flags, 0o600)


_SERIAL = itertools.count()
_NAME_KEPT = 200
_PID = [os.getpid()]  # getpid is a system call each time; a forked child sets its own
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def write_symlink(path: Path, target: str) -> None:
    temp = path.with_name(f"{TEMP_MARKER}{path.name}.{secrets.token_hex(4)}")
    os.symlink(target, temp)
    os.replace(temp, path)


def sweep_temp_files(directory: Path | str, keep: Collection[str] = ()) -> int:
    """Remove temp files a killed run left behind; they were never visible under a real name.
    Names in `keep` (this run's staged files, waiting for their commit) stay."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        if entry.name.startswith(TEMP_MARKER) and entry.name not in keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed
