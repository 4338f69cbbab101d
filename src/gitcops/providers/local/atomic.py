"""Crash-safe writes: a reader sees the old file or the new one, never a half-written one."""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

TEMP_MARKER = ".gitcops-tmp-"


@dataclass(frozen=True, slots=True)
class SystemCalls:
    """The system calls whose outcome decides a write's, which the provider holds instead of
    reaching them through `os`: a test hands it ones that fail or wait. The defaults are
    `os`'s own functions, so each call costs one attribute lookup more."""

    fsync: Callable[[int], None] = os.fsync
    replace: Callable[[str, str], None] = os.replace
    scandir: Callable[[str], Iterable[os.DirEntry[str]]] = os.scandir


OS_CALLS: Final = SystemCalls()


class TempNames:
    """Names for temp files beside their targets, unique within a process without a random
    draw (a system call) per file: the process id and a counter.

    A child forked while a provider exists starts with its parent's id and counter. A name
    both give is harmless while its file exists (O_EXCL makes the second creator take a
    random name); the harm is one process sweeping the other's temp file away and then
    creating its own under that name, which the other would rename into place. So the
    provider calls `renew` (one getpid) before each sweep and each batch of writes."""

    def __init__(self, *, pid: int | None = None, first: int = 0) -> None:
        self.pid = os.getpid() if pid is None else pid
        self._serial = itertools.count(first)

    def renew(self) -> None:
        self.pid = os.getpid()

    def next(self, path: str) -> str:
        return f"{_stem(path)}.{self.pid}-{next(self._serial)}"


def _stem(path: str) -> str:
    directory, name = os.path.split(path)
    # Room for the marker and the suffix within a 255-byte name; cut as bytes (a name's limit).
    name = os.fsdecode(os.fsencode(name)[:_NAME_KEPT])
    return f"{directory}/{TEMP_MARKER}{name}"


_NAME_KEPT = 200


def fsync_dir(directory: Path | str, calls: SystemCalls = OS_CALLS) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        calls.fsync(fd)
    finally:
        os.close(fd)


def write_file(
    path: str, data: bytes, mode: int, names: TempNames, calls: SystemCalls = OS_CALLS
) -> None:
    """Atomic from the first rename on; durable once the caller fsyncs the directory.

    Raises FileNotFoundError when the directory does not exist (the caller creates it and
    tries again) and IsADirectoryError when `path` is a directory (never replaced)."""
    temp = write_temp(path, data, mode, names, calls, durable=True)
    try:
        calls.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def write_temp(
    path: str,
    data: bytes,
    mode: int,
    names: TempNames,
    calls: SystemCalls = OS_CALLS,
    *,
    durable: bool,
) -> str:
    """`data` in a new file beside `path` (its name returned), fsynced if `durable`.

    Raises FileNotFoundError when the directory does not exist."""
    temp, fd = _create_temp(path, names)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)  # created 0600: no one else reads it before it is complete
        if durable:
            calls.fsync(fd)
        fd, opened = -1, fd
        os.close(opened)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    return temp


def _create_temp(path: str, names: TempNames) -> tuple[str, int]:
    """A new file beside `path`, under a name no reader looks for (swept by the next run)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    temp = names.next(path)
    try:
        return temp, os.open(temp, flags, 0o600)
    except FileExistsError:  # a leftover of a killed run under the same name
        temp = f"{_stem(path)}.{secrets.token_hex(8)}"
        return temp, os.open(temp, flags, 0o600)


def write_symlink(path: Path, target: str, calls: SystemCalls = OS_CALLS) -> None:
    temp = path.with_name(f"{TEMP_MARKER}{path.name}.{secrets.token_hex(4)}")
    os.symlink(target, temp)
    calls.replace(str(temp), str(path))


def sweep_temp_files(
    directory: Path | str, keep: Collection[str] = (), calls: SystemCalls = OS_CALLS
) -> int:
    """Remove temp files a killed run left behind; they were never visible under a real name.
    Names in `keep` (this run's staged files, waiting for their commit) stay."""
    removed = 0
    try:
        entries = list(calls.scandir(os.fspath(directory)))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        if entry.name.startswith(TEMP_MARKER) and entry.name not in keep:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed
