"""The Runtime: memos bounded, what it opens closed, forks only when alone."""

from __future__ import annotations

import threading
from pathlib import Path

from gitcops.engine.runtime import MEMO_SIZE, Runtime


def test_memo_builds_once_and_drops_the_least_recently_used(tmp_path: Path) -> None:
    built: list[int] = []
    with Runtime(cache_dir=tmp_path) as rt:

        def build(n: int) -> int:
            built.append(n)
            return n * 10

        assert rt.memo(("k", 0), lambda: build(0)) == 0
        assert rt.memo(("k", 0), lambda: build(0)) == 0
        for n in range(1, MEMO_SIZE + 1):
            rt.memo(("k", n), lambda n=n: build(n))  # type: ignore[misc]
        assert rt.memo(("k", MEMO_SIZE), lambda: build(-1)) == MEMO_SIZE * 10
        rt.memo(("k", 0), lambda: build(0))  # the oldest was dropped: built again
    assert built == [0, *range(1, MEMO_SIZE + 1), 0]


def test_no_fork_beside_another_thread(tmp_path: Path) -> None:
    with Runtime(cache_dir=tmp_path) as rt:
        assert rt.may_fork()
        assert rt.policy_workers(100_000) >= 1
        hold = threading.Event()
        other = threading.Thread(target=hold.wait)
        other.start()
        try:
            assert not rt.may_fork()
            assert rt.policy_workers(100_000) == 1
            assert rt.fork_worker(lambda request: request) is None
        finally:
            hold.set()
            other.join()
        assert rt.stats["processes forked"] == 0
    with Runtime(cache_dir=tmp_path, forking=False) as rt:
        assert not rt.may_fork()


def test_close_cancels_children_and_is_idempotent(tmp_path: Path) -> None:
    rt = Runtime(cache_dir=tmp_path)
    worker = rt.fork_worker(lambda request: request, prepare=lambda: threading.Event().wait(30))
    assert worker is not None
    rt.close()
    rt.close()
    worker.submit(7)
    assert worker.result() == 7  # computed here: the child was stopped


def test_without_cache_nothing_is_kept(tmp_path: Path) -> None:
    with Runtime(cache_dir=tmp_path / "cache", caching=False) as rt:
        assert rt.cache is None
        mirrors = rt.mirrors
        assert mirrors.exists()
    assert not mirrors.exists()
    assert not (tmp_path / "cache").exists()
