"""Work handed to a forked child: the same result as doing it here, whatever the child does."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
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
