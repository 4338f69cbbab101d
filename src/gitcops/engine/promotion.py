"""Promotion: an environment that declares `promotion: {from: E, soak: D}` runs only a revision
that E applied, verified healthy, and kept healthy for D (runs recorded in the state store).

The rule that counts is the trust root's (the revision the environment last applied), as for
approvals: a change cannot lift its own gate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from gitcops.engine.workspace import Workspace
from gitcops.model.errors import GitcopsError
from gitcops.model.project import Promotion
from gitcops.state.records import AuditEvent
from gitcops.state.store import StateStore

if TYPE_CHECKING:
    from gitcops.engine.applying import ApplyOutcome, Progress
    from gitcops.engine.runtime import Runtime
    from gitcops.plan.model import Plan


class PromotionRefusedError(GitcopsError):
    """The revision has not run (long enough, healthy) in the environment it is promoted from."""


class Stretch(NamedTuple):
    """A revision an environment ran healthy without a break: from its first successful run
    to the next run of another revision or a failed one (None: it still runs it)."""

    revision: str
    start: float
    end: float | None

    def held(self, now: float) -> float:
        return (self.end if self.end is not None else now) - self.start


def stretches(store: StateStore, scope: str) -> list[Stretch]:
    """The environment's healthy stretches, oldest first (from its last 200 runs)."""
    runs = [r for r in reversed(store.runs(scope, limit=200)) if r.status != "running"]
    out: list[Stretch] = []
    current: Stretch | None = None
    for run in runs:
        ok = run.status == "succeeded"
        if current is not None and (not ok or run.revision != current.revision):
            out.append(current._replace(end=run.started_at))
            current = None
        if ok and current is None:
            current = Stretch(run.revision, run.finished_at or run.started_at, None)
    status = store.env_status(scope)
    if current is not None:
        if status is not None and status.healthy is False:
            out.append(current._replace(end=status.updated_at))
        else:
            out.append(current)
    return out


class Soaked(NamedTuple):
    revision: str
    held: float  # seconds it ran healthy there (0: never)
    why: str  # why not, when it never did


def _current(done: list[Stretch]) -> Stretch | None:
    """The stretch still going on: what the environment runs healthy now."""
    return done[-1] if done and done[-1].end is None else None


def soaked(store: StateStore, scope: str, revision: str, now: float) -> Soaked:
    """How long `scope` has run `revision` healthy: only what it runs now counts (a revision it
    left, rolled back from or failed on is not promoted)."""
    done = stretches(store, scope)
    current = _current(done)
    if current is None or current.revision != revision:
        ran = store.env_status(scope)
        if ran is None or not ran.applied_revision:
            why = f"{scope} has applied nothing yet"
        elif any(s.revision == revision for s in done):
            why = f"{scope} ran {revision[:12]} but does not run it healthy now"
        else:
            why = f"{scope} never ran {revision[:12]} successfully"
        return Soaked(revision, 0.0, why)
    return Soaked(revision, current.held(now), "")


def promotable(store: StateStore, scope: str, soak: float, now: float) -> Soaked:
    """What `scope` runs now, if it has run it healthy for at least `soak`."""
    current = _current(stretches(store, scope))
    if current is None:
        return Soaked("", 0.0, f"{scope} runs nothing healthy now")
    if current.held(now) >= soak:
        return Soaked(current.revision, current.held(now), "")
    return Soaked(
        current.revision,
        current.held(now),
        f"{current.revision[:12]} has run healthy in {scope} for {_duration(current.held(now))} "
        f"of {_duration(soak)}",
    )


def check(
    ws: Workspace, store: StateStore, rule: Promotion, *, now: float | None = None
) -> AuditEvent:
    """Raise unless the revision may be promoted into the workspace's environment."""
    scope = f"{ws.project.name}/{rule.source}"
    state = soaked(store, scope, ws.revision.commit, now if now is not None else time.time())
    if state.why:
        raise PromotionRefusedError(
            f"{ws.environment.name} runs only what {rule.source} verified: {state.why}"
        )
    if state.held < rule.soak:
        raise PromotionRefusedError(
            f"{ws.environment.name} runs only what {rule.source} kept healthy for "
            f"{_duration(rule.soak)}: {ws.revision.short} has soaked {_duration(state.held)} there"
        )
    return AuditEvent(
        "promotion.checked",
        ws.revision.commit,
        {"from": rule.source, "soakedSeconds": round(state.held), "soakSeconds": rule.soak},
    )


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def promote(
    rt: Runtime,
    repo: str,
    source: str,
    target: str,
    *,
    actor: str,
    state: str | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    progress: Progress | None = None,
) -> ApplyOutcome | None:
    """Apply to `target` the revision `source` runs now, with `target`'s own plan and gates
    (policy, promotion rule and soak, approvals). Recorded in the audit log."""
    from gitcops.engine.applying import apply_environment
    from gitcops.engine.workspace import head_project

    project = head_project(rt, repo, target)
    rule = project.environment(target).promotion
    if rule is not None and rule.source != source:
        raise PromotionRefusedError(
            f"{target} is promoted from {rule.source}, not {source} (gitcops.yaml)"
        )
    project.environment(source)  # an unknown name is an error, named
    store = rt.store(state)
    status = store.env_status(f"{project.name}/{source}")
    if status is None or not status.applied_revision:
        raise PromotionRefusedError(f"{source} has applied nothing yet: nothing to promote")
    revision = status.applied_revision
    outcome = apply_environment(
        rt,
        repo,
        target,
        actor=actor,
        rev=revision,
        state=state,
        confirm=confirm,
        progress=progress,
    )
    if outcome is not None:
        store.append_audit(
            f"{project.name}/{target}",
            outcome.run_id,
            actor,
            AuditEvent(
                "promotion.applied" if outcome.succeeded else "promotion.failed",
                revision,
                {"from": source, "to": target, "run": outcome.run_id},
            ),
        )
    return outcome
