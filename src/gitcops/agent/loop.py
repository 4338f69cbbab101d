"""The agent: one loop per environment, one mirror of the repository, one Runtime.

Each environment's loop reconciles, then sleeps for the interval (with jitter, so that many
agents do not move in step), or less after a transient failure (exponential backoff), or until
woken by a push. One environment failing never stalls another: each has its own thread, and a
reconcile that raises is recorded as failed. The repository is fetched at most once for every
wake-up, whichever loop gets there first; a burst of pushes coalesces into one fetch and one
reconcile of the newest commit. While the remote is unreachable the loops go on from the last
fetch (drift is still corrected) and report it; they catch up when it returns.

`stop()` (SIGTERM, SIGINT) stops taking work: a loop finishes the change in flight, skips the
rest, records the run and returns; `run()` then returns within its grace period.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from gitcops.agent.reconcile import FAILED, ReconcileOutcome, reconcile
from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import head_project, project_of
from gitcops.model.errors import GitcopsError, SourceError

log = logging.getLogger("gitcops.agent")

ACTOR = "gitcops-agent"


class AgentConfig(NamedTuple):
    repo: str
    branch: str | None = None  # None: the repository's (remote's) HEAD
    environments: tuple[str, ...] = ()  # empty: every environment of the project
    state: str | None = None
    interval: float = 60.0
    jitter: float = 0.1  # each wait is the interval, give or take this fraction
    backoff_start: float = 2.0  # after a transient failure; doubles, up to the interval
    grace: float = 30.0  # how long stop() waits for the loops
    actor: str = ACTOR


class Fetcher:
    """The one mirror, fetched at most once for any number of loops asking at once."""

    def __init__(self, rt: Runtime, repo: str) -> None:
        self._rt = rt
        self._repo = repo
        self._lock = threading.Lock()
        self.fetched_at: float | None = None  # the last successful fetch
        self.attempted_at = 0.0
        self.error = ""  # why the last fetch failed; "" when it did not
        self.outages = 0  # how many times the source went away

    def ensure(self, wanted_after: float) -> None:
        """Fetch, unless a fetch started after `wanted_after` already did."""
        with self._lock:
            if self.attempted_at >= wanted_after:
                return
            self.attempted_at = time.time()
            try:
                self._rt.source(self._repo, fetch=False).fetch()
            except SourceError as exc:
                if not self.error:
                    self.outages += 1
                    log.warning(
                        "source unreachable; reconciling from the last fetch",
                        extra={"event": "source.unreachable", "reason": str(exc)},
                    )
                self.error = str(exc)
                return
            if self.error:
                log.info("source reachable again", extra={"event": "source.reachable"})
            self.error = ""
            self.fetched_at = time.time()


Listener = Callable[[str, ReconcileOutcome], None]  # (environment, outcome)


class Agent:
    def __init__(
        self,
        rt: Runtime,
        config: AgentConfig,
        *,
        listeners: Sequence[Listener] = (),
        source_listener: Callable[[bool, str], None] | None = None,
    ) -> None:
        self.rt = rt
        self.config = config
        self.fetcher = Fetcher(rt, config.repo)
        self._listeners = list(listeners)
        self._source_listener = source_listener
        self._stopping = threading.Event()
        self._wake: dict[str, threading.Event] = {}
        self._wanted_after: dict[str, float] = {}
        self._lock = threading.Lock()
        self.last: dict[str, ReconcileOutcome] = {}
        self.environments: tuple[str, ...] = ()
        self._ready = threading.Event()
        self._head_branch: str | None = None
        self._recorded: dict[str, frozenset[str]] = {}  # drift recorded, per environment

    # -- what the HTTP server and signal handlers call ----------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        for event in list(self._wake.values()):
            event.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def ready(self) -> bool:
        return self._ready.is_set()

    def push(self, forge: str, branch: str, commit: str | None) -> bool:
        """A push was announced (a webhook): reconcile every environment now, if it is our
        branch. The commit is only a hint: the branch is fetched (one secret may sign pushes
        of other repositories)."""
        if branch != self.watched_branch():
            return False
        now = time.time()
        with self._lock:
            for env, event in self._wake.items():
                self._wanted_after[env] = now
                event.set()
        log.info(
            "push received: reconciling now",
            extra={"event": "webhook.push", "forge": forge, "revision": commit},
        )
        return True

    def watched_branch(self) -> str | None:
        """The branch followed: --branch, or the one the repository's HEAD names."""
        if self.config.branch is not None:
            return self.config.branch
        if self._head_branch is None:
            self._head_branch = self.rt.source(self.config.repo, fetch=False).head_branch()
        return self._head_branch

    def health(self) -> dict[str, object]:
        """What /healthz shows: every environment's last reconcile, and the source."""
        from gitcops import __version__

        head = self.rt.store(self.config.state).audit_head()
        return {
            "version": __version__,
            "ready": self.ready(),
            "auditHead": head.as_json() if head is not None else None,
            "stopping": self.stopping,
            "source": {
                "reachable": not self.fetcher.error,
                "error": self.fetcher.error or None,
                "fetchedAt": self.fetcher.fetched_at,
            },
            "environments": {
                env: {
                    "outcome": outcome.outcome,
                    "reason": outcome.reason,
                    "revision": outcome.revision or None,
                }
                for env, outcome in sorted(self.last.items())
            },
        }

    # -- running ------------------------------------------------------------------------------

    def environments_of_project(self) -> tuple[str, ...]:
        if self.config.environments:
            project = head_project(self.rt, self.config.repo)
            for env in self.config.environments:
                project.environment(env)  # exists, or say so
            return self.config.environments
        source = self.rt.source(self.config.repo, fetch=False)
        head = source.branch_head(self.config.branch)
        project = project_of(self.rt, source.tree(head))
        return tuple(e.name for e in project.spec.environments)

    def run_once(self) -> dict[str, ReconcileOutcome]:
        """One pass over the environments, one after the other (for cron and CI)."""
        self.fetcher.ensure(time.time())
        self._ready.set()
        self.environments = self.environments_of_project()
        return {env: self._reconcile(env) for env in self.environments}

    def run(self) -> None:
        """Reconcile every environment in its own loop until stop()."""
        self.fetcher.ensure(time.time())
        self._ready.set()
        self.environments = self.environments_of_project()
        threads = []
        for env in self.environments:
            self._wake[env] = threading.Event()
            self._wanted_after[env] = 0.0
            thread = threading.Thread(target=self._loop, args=(env,), name=f"reconcile {env}")
            thread.start()
            threads.append(thread)
        self._stopping.wait()
        deadline = time.monotonic() + self.config.grace
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self, env: str) -> None:
        failures = 0
        while not self.stopping:
            outcome = self._reconcile(env)
            failures = failures + 1 if outcome.transient else 0
            if self.stopping:
                return
            wait = self.delay_after(failures)
            event = self._wake[env]
            event.wait(wait)
            event.clear()

    def delay_after(self, failures: int) -> float:
        """How long a loop waits after `failures` transient failures in a row (0: the interval,
        jittered)."""
        interval = self.config.interval
        if failures:
            interval = min(interval, self.config.backoff_start * 2 ** (failures - 1))
        spread = self.config.jitter * interval
        return max(0.0, interval + random.uniform(-spread, spread))

    def _reconcile(self, env: str) -> ReconcileOutcome:
        # A push asks for a fetch made after it; otherwise one fetch in half an interval
        # serves every loop.
        self.fetcher.ensure(
            max(self._wanted_after.get(env, 0.0), time.time() - self.config.interval / 2)
        )
        started = time.monotonic()
        try:
            outcome = reconcile(
                self.rt,
                self.config.repo,
                env,
                branch=self.config.branch,
                state=self.config.state,
                actor=self.config.actor,
                stop=lambda: self.stopping,
                fetched_at=self.fetcher.fetched_at,
                source_error=self.fetcher.error,
                recorded=self._recorded.get(env, frozenset()),
            )
        except GitcopsError as exc:  # the state itself cannot be read or written
            outcome = ReconcileOutcome(f"?/{env}", FAILED, str(exc), "", True, cause="state")
        except Exception as exc:  # a bug must not end the loop: it is recorded and retried
            log.exception("reconcile crashed", extra={"event": "reconcile.crashed"})
            outcome = ReconcileOutcome(
                f"?/{env}", FAILED, f"internal error: {exc}", "", True, cause="internal"
            )
        outcome = outcome._replace(seconds=time.monotonic() - started)
        self.last[env] = outcome
        self._recorded[env] = outcome.recorded
        log.log(
            logging.WARNING if outcome.outcome == FAILED else logging.INFO,
            outcome.reason,
            extra={
                "event": f"reconcile.{outcome.outcome}",
                "environment": outcome.scope,
                "revision": outcome.revision or None,
                "run": outcome.run,
                "outcome": outcome.outcome,
            },
        )
        for listener in self._listeners:
            try:
                listener(env, outcome)
            except Exception:
                log.exception("a listener failed", extra={"event": "listener.failed"})
        if self._source_listener is not None:
            self._source_listener(not self.fetcher.error, self.fetcher.error)
        return outcome
