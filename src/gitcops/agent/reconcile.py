"""One reconcile of one environment: choose the revision, apply it or correct drift, verify, and
roll back from a revision whose verification fails. The agent's decisions live here; the work
is the engine's, the same functions the CLI calls.

The revision the environment should run:
- the branch's head, unless
- a rollback by hand pinned it (kept until `gitcops unpin`, or until the branch moves when
  pinned with --until-newer), or
- that revision is marked bad (its verification failed here before): then the environment stays
  on what it runs, and only a newer commit is tried.
A suspended environment is not changed: its drift is still reported.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

from gitcops.apply.changeset import Action
from gitcops.apply.executor import ApplyOptions
from gitcops.engine.applying import (
    ApplyOutcome,
    PolicyRefusalError,
    apply_environment,
    rollback_environment,
)
from gitcops.engine.approving import ApprovalRequiredError, UnsignedCommitError
from gitcops.engine.drift import DriftItem, heal_environment
from gitcops.engine.inspect import drift_report
from gitcops.engine.promotion import PromotionRefusedError
from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import head_project, project_of
from gitcops.model.drift import DriftMode
from gitcops.model.errors import GitcopsError, InvalidInputError, LockedError, SourceError
from gitcops.model.project import Project
from gitcops.plan.model import ChangeAction
from gitcops.source.git import Revision
from gitcops.state.records import EnvControl, EnvStatus, ReconcileRecord
from gitcops.state.store import StateStore

log = logging.getLogger("gitcops.agent")

# Outcomes (the state's and status' words).
APPLIED, UNCHANGED, HEALED, DRIFTED = "applied", "unchanged", "healed", "drifted"
ROLLED_BACK, FAILED, SKIPPED = "rolledBack", "failed", "skipped"


class Event(NamedTuple):
    """Something a reconcile did that people may want to hear of (notifications)."""

    kind: str  # applied | failed | rolledBack | driftDetected | driftHealed
    message: str
    run: int | None = None
    # The resources concerned: (id, state, field paths), never a value.
    resources: tuple[tuple[str, str, tuple[str, ...]], ...] = ()


class ReconcileOutcome(NamedTuple):
    scope: str
    outcome: str
    reason: str
    revision: str  # what the environment should run now; "" when unknown
    transient: bool = False  # worth retrying soon (backoff), as the source or a lock
    run: int | None = None
    drifted: int | None = None  # resources found drifted (None: not looked at)
    counts: dict[str, int] = {}  # a NamedTuple default: shared, never mutated
    events: tuple[Event, ...] = ()
    seconds: float = 0.0
    cause: str = ""  # for a failure or a skip, one word: source, policy, invalid, apply,
    # health, locked, state, approval, promotion, internal (metrics' label)
    recorded: frozenset[str] = frozenset()  # drift already recorded (for the next reconcile)


class Target(NamedTuple):
    revision: str
    why: str  # "" when it is the branch's head


def choose(control: EnvControl, status: EnvStatus | None, head: Revision) -> Target | None:
    """The revision to run (None: none may be applied; correct drift only)."""
    if control.pin:
        return Target(control.pin, f"pinned to {control.pin[:12]} by a rollback")
    if head.commit in control.bad:
        if status is not None and status.applied_revision:
            return Target(
                status.applied_revision,
                f"revision {head.short} is marked bad: staying on "
                f"{status.applied_revision[:12]} until a newer commit",
            )
        return None
    return Target(head.commit, "")


def reconcile(
    rt: Runtime,
    repo: str,
    env: str,
    *,
    branch: str | None,
    state: str | None,
    actor: str,
    stop: Callable[[], bool],
    fetched_at: float | None = None,
    source_error: str = "",
    recorded: frozenset[str] = frozenset(),
) -> ReconcileOutcome:
    """Reconcile `env` once from the source as fetched; record what was done and why.
    `recorded`: the drift the previous reconcile recorded (not recorded again)."""
    source = rt.source(repo, fetch=False)
    try:
        head = source.branch_head(branch)
        project = head_project(rt, repo, env) if branch is None else _project_at(rt, repo, head)
    except (SourceError, InvalidInputError) as exc:
        return ReconcileOutcome(
            f"?/{env}", FAILED, f"cannot read the branch: {exc}", "", True, cause="source"
        )
    scope = f"{project.name}/{env}"
    store = rt.store(state)
    try:
        outcome = _reconcile(rt, repo, env, scope, head, state, actor, stop, source_error, recorded)
    except LockedError:
        outcome = ReconcileOutcome(
            scope, SKIPPED, "another apply holds the environment's lock", "", True, cause="locked"
        )
    except GitcopsError as exc:
        outcome = ReconcileOutcome(scope, FAILED, str(exc), head.commit, True, cause="state")
    store.record_reconcile(
        ReconcileRecord(
            scope,
            time.time(),
            outcome.outcome,
            outcome.reason,
            outcome.revision,
            fetched_at,
            source_error,
        )
    )
    return outcome


def _project_at(rt: Runtime, repo: str, head: Revision) -> Project:
    return project_of(rt, rt.source(repo, fetch=False).tree(head))


def _reconcile(
    rt: Runtime,
    repo: str,
    env: str,
    scope: str,
    head: Revision,
    state: str | None,
    actor: str,
    stop: Callable[[], bool],
    source_error: str,
    recorded: frozenset[str],
) -> ReconcileOutcome:
    store = rt.store(state)
    control = store.control(scope)
    if control.pin and control.pinned_head and control.pinned_head != head.commit:
        store.unpin(scope, actor=actor, reason=f"the branch moved to {head.short}")
        control = store.control(scope)
    status = store.env_status(scope)
    if control.suspended:
        drifted = _drifted(rt, repo, env, state, status)
        reason = "suspended" + (f": {control.suspended_reason}" if control.suspended_reason else "")
        return ReconcileOutcome(scope, DRIFTED if drifted else SKIPPED, reason, "", drifted=drifted)
    target = choose(control, status, head)
    offline = f"; source unreachable, from the last fetch ({source_error})" if source_error else ""
    waiting = ""
    if target is not None and not control.pin:
        target, waiting = _promoted(rt, repo, env, scope, head, store, control, status, target)
    if waiting:
        ran = (
            status is not None and status.applied_revision and status.last_run_status == "succeeded"
        )
        if ran:
            return _correct_drift(
                rt, repo, env, scope, state, actor, stop, waiting + offline, recorded
            )
        return ReconcileOutcome(scope, SKIPPED, waiting + offline, "", cause="promotion")
    if target is None:
        reason = f"revision {head.short} is marked bad and nothing was applied before"
        return ReconcileOutcome(scope, SKIPPED, reason + offline, "")
    current = (
        status is not None
        and status.applied_revision == target.revision
        and status.last_run_status == "succeeded"
    )
    if current:
        why = target.why or f"{target.revision[:12]} runs as applied"
        return _correct_drift(rt, repo, env, scope, state, actor, stop, why + offline, recorded)
    return _apply(rt, repo, env, scope, target, state, actor, stop, offline)


def _promoted(
    rt: Runtime,
    repo: str,
    env: str,
    scope: str,
    head: Revision,
    store: StateStore,
    control: EnvControl,
    status: EnvStatus | None,
    target: Target,
) -> tuple[Target, str]:
    """An environment promoted from another follows what that one verified and soaked, not
    the branch head: the revision to run, or why it waits."""
    from gitcops.engine.promotion import promotable

    rule = _project_at(rt, repo, head).environment(env).promotion
    if status is not None and status.applied_revision:
        # The rule the gate will apply: the revision the environment runs (its trust root),
        # so a head that drops the rule does not make the agent chase the branch.
        try:
            trusted = _project_at(
                rt, repo, rt.source(repo, fetch=False).resolve(status.applied_revision)
            )
            rule = trusted.environment(env).promotion
        except GitcopsError:
            pass
    if rule is None:
        return target, ""
    source = f"{scope.split('/')[0]}/{rule.source}"
    state = promotable(store, source, rule.soak, time.time())
    if state.why:
        return target, f"waiting for promotion: {state.why}"
    if state.revision in control.bad:
        return target, f"waiting for promotion: {state.revision[:12]} is marked bad here"
    return Target(state.revision, f"promoted from {rule.source}"), ""


def _correct_drift(
    rt: Runtime,
    repo: str,
    env: str,
    scope: str,
    state: str | None,
    actor: str,
    stop: Callable[[], bool],
    why: str,
    recorded: frozenset[str],
) -> ReconcileOutcome:
    """The environment runs its revision: compare live with it; heal what may be healed,
    record (and for `warn`, notify) the rest."""
    found = heal_environment(
        rt,
        repo,
        env,
        actor=actor,
        state=state,
        trigger="agent",
        options=ApplyOptions(stop=stop),
        recorded=recorded,
    )
    by_mode = found.by_mode
    healed = found.healed
    events: list[Event] = []
    fresh = {i.fingerprint for i in found.drifted} - recorded
    warned = [i for i in by_mode[DriftMode.WARN] if i.fingerprint in fresh]
    if warned:
        events.append(
            Event(
                "driftDetected",
                f"{len(warned)} resource(s) of {scope} drifted from {found.revision[:12]} "
                "(drift mode warn: not corrected)",
                resources=_resources(warned),
            )
        )
    remaining = len(by_mode[DriftMode.DETECT]) + len(by_mode[DriftMode.WARN])
    if healed is not None:
        items = by_mode[DriftMode.HEAL]
        if not healed.succeeded:
            reason = f"healing drift failed: {_first_failure(healed)}"
            return ReconcileOutcome(
                scope, FAILED, reason, found.revision, True, run=healed.run_id,
                counts=healed.changeset.counts, drifted=len(found.drifted),
                events=(*events, Event("failed", reason, healed.run_id)),
                cause="apply", recorded=found.fingerprints,
            )  # fmt: skip
        message = f"healed {len(items)} drifted resource(s) of {scope}"
        events.append(Event("driftHealed", message, healed.run_id, _resources(items)))
        return ReconcileOutcome(
            scope, HEALED, f"{message}; {why}", found.revision, run=healed.run_id,
            counts=healed.changeset.counts, drifted=remaining, events=tuple(events),
            recorded=found.fingerprints,
        )  # fmt: skip
    if remaining:
        reason = f"{remaining} resource(s) drifted, not corrected (drift mode detect or warn)"
        return ReconcileOutcome(
            scope, DRIFTED, f"{reason}; {why}", found.revision, drifted=remaining,
            events=tuple(events), recorded=found.fingerprints,
        )  # fmt: skip
    return ReconcileOutcome(scope, UNCHANGED, why, found.revision, drifted=0)


def _resources(items: Sequence[DriftItem]) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    return tuple((i.id, i.state, tuple(d.field for d in i.diff)) for i in items)


def _drifted(
    rt: Runtime, repo: str, env: str, state: str | None, status: EnvStatus | None
) -> int | None:
    if status is None or status.resources == 0:
        return None
    return len(drift_report(rt, repo, env, state).items)


def _apply(
    rt: Runtime,
    repo: str,
    env: str,
    scope: str,
    target: Target,
    state: str | None,
    actor: str,
    stop: Callable[[], bool],
    offline: str,
) -> ReconcileOutcome:
    options = ApplyOptions(stop=stop)
    try:
        outcome = apply_environment(
            rt,
            repo,
            env,
            actor=actor,
            rev=target.revision,
            state=state,
            options=options,
            trigger="agent",
            lock_timeout=0.0,
        )
    except PolicyRefusalError as refusal:
        reason = f"policy refuses {target.revision[:12]}: {refusal}"
        return ReconcileOutcome(
            scope,
            FAILED,
            reason,
            target.revision,
            events=(Event("failed", reason),),
            cause="policy",
        )
    except (ApprovalRequiredError, UnsignedCommitError, PromotionRefusedError) as exc:
        # Not a failure of the revision: it waits (approvals arrive with the next fetch).
        return ReconcileOutcome(scope, SKIPPED, f"waiting: {exc}" + offline, "", cause="approval")
    except InvalidInputError as exc:
        reason = f"revision {target.revision[:12]} is invalid: {exc}"
        return ReconcileOutcome(
            scope,
            FAILED,
            reason,
            target.revision,
            events=(Event("failed", reason),),
            cause="invalid",
        )
    assert outcome is not None  # no confirmation was asked for
    counts = outcome.changeset.counts
    if outcome.succeeded:
        reason = f"applied {target.revision[:12]}" + (f" ({target.why})" if target.why else "")
        return ReconcileOutcome(
            scope,
            APPLIED,
            reason + offline,
            target.revision,
            run=outcome.run_id,
            counts=counts,
            events=(Event("applied", reason, outcome.run_id),),
        )
    if stop():
        return ReconcileOutcome(
            scope,
            SKIPPED,
            "stopped: the agent is shutting down",
            target.revision,
            True,
            run=outcome.run_id,
            counts=counts,
            cause="stopping",
        )
    if not _verification_failed(outcome):
        reason = f"applying {target.revision[:12]} failed: {_first_failure(outcome)}"
        return ReconcileOutcome(
            scope,
            FAILED,
            reason,
            target.revision,
            True,
            run=outcome.run_id,
            counts=counts,
            events=(Event("failed", reason, outcome.run_id),),
            cause="apply",
        )
    return _roll_back(rt, repo, env, scope, target, state, actor, outcome)


def _verification_failed(outcome: ApplyOutcome) -> bool:
    checks = {c.id for c in outcome.plan.changes if c.action is ChangeAction.CHECK}
    failed = [e for e in outcome.changeset.entries if e.action is Action.FAILED]
    return bool(failed) and all(e.id in checks for e in failed)


def _first_failure(outcome: ApplyOutcome) -> str:
    for entry in outcome.changeset.entries:
        if entry.action in (Action.FAILED, Action.SKIPPED):
            return f"{entry.id}: {entry.message}"
    return "unknown"


def _roll_back(
    rt: Runtime,
    repo: str,
    env: str,
    scope: str,
    target: Target,
    state: str | None,
    actor: str,
    failed: ApplyOutcome,
) -> ReconcileOutcome:
    """Verification failed: mark the revision bad, and re-apply the last one that verified."""
    store = rt.store(state)
    why = f"verification of {target.revision[:12]} failed: {_first_failure(failed)}"
    store.mark_bad(scope, target.revision, actor=actor, reason=why)
    bad = set(store.control(scope).bad)
    good = next(
        (
            run.revision
            for run in store.runs(scope, 200)
            if run.status == "succeeded" and run.revision not in bad
        ),
        None,
    )
    if good is None:
        reason = f"{why}; no earlier revision verified healthy to roll back to"
        return ReconcileOutcome(
            scope,
            FAILED,
            reason,
            target.revision,
            run=failed.run_id,
            events=(Event("failed", reason, failed.run_id),),
            cause="health",
        )
    back = rollback_environment(
        rt, repo, env, good, actor=actor, state=state, trigger="agent", pin=False
    )
    if back is None or not back.succeeded:
        reason = f"{why}; rolling back to {good[:12]} failed too"
        return ReconcileOutcome(
            scope,
            FAILED,
            reason,
            good,
            True,
            run=back.run_id if back else None,
            events=(Event("failed", reason, back.run_id if back else None),),
            cause="health",
        )
    reason = f"{why}; rolled back to {good[:12]}, and {target.revision[:12]} is marked bad"
    return ReconcileOutcome(
        scope,
        ROLLED_BACK,
        reason,
        good,
        run=back.run_id,
        counts=back.changeset.counts,
        events=(Event("rolledBack", reason, back.run_id),),
    )
