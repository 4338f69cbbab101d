"""Files made durable and visible as a batch: one file-system sync instead of an fsync each.

A staged file is complete under a temp name beside its target. `commit` syncs each file system
holding staged files once (Linux `syncfs`), then renames every staged file into place. That is
the order an fsync per file gives (the content is durable before a name points at it), so a
crash still leaves the old file or the new one, never a half-written one; the temp files a
killed run leaves are swept by the next. For 1,000 files of 200 bytes on this project's test
machine, one syncfs took 0.01-0.035 s and 1,000 fsyncs 0.11-0.2 s.
"""

import contextlib
import errno
import os
import sys
from collections.abc import Callable
from typing import NamedTuple, Protocol

from gitcops.model.identity import ResourceId
from gitcops.providers.local.atomic import SystemCalls


class StagedFile(NamedTuple):
    id: ResourceId
    temp: str
    target: str
    rel: str  # for messages


class FileSystemSync(Protocol):
    """Linux syncfs(2): everything written to the file system holding `fd` made durable."""

    def syncfs(self, fd: int) -> int:
        """0, or -1 with the reason in errno()."""
        ...

    def errno(self) -> int: ...


class LibcSync:
    """The C library's syncfs, through ctypes."""

    def __init__(self, call: Callable[[int], int], get_errno: Callable[[], int]) -> None:
        self._call = call
        self._get_errno = get_errno

    def syncfs(self, fd: int) -> int:
        return self._call(fd)

    def errno(self) -> int:
        return self._get_errno()


def libc_sync() -> LibcSync | None:
    """The C library's syncfs, or None without one (not Linux, or a C library without it):
    then each file is written and fsynced at once. Called only when something is staged, as
    ctypes takes ~2 ms to import."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int]
    call.restype = ctypes.c_int
    return LibcSync(call, ctypes.get_errno)


def write_failure(rel: str, exc: OSError) -> str:
    """What a failed write of the file at `rel` says (staged or not)."""
    if isinstance(exc, IsADirectoryError):
        return f"{rel} is a directory; refusing to replace it by a file"
    return f"cannot write {rel}: {exc.strerror or exc}"


class StagedFiles:
    """The files written since the last commit, not yet under their names."""

    def __init__(self, sync: FileSystemSync, calls: SystemCalls) -> None:
        self._sync = sync
        self._calls = calls
        self._files: list[StagedFile] = []
        self.names: set[str] = set()  # the temp files' names, which no sweep may remove

    def add(self, file: StagedFile) -> None:
        self._files.append(file)
        self.names.add(os.path.basename(file.temp))

    def commit(self) -> dict[ResourceId, str]:
        """Make every staged file durable, then visible; returns the failures by id."""
        files = self._files
        if not files:
            return {}
        failures: dict[ResourceId, str] = {}
        done = 0
        try:
            try:
                _make_durable(files, self._sync, self._calls)
            except OSError as exc:
                reason = f"cannot make the write durable: {exc.strerror or exc}"
                return {f.id: reason for f in files}
            for file in files:
                try:
                    self._calls.replace(file.temp, file.target)
                except OSError as exc:
                    _remove([file])
                    failures[file.id] = write_failure(file.rel, exc)
                done += 1
        finally:
            # Interrupted or failed: what was not renamed never shows, nor stays behind.
            _remove(files[done:])
            self._files, self.names = [], set()
        return failures

    def discard(self) -> None:
        """Forget what was not committed (the run stopped): its temp files go."""
        files, self._files, self.names = self._files, [], set()
        _remove(files)


# What a sandbox or an old kernel answers when it does not let syncfs run at all: then each
# file is fsynced instead, as without staging. Any other error (EIO) fails the batch.
_REFUSED = frozenset({errno.ENOSYS, errno.EPERM, errno.EACCES, errno.EINVAL, errno.EOPNOTSUPP})


def _make_durable(files: list[StagedFile], sync: FileSystemSync, calls: SystemCalls) -> None:
    try:
        _sync_file_systems({os.path.dirname(f.temp) for f in files}, sync)
    except OSError as exc:
        if exc.errno not in _REFUSED:
            raise
        for file in files:
            fd = os.open(file.temp, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                calls.fsync(fd)
            finally:
                os.close(fd)


def _sync_file_systems(directories: set[str], sync: FileSystemSync) -> None:
    # One directory per file system: a subdirectory of the root may be another mount.
    by_device = {os.stat(d).st_dev: d for d in sorted(directories)}
    for directory in by_device.values():
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if sync.syncfs(fd) != 0:
                code = sync.errno()
                raise OSError(code, os.strerror(code))
        finally:
            os.close(fd)


def _remove(files: list[StagedFile]) -> None:
    for file in files:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(file.temp)
