"""Runs a plan's changes as a DAG on a bounded thread pool; results return to the caller's thread.

Creates and updates go in dependency order; prunes afterwards in reverse dependency order. A
failed change skips everything that (transitively) needs it; independent work goes on. The
writes of a `Staging` provider (local files) run on the caller's thread instead, and those it
stages are committed together whenever nothing else is ready to run.
"""

import functools
import queue
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple, cast

from gitcops.apply.changeset import Action, ChangeSet, ChangeSetEntry
from gitcops.model.errors import GitcopsError
from gitcops.model.identity import ResourceId
from gitcops.model.sensitive import scrub, texts_at
from gitcops.plan.model import ChangeAction, PlannedChange
from gitcops.providers.base import (
    CheckRequest,
    CreateRequest,
    DeleteRequest,
    HealthChecker,
    Provider,
    Readiness,
    Staging,
    Syncing,
    UpdateRequest,
    WriteResponse,
)

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

ResultCallback = Callable[[PlannedChange, ChangeSetEntry], None]
STOPPED = "stopped before it started: the run was asked to stop"
# Attempts of a change that fails transiently: backoff 0.5, 1, 2, 4 s (jittered), so a server
# restarting or failing over for a few seconds is ridden out.
TRANSIENT_RETRIES = 5


class ApplyOptions(NamedTuple):
    parallelism: int = 8
    retry_backoff: float = 0.5
    # Asked before each change starts: True stops the run there (a shutting-down agent). The
    # changes in flight finish; those not started are skipped, and the run is recorded.
    stop: Callable[[], bool] | None = None
    retries: int = TRANSIENT_RETRIES  # attempts of a change whose provider fails transiently
    ready_timeout: float = 300.0  # how long a written object may take to become ready


class _Done(NamedTuple):
    change: PlannedChange
    entry: ChangeSetEntry
    staged: bool = False  # the write waits for its provider's commit()


def _perform(change: PlannedChange, provider: Provider, options: ApplyOptions) -> _Done:
    started = time.perf_counter()
    attempt = 0
    staged = False
    while True:
        attempt += 1
        try:
            entry, staged = _dispatch(change, provider, options)
        except GitcopsError as exc:
            if getattr(exc, "transient", False) and attempt < options.retries:
                backoff = options.retry_backoff * 2 ** (attempt - 1)
                asked = getattr(exc, "retry_after", None) or 0.0
                time.sleep(max(asked, backoff * random.uniform(0.5, 1.0)))
                continue
            tried = f" (after {attempt} attempts)" if attempt > 1 else ""
            entry = ChangeSetEntry(change.id, Action.FAILED, f"{exc}{tried}")
        except OSError as exc:
            entry = ChangeSetEntry(change.id, Action.FAILED, f"{exc.strerror or exc}")
        except Exception as exc:  # a provider bug must fail its resource, not hang the run
            entry = ChangeSetEntry(
                change.id, Action.FAILED, f"internal error: {type(exc).__name__}: {exc}"
            )
        entry = entry._replace(
            message=_scrubbed(change, entry.message), duration=time.perf_counter() - started
        )
        return _Done(change, entry, staged)


def _scrubbed(change: PlannedChange, message: str) -> str:
    if change.sensitive_before and message:
        # A provider's message may quote what it was given (a URL, a command line).
        secrets = texts_at(change.after, change.sensitive)
        secrets |= texts_at(change.before, change.sensitive_before)
        return scrub(message, secrets)
    return message


def _dispatch(
    change: PlannedChange, provider: Provider, options: ApplyOptions
) -> tuple[ChangeSetEntry, bool]:
    action = change.action
    if action in (ChangeAction.CREATE, ChangeAction.REPLACE):
        assert change.after is not None
        if action is ChangeAction.REPLACE and change.before is not None:
            provider.delete(DeleteRequest(change.id, change.before, change.state))
        response = provider.create(CreateRequest(change.id, change.after))
        done = Action.CREATED if action is ChangeAction.CREATE else Action.REPLACED
        return _written(change, provider, done, response, options)
    if action is ChangeAction.UPDATE:
        # `target`: `after` with the live values of its ignored fields (ignoreDifferences).
        target = change.target
        assert target is not None
        response = provider.update(UpdateRequest(change.id, target, change.before, change.state))
        return _written(change, provider, Action.CONFIGURED, response, options)
    if action is ChangeAction.ADOPT:
        assert change.after is not None
        if not change.diff:  # already as Git says: only the inventory changes
            return ChangeSetEntry(change.id, Action.ADOPTED, change.reason), False
        target = change.target
        assert target is not None
        response = provider.update(UpdateRequest(change.id, target, change.before, change.state))
        return _written(change, provider, Action.ADOPTED, response, options)
    if action is ChangeAction.DELETE:
        if not change.forget_only and change.before is not None:
            provider.delete(DeleteRequest(change.id, change.before, change.state))
        return ChangeSetEntry(change.id, Action.DELETED, change.reason), False
    if action is ChangeAction.CHECK:
        if not isinstance(provider, HealthChecker):
            entry = ChangeSetEntry(change.id, Action.FAILED, "provider cannot run health checks")
            return entry, False
        assert change.after is not None
        result = provider.check(CheckRequest(change.id, change.after))
        verdict = Action.VERIFIED if result.healthy else Action.FAILED
        detail = f"{result.message} (attempt {result.attempts})"
        return ChangeSetEntry(
            change.id, verdict, detail if not result.healthy else result.message
        ), False
    return ChangeSetEntry(change.id, Action.UNCHANGED), False


@functools.cache
def _readiness(cls: type) -> bool:
    # Per class, once: isinstance against a Protocol inspects the class on every call.
    return issubclass(cls, Readiness)


def _written(
    change: PlannedChange,
    provider: Provider,
    action: Action,
    response: WriteResponse,
    options: ApplyOptions,
) -> tuple[ChangeSetEntry, bool]:
    """A write's entry, once the object is ready (a provider that says when it is)."""
    entry = ChangeSetEntry(change.id, action, response.message, state=response.state)
    if response.staged or not _readiness(type(provider)):
        return entry, response.staged
    assert change.after is not None
    waiting = cast(Readiness, provider)
    deadline = time.monotonic() + options.ready_timeout
    while True:
        answer = waiting.ready(CheckRequest(change.id, change.after))
        if answer.ready:
            return entry, False
        wait = max(0.05, answer.retry_after)
        if time.monotonic() + wait > deadline:
            why = f"written, but not ready after {options.ready_timeout:g} s"
            message = f"{why}: {answer.message}" if answer.message else why
            return entry._replace(action=Action.FAILED, message=message), False
        time.sleep(wait)


def _run_phase(
    changes: Sequence[PlannedChange],
    waits_for: Mapping[ResourceId, set[ResourceId]],
    providers: Mapping[str, Provider],
    pool: "_Pool",
    options: ApplyOptions,
    on_result: ResultCallback,
    out: ChangeSet,
) -> None:
    by_id = {c.id: c for c in changes}
    blocked = {rid: set(deps) for rid, deps in waits_for.items()}
    unblocks: dict[ResourceId, list[ResourceId]] = {rid: [] for rid in by_id}
    for rid, deps in blocked.items():
        for dep in deps:
            unblocks[dep].append(rid)
    done: queue.SimpleQueue[_Done] = queue.SimpleQueue()
    in_flight = 0
    ready = [c.id for c in changes if not blocked.get(c.id)]
    finished: set[ResourceId] = set()

    def settle(first: PlannedChange, first_entry: ChangeSetEntry) -> None:
        # Iterative: a failure at the root of a long chain skips thousands of dependents.
        pending = [(first, first_entry)]
        while pending:
            change, entry = pending.pop()
            if change.id in finished:
                continue
            finished.add(change.id)
            out.entries.append(entry)
            on_result(change, entry)
            succeeded = entry.action not in (Action.FAILED, Action.SKIPPED)
            for child in unblocks[change.id]:
                if child in finished:
                    continue
                if not succeeded:
                    cause = "dependency failed" if entry.action is Action.FAILED else "skipped"
                    skip = ChangeSetEntry(child, Action.SKIPPED, f"{cause}: {change.id}")
                    pending.append((by_id[child], skip))
                    continue
                blocked[child].discard(change.id)
                if not blocked[child]:
                    ready.append(child)

    def submit(change: PlannedChange, provider: Provider) -> None:
        def task() -> None:
            done.put(_perform(change, provider, options))

        pool.submit(task)

    # isinstance against a runtime-checkable Protocol costs ~20 us: once per provider.
    staging = {name for name, p in providers.items() if isinstance(p, Staging)}
    staged: list[_Done] = []
    while ready or in_flight or staged:
        while ready:
            change = by_id[ready.pop()]
            if change.id in finished:
                continue
            if options.stop is not None and change.is_change and options.stop():
                settle(change, ChangeSetEntry(change.id, Action.SKIPPED, STOPPED))
                continue
            if change.action is ChangeAction.NOOP:
                settle(change, ChangeSetEntry(change.id, Action.UNCHANGED, change.reason))
                continue
            provider = providers[change.provider]
            if change.action is ChangeAction.CHECK or change.provider not in staging:
                submit(change, provider)
                in_flight += 1
                continue
            result = _perform(change, provider, options)
            if result.staged:
                staged.append(result)
            else:
                settle(change, result.entry)
        if staged:
            # Nothing else can start before these are done: commit them as one batch.
            for result in _commit(staged, providers):
                settle(result.change, result.entry)
            staged = []
            continue
        if in_flight:
            result = done.get()
            in_flight -= 1
            settle(result.change, result.entry)


def _commit(staged: list[_Done], providers: Mapping[str, Provider]) -> list[_Done]:
    failures: dict[ResourceId, str] = {}
    for name in {r.change.provider for r in staged}:
        provider = providers[name]
        assert isinstance(provider, Staging)
        failures.update(provider.commit())
    return [
        r._replace(
            entry=r.entry._replace(
                action=Action.FAILED, message=_scrubbed(r.change, failures[r.change.id])
            )
        )
        if r.change.id in failures
        else r
        for r in staged
    ]


def execute(
    changes: Sequence[PlannedChange],
    providers: Mapping[str, Provider],
    *,
    options: ApplyOptions,
    on_result: ResultCallback,
) -> ChangeSet:
    out = ChangeSet()
    forward = [c for c in changes if c.action is not ChangeAction.DELETE]
    deletes = [c for c in changes if c.action is ChangeAction.DELETE]
    forward_ids = {c.id for c in forward}
    forward_waits = {c.id: {d for d in c.depends_on if d in forward_ids} for c in forward}
    # A prune waits until everything that depended on the pruned object is gone.
    delete_ids = {c.id for c in deletes}
    delete_waits: dict[ResourceId, set[ResourceId]] = {c.id: set() for c in deletes}
    for change in deletes:
        for dep in change.depends_on:
            if dep in delete_ids:
                delete_waits[dep].add(change.id)
    staging = [p for p in providers.values() if isinstance(p, Staging)]
    try:
        for provider in staging:
            provider.stage(True)
        with _Pool(max(1, options.parallelism)) as pool:
            _run_phase(forward, forward_waits, providers, pool, options, on_result, out)
            _sync(providers)
            _run_phase(deletes, delete_waits, providers, pool, options, on_result, out)
            _sync(providers)
    finally:
        for provider in staging:
            provider.stage(False)
    return out


class _Pool:
    """The thread pool, made for the first change that needs it: a run that only writes
    local files never starts a thread nor imports concurrent.futures (~3 ms)."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, task: Callable[[], None]) -> None:
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=self._workers)
        self._pool.submit(task)

    def __enter__(self) -> "_Pool":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _sync(providers: Mapping[str, Provider]) -> None:
    for provider in providers.values():
        if isinstance(provider, Syncing):
            provider.sync()
