"""A computation handed to a forked child while this process does something else.

Used where two CPU-bound jobs meet on a first run: the plaintext-secret scan (detect-secrets
takes ~0.2 s to import, then runs every detector over every spec value) runs beside the Rego
evaluation instead of after it. The child's result comes back pickled through a pipe. If
fork is unavailable, or the child fails in any way, the work is done again here, so errors
surface exactly as they would without a child.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Forked(Generic[T]):
    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._pid: int | None = None
        self._read: int | None = None
        if not hasattr(os, "fork"):
            return
        read, write = os.pipe()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # or the child would write this process's pending output again
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            os.close(read)
            self._child(write)
        os.close(write)
        self._pid, self._read = pid, read

    def _child(self, write: int) -> None:  # pragma: no cover - runs in the child
        status = 0
        try:
            payload = pickle.dumps(self._compute())
            with os.fdopen(write, "wb") as pipe:
                pipe.write(payload)
        except BaseException:
            status = 1
        finally:
            os._exit(status)

    def result(self) -> T:
        """The child's result, or the computation's, done here if the child gave none."""
        if self._pid is None or self._read is None:
            return self._compute()
        with os.fdopen(self._read, "rb") as pipe:
            self._read = None
            payload = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and payload:
            with contextlib.suppress(Exception):
                return pickle.loads(payload)  # type: ignore[no-any-return]  # noqa: S301 - our child
        return self._compute()

    def cancel(self) -> None:
        """Stop the child, if the result is not wanted any more."""
        if self._read is not None:
            os.close(self._read)
            self._read = None
        if self._pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(self._pid, 0)
            self._pid = None
