"""Work handed to a forked child: the same result as doing it here, whatever the child does."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from gitcops.engine.forked import ForkedWorker

T = TypeVar("T")


def forked(compute: Callable[[], T]) -> ForkedWorker[None, T]:
    """compute() in a child started now."""
    job: ForkedWorker[None, T] = ForkedWorker(lambda _: compute())
    job.submit(None)
    return job


pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


def test_the_result_comes_from_the_child() -> None:
    parent = os.getpid()
    job = forked(lambda: (os.getpid(), [1, 2, {"a": "b"}]))
    pid, value = job.result()
    assert pid != parent  # computed in the child
    assert value == [1, 2, {"a": "b"}]


def test_a_failing_child_is_redone_here_and_raises_here() -> None:
    parent = os.getpid()

    def compute() -> int:
        if os.getpid() != parent:
            raise RuntimeError("only in the child")
        return 42

    assert forked(compute).result() == 42

    def always() -> int:
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        forked(always).result()


def test_a_child_killed_midway_is_redone_here() -> None:
    parent = os.getpid()

    def compute() -> str:
        if os.getpid() != parent:
            os.kill(os.getpid(), 9)
        return "here"

    assert forked(compute).result() == "here"


def test_an_unpicklable_result_is_redone_here() -> None:
    parent = os.getpid()
    result = forked(lambda: (lambda: None) if os.getpid() != parent else "here").result()
    assert result == "here"


def test_cancel_stops_the_child() -> None:
    job = forked(lambda: time.sleep(30))
    pid = job._pid
    assert pid is not None
    started = time.monotonic()
    job.cancel()
    assert time.monotonic() - started < 5
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left behind


def test_output_pending_before_the_fork_is_not_written_twice(
    capfd: pytest.CaptureFixture[str],
) -> None:
    print("once", end="")
    forked(lambda: 1).result()
    assert capfd.readouterr().out == "once"


def test_submit_does_not_wait_for_the_child_to_get_ready() -> None:
    # A request far larger than a pipe's buffer, to a child still preparing for 1 s.
    request = "x" * (4 << 20)
    job: ForkedWorker[str, int] = ForkedWorker(len, prepare=lambda: time.sleep(1.0))
    started = time.monotonic()
    job.submit(request)
    assert time.monotonic() - started < 0.5
    assert job.result() == len(request)


def test_a_process_forked_after_submit_does_not_hold_the_child_up() -> None:
    # The policy engine forks its own workers while the request may still be on its way;
    # they inherit the pipe's writing end, so the child must not wait for end-of-file.
    job: ForkedWorker[str, int] = ForkedWorker(len, prepare=lambda: time.sleep(0.3))
    job.submit("y" * (1 << 20))
    sleeper = os.fork()
    if sleeper == 0:  # pragma: no cover - the other forked process
        time.sleep(30)
        os._exit(0)
    try:
        started = time.monotonic()
        assert job.result() == 1 << 20
        assert time.monotonic() - started < 10
    finally:
        os.kill(sleeper, 9)
        os.waitpid(sleeper, 0)


def test_a_request_larger_than_the_pipe_reaches_the_child_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # where the spilled request is written
    tempfile.tempdir = None  # read TMPDIR again
    try:
        parent = os.getpid()
        job: ForkedWorker[str, tuple[int, int]] = ForkedWorker(lambda r: (os.getpid(), len(r)))
        request = "z" * (3 << 20)
        job.submit(request)
        assert list(tmp_path.iterdir())  # handed over through a file, not the pipe
        pid, size = job.result()
        assert pid != parent and size == len(request)  # computed by the child
        assert not list(tmp_path.iterdir())
        cancelled: ForkedWorker[str, int] = ForkedWorker(len, prepare=lambda: time.sleep(30))
        cancelled.submit(request)
        cancelled.cancel()
        assert not list(tmp_path.iterdir())
    finally:
        tempfile.tempdir = None
