"""Computations handed to a forked child while this process does something else.

Used where two CPU-bound jobs meet on a first run: the plaintext-secret scan (detect-secrets
takes ~0.2 s to import, then runs every detector over every spec value) runs beside rendering
and the Rego evaluation instead of after them. A child can be forked early to get ready
(`prepare`) before its input exists, and is then given one request. Requests and results go
through pipes, pickled. If the child fails in any way, the work is done again here, so errors
surface exactly as they would without a child.

Only the Runtime forks one, and only while this process runs no other thread. Handing the
request over never starts one either, nor waits for the child: a request that fits in the pipe
is written into it; a larger one goes to a temporary file whose name goes into the pipe.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import signal
import sys
import tempfile
from collections.abc import Callable
from typing import Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")

# Linux lets an unprivileged process grow a pipe to /proc/sys/fs/pipe-max-size (1 MiB by
# default): a request that size is handed over without waiting for the child.
_PIPE_SIZE = 1 << 20
_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
_INLINE, _IN_FILE = b"D", b"F"  # how the request follows its header


class ForkedWorker(Generic[R, T]):
    """A child forked now that runs `prepare()` (if given), then `compute(request)` once
    submitted. Either `result()` or `cancel()` ends it; both are safe to call again."""

    def __init__(
        self, compute: Callable[[R], T], prepare: Callable[[], object] | None = None
    ) -> None:
        self._compute = compute
        self._request: tuple[R] | None = None
        self._spill: str | None = None  # the temporary file holding a large request
        request_read, request_write = os.pipe()
        result_read, result_write = os.pipe()
        try:
            self._capacity = fcntl.fcntl(request_write, _SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            self._capacity = 1 << 16
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # or the child would write this process's pending output again
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which never returns
            os.close(request_write)
            os.close(result_read)
            _child(prepare, compute, request_read, result_write)
        os.close(request_read)
        os.close(result_write)
        self._pid: int | None = pid
        self._send: int | None = request_write
        self._receive: int | None = result_read

    def submit(self, request: R) -> None:
        """Hand the request over; returns at once."""
        self._request = (request,)
        if self._send is None:
            return
        try:
            payload = pickle.dumps(request)
        except (pickle.PicklingError, TypeError, AttributeError):
            self._close_send()  # the child gets nothing, fails, and result() computes here
            return
        # Length first: the child cannot wait for end-of-file, as a process forked meanwhile
        # (the policy engine's) may hold a copy of this end of the pipe.
        kind = _INLINE
        if len(payload) + 9 > self._capacity:
            try:
                fd, self._spill = tempfile.mkstemp(prefix="gitcops-request-")
                with os.fdopen(fd, "wb") as spill:
                    spill.write(payload)
            except OSError:
                self._close_send()  # result() computes here
                return
            kind, payload = _IN_FILE, os.fsencode(self._spill)
        os.set_blocking(self._send, False)
        with contextlib.suppress(OSError):  # the child died: result() computes here
            os.write(self._send, kind + len(payload).to_bytes(8, "little") + payload)
        self._close_send()

    def result(self) -> T:
        """The child's result, or the computation's, done here if the child gave none."""
        if self._request is None:
            raise RuntimeError("result() before submit()")
        request = self._request[0]
        if self._pid is None or self._receive is None:
            return self._compute(request)
        receive, self._receive = self._receive, None
        with os.fdopen(receive, "rb") as pipe:
            payload = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        self._remove_spill()
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and payload:
            with contextlib.suppress(Exception):
                return pickle.loads(payload)  # type: ignore[no-any-return]  # noqa: S301 - our child
        return self._compute(request)

    def cancel(self) -> None:
        """Stop the child, if the result is not wanted any more."""
        self._close_send()
        if self._receive is not None:
            with contextlib.suppress(OSError):
                os.close(self._receive)
            self._receive = None
        if self._pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(self._pid, 0)
            self._pid = None
        self._remove_spill()

    def _remove_spill(self) -> None:
        if self._spill is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._spill)
            self._spill = None

    def _close_send(self) -> None:
        if self._send is not None:
            with contextlib.suppress(OSError):
                os.close(self._send)
            self._send = None


def _child(
    prepare: Callable[[], object] | None, compute: Callable[[R], T], request: int, result: int
) -> None:  # pragma: no cover - runs in the child
    status = 0
    try:
        with contextlib.suppress(Exception):
            if prepare is not None:
                prepare()  # a failure shows again, where it matters: in compute or the parent
        with os.fdopen(request, "rb") as pipe:
            kind = pipe.read(1)
            size = int.from_bytes(pipe.read(8), "little")
            payload = pipe.read(size)
            if len(payload) != size:
                raise EOFError("the request was cut short")
        if kind == _IN_FILE:
            with open(os.fsdecode(payload), "rb") as spill:
                payload = spill.read()
        answer = pickle.dumps(compute(pickle.loads(payload)))  # noqa: S301 - from our parent
        with os.fdopen(result, "wb") as pipe:
            pipe.write(answer)
    except BaseException:
        status = 1
    finally:
        os._exit(status)
