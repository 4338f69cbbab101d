"""Computations handed to a forked child while this process does something else.

Used where two CPU-bound jobs meet on a first run: the plaintext-secret scan (detect-secrets
takes ~0.2 s to import, then runs every detector over every spec value) runs beside rendering
and the Rego evaluation instead of after them. A child can be forked early to get ready
(`prepare`) before its input exists, and is then given one request. Requests and results go
through pipes, pickled. If fork is unavailable, or the child fails in any way, the work is
done again here, so errors surface exactly as they would without a child.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import signal
import sys
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

R = TypeVar("R")
T = TypeVar("T")


class ForkedWorker(Generic[R, T]):
    """A child forked now that runs `prepare()` (if given), then `compute(request)` once
    submitted."""

    def __init__(
        self, compute: Callable[[R], T], prepare: Callable[[], object] | None = None
    ) -> None:
        self._compute = compute
        self._request: tuple[R] | None = None
        self._pid: int | None = None
        self._send: int | None = None
        self._receive: int | None = None
        self._feeder: threading.Thread | None = None
        if not hasattr(os, "fork"):
            return
        request_read, request_write = os.pipe()
        result_read, result_write = os.pipe()
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
        self._pid, self._send, self._receive = pid, request_write, result_read
        atexit.register(self.cancel)  # not taken after all (a cached run, an error): stopped

    def submit(self, request: R) -> None:
        """Hand the request over; returns at once (a thread feeds the pipe)."""
        self._request = (request,)
        if self._send is None:
            return
        send, self._send = self._send, None
        try:
            payload = pickle.dumps(request)
        except (pickle.PicklingError, TypeError, AttributeError):
            os.close(send)  # the child gets nothing, fails, and result() computes here
            return
        # A request larger than the pipe's buffer (64 KiB) blocks the writer until the child
        # reads it, which it does only once `prepare` is done: this process goes on meanwhile.
        self._feeder = threading.Thread(target=_feed, args=(send, payload), daemon=True)
        self._feeder.start()

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
        if self._feeder is not None:
            self._feeder.join()  # done: the child answered (or died) after reading all of it
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and payload:
            with contextlib.suppress(Exception):
                return pickle.loads(payload)  # type: ignore[no-any-return]  # noqa: S301 - our child
        return self._compute(request)

    def cancel(self) -> None:
        """Stop the child, if the result is not wanted any more."""
        for fd in (self._send, self._receive):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._send = self._receive = None
        if self._pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self._pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(self._pid, 0)
            self._pid = None


def _feed(fd: int, payload: bytes) -> None:
    # Length first: the child cannot wait for end-of-file, as a process forked meanwhile (the
    # policy engine's) may hold a copy of this end of the pipe.
    with contextlib.suppress(OSError), os.fdopen(fd, "wb") as pipe:
        pipe.write(len(payload).to_bytes(8, "little") + payload)
        # a child that died makes this fail: result() computes here


def _child(
    prepare: Callable[[], object] | None, compute: Callable[[R], T], request: int, result: int
) -> None:  # pragma: no cover - runs in the child
    status = 0
    try:
        with contextlib.suppress(Exception):
            if prepare is not None:
                prepare()  # a failure shows again, where it matters: in compute or the parent
        with os.fdopen(request, "rb") as pipe:
            size = int.from_bytes(pipe.read(8), "little")
            payload = pipe.read(size)
            if len(payload) != size:
                raise EOFError("the request was cut short")
        answer = pickle.dumps(compute(pickle.loads(payload)))  # noqa: S301 - from our parent
        with os.fdopen(result, "wb") as pipe:
            pipe.write(answer)
    except BaseException:
        status = 1
    finally:
        os._exit(status)
