"""The Runtime: the one object per process that owns what makes gitcops fast, and what it opens.

Every speed device lives here, never in the stages: the cache directory (rendered sets, parsed
and prepared documents, policy findings, project files, secret-scan results), the secret
scanner's detectors and the child process forked to load them early, the worker count of the
policy engine, compiled policy bundles, and the garbage collector's thresholds. It also owns,
and closes, the repositories (their `git cat-file` processes), state stores and providers it
opened. The stages take what they need as arguments: with the cache off, cold, warm, or warmed
by another project, every command gives the same answer.

Threads: a Runtime may be used from several threads at once. Rego evaluation is serialised (one
lock: rego-cpp is not known to be safe across threads), the scanner's detectors are built once
under a lock, and the opened-resources registries are locked. It never forks a process that runs
other threads (a forked child would inherit their locks in whatever state they were): the
scanner's early child and the policy workers are only forked while this is the only thread;
otherwise the same work runs here, with the same result.

Functions that are pure memos of their arguments (a path normalised, a dependency list
serialised) keep their own small caches: those cannot change an answer.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import tempfile
import threading
import weakref
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import platformdirs

from gitcops.engine.cache import Cache

if TYPE_CHECKING:
    from gitcops.engine.forked import ForkedWorker
    from gitcops.source.git import Source
    from gitcops.state.store import StateStore
    from gitcops.validate.secretscan import SecretScanner

T = TypeVar("T")

NO_CACHE_ENV = "GITCOPS_NO_CACHE"
CACHE_DIR_ENV = "GITCOPS_CACHE_DIR"
STATE_ENV = "GITCOPS_STATE"
POLICY_WORKERS_ENV = "GITCOPS_POLICY_WORKERS"
# Batches with fewer (document, namespace) evaluations than this stay in one process.
PARALLEL_MIN_WORK = 1000
MEMO_SIZE = 16  # compiled policy bundles kept


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV) or platformdirs.user_cache_dir("gitcops"))


def default_state_location() -> str:
    return os.environ.get(STATE_ENV) or str(
        Path(platformdirs.user_state_dir("gitcops")) / "state.db"
    )


def caching_disabled_by_environment() -> bool:
    return os.environ.get(NO_CACHE_ENV, "").strip().lower() not in ("", "0", "false", "no")


class Runtime:
    """Create one per process (`with Runtime() as rt:`) and pass it to the engine's functions.

    `cache_dir`: where answers are kept between runs (default `$GITCOPS_CACHE_DIR` or the
    user's cache directory); `caching=False` (or `GITCOPS_NO_CACHE=1`) keeps nothing: remote
    repositories are then fetched into a temporary directory removed on close. `forking=False`
    keeps all work in this process. `tune_gc` raises the collector's thresholds while open (a
    run allocates many small acyclic objects; frequent passes over them cost more than they
    reclaim): for a process that does little else.
    """

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        caching: bool | None = None,
        forking: bool = True,
        tune_gc: bool = False,
    ) -> None:
        if caching is None:
            caching = not caching_disabled_by_environment()
        self._temp: tempfile.TemporaryDirectory[str] | None = None
        self.stats: Counter[str] = Counter()  # work done, by kind: what a cache saved shows here
        self._stats_lock = threading.Lock()
        if caching:
            self.cache: Cache | None = Cache(cache_dir or default_cache_dir(), self.count)
            self.mirrors = self.cache.directory
        else:
            self.cache = None
            self._temp = tempfile.TemporaryDirectory(prefix="gitcops-")
            self.mirrors = Path(self._temp.name)
        self.forking = forking and hasattr(os, "fork") and sys.platform.startswith("linux")
        self._lock = threading.RLock()
        self.policy_lock = threading.Lock()
        self._sources: dict[str, Source] = {}
        self._stores: dict[str, StateStore] = {}
        self._closers: list[Callable[[], None]] = []
        self._memo: OrderedDict[Hashable, Any] = OrderedDict()
        self._scanner: SecretScanner | None = None
        self._workers: weakref.WeakSet[ForkedWorker[Any, Any]] = weakref.WeakSet()
        self._gc_before: tuple[int, int, int] | None = None
        if tune_gc:
            self._gc_before = gc.get_threshold()
            gc.set_threshold(100_000, 50, 100)
        self.closed = False

    # -- lifetime ------------------------------------------------------------------------------

    def __enter__(self) -> Runtime:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close what this Runtime opened: sources, stores, workers. Safe to call twice."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            closers, self._closers = self._closers, []
            sources, self._sources = list(self._sources.values()), {}
            stores, self._stores = list(self._stores.values()), {}
            self._memo.clear()
            workers, self._workers = list(self._workers), weakref.WeakSet()
        for worker in workers:
            worker.cancel()
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                close()
        for source in sources:
            source.close()
        for store in stores:
            with contextlib.suppress(Exception):
                store.close()
        if self._temp is not None:
            self._temp.cleanup()
        if self._gc_before is not None:
            gc.set_threshold(*self._gc_before)

    def on_close(self, close: Callable[[], None]) -> None:
        with self._lock:
            self._closers.append(close)

    def forget_closer(self, close: Callable[[], None]) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._closers.remove(close)

    def count(self, what: str, n: int = 1) -> None:
        """Record work done (documents parsed, policies evaluated, processes forked...)."""
        with self._stats_lock:
            self.stats[what] += n

    # -- what it opens -------------------------------------------------------------------------

    def source(self, location: str, *, fetch: bool = True) -> Source:
        """The repository at `location` (path or URL), opened (a remote fetched) once.
        `fetch=False`: a remote mirror fetched by an earlier process is used as it is."""
        from gitcops.source.git import Source

        with self._lock:
            found = self._sources.get(location)
            if found is None:
                found = self._sources[location] = Source(location, self.mirrors, fetch=fetch)
            return found

    def store(self, location: str | None = None) -> StateStore:
        """The state store at `location` (default: `$GITCOPS_STATE` or the user's)."""
        from gitcops.state.sqlite import open_store

        where = location or default_state_location()
        with self._lock:
            found = self._stores.get(where)
            if found is None:
                found = self._stores[where] = open_store(where)
            return found

    # -- speed devices -------------------------------------------------------------------------

    def may_fork(self) -> bool:
        """Whether forking now is safe: allowed, and no other thread runs in this process."""
        return self.forking and threading.active_count() == 1

    def policy_workers(self, work: int) -> int:
        """How many processes should evaluate `work` (document x namespace) evaluations."""
        if work < PARALLEL_MIN_WORK or not self.may_fork():
            return 1
        try:
            count = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            count = os.cpu_count() or 1
        setting = os.environ.get(POLICY_WORKERS_ENV, "").strip()
        if setting:
            with contextlib.suppress(ValueError):
                count = min(count, max(1, int(setting)))
        return max(1, min(count, work // (PARALLEL_MIN_WORK // 4)))

    def memo(self, key: Hashable, build: Callable[[], T]) -> T:
        """A value computed once per Runtime for `key`, which must name all it depends on.
        The least recently used are dropped beyond MEMO_SIZE (a process that runs for days
        meets many revisions of its policies)."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]  # type: ignore[no-any-return]
        value = build()
        with self._lock:
            found = self._memo.setdefault(key, value)
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
            return found  # type: ignore[no-any-return]

    @property
    def scanner(self) -> SecretScanner:
        """The plaintext-secret scanner (detect-secrets' detectors, loaded when first needed)."""
        from gitcops.validate.secretscan import SecretScanner

        with self._lock:
            if self._scanner is None:
                cache = self.cache.directory / "secretscan" if self.cache is not None else None
                self._scanner = SecretScanner(cache)
            return self._scanner

    def fork_worker(
        self, compute: Callable[[Any], T], prepare: Callable[[], object] | None = None
    ) -> ForkedWorker[Any, T] | None:
        """A child forked now to compute one request, or None where forking is not safe."""
        if not self.may_fork():
            return None
        from gitcops.engine.forked import ForkedWorker

        worker: ForkedWorker[Any, T] = ForkedWorker(compute, prepare)
        self.count("processes forked")
        with self._lock:
            self._workers.add(worker)  # weakly: a worker done with is no concern of close()
        return worker

    @contextlib.contextmanager
    def serialised_policy(self) -> Iterator[None]:
        with self.policy_lock:
            yield
