"""Per-scope apply locks on lock files: the kernel drops them when a holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from gitcops.model.errors import LockedError, StateError


@contextlib.contextmanager
def file_lock(directory: Path, scope: str, timeout: float) -> Iterator[None]:
    name = hashlib.sha256(scope.encode()).hexdigest()[:16]
    path = directory / f"{name}.lock"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StateError(f"cannot take the lock of {scope} ({path}): {exc.strerror}") from exc
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockedError(_holder_message(path, scope)) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "since": time.time()}).encode())
        yield
    finally:
        os.close(fd)


def _holder_message(path: Path, scope: str) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    since = holder.get("since")
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "unknown time"
    return (
        f"environment {scope} is locked by another apply (pid {holder.get('pid', '?')}, "
        f"since {when}); retry later or pass --lock-timeout SECONDS to wait"
    )
