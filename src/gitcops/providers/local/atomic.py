"""Crash-safe writes: a reader sees the old file or the new one, never a half-written one."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

TEMP_MARKER = ".gitcops-tmp-"


def fsync_dir(directory: Path | str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, mode: int) -> None:
    """Atomic from the first rename on; durable once the caller fsyncs the directory."""
    temp = path.with_name(f"{TEMP_MARKER}{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    os.close(fd)
    os.replace(temp, path)


def write_symlink(path: Path, target: str) -> None:
    temp = path.with_name(f"{TEMP_MARKER}{path.name}.{secrets.token_hex(4)}")
    os.symlink(target, temp)
    os.replace(temp, path)


def sweep_temp_files(directory: Path) -> int:
    """Remove temp files a killed run left behind; they were never visible under a real name."""
    removed = 0
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    for entry in entries:
        if entry.name.startswith(TEMP_MARKER):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed += 1
    return removed
