"""Apply a plan under the environment's lock and record every result as it lands."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitcops.apply.changeset import Action, ChangeSet, ChangeSetEntry
from gitcops.apply.executor import ApplyOptions, execute
from gitcops.engine import approving
from gitcops.engine.planning import (
    DriftSettings,
    ToRead,
    Wanted,
    applied_here,
    fill_write_only,
    fingerprint,
    make_plan,
    open_checked,
    policy_findings,
    protect,
    read_objects,
    risk_of,
    store_redactor,
)
from gitcops.engine.promotion import PromotionRefusedError
from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import Workspace, desired_state
from gitcops.model.canonical import canonical_json
from gitcops.model.errors import GitcopsError, PlanError
from gitcops.model.findings import Finding
from gitcops.model.identity import ResourceId
from gitcops.model.sensitive import Redactor
from gitcops.plan.diff import same
from gitcops.plan.model import ChangeAction, Plan, PlannedChange
from gitcops.state.records import AuditEvent, InventoryEntry
from gitcops.state.store import StateStore
from gitcops.validate.resources import DesiredResource

if TYPE_CHECKING:
    from gitcops.engine.policy_check import PolicyOptions

Progress = Callable[[PlannedChange, ChangeSetEntry], None]
_FLUSH_EVERY = 500
_FLUSH_SECONDS = 0.25


class PolicyRefusalError(GitcopsError):
    """Policy failures block the apply: nothing was written."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = findings
        blocking = [f for f in findings if f.blocking]
        super().__init__(f"{len(blocking)} policy failure(s) block this apply; nothing was changed")


@dataclass
class ApplyOutcome:
    plan: Plan
    changeset: ChangeSet
    run_id: int
    succeeded: bool
    healthy: bool | None
    duration: float
    warnings: list[str] = field(default_factory=list)
    kind: str = "apply"  # or rollback

    def as_json(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "environment": f"{self.plan.project}/{self.plan.environment}",
            # Not "kind": in `-o json` that key is the envelope's (ApplyResult).
            "runKind": self.kind,
            "revision": self.plan.revision,
            "succeeded": self.succeeded,
            "healthy": self.healthy,
            "durationSeconds": round(self.duration, 3),
            "summary": self.changeset.counts,
            "warnings": list(self.warnings),
            "entries": [e.as_json() for e in self.changeset.entries],
        }


@dataclass
class _Recorder:
    """Buffers results and writes them in batches: one transaction per batch, not per file."""

    store: StateStore
    scope: str
    run_id: int
    revision: str
    actor: str
    inventory: dict[ResourceId, InventoryEntry]
    applied: list[InventoryEntry] = field(default_factory=list)
    removed: list[ResourceId] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)
    # Specs already serialized for the pending rows, by id: not serialized a second time.
    serialized: dict[ResourceId, str] = field(default_factory=dict)
    # Resources whose changes this run leaves alone (see `only`): their rows stay as they are.
    frozen: frozenset[ResourceId] = frozenset()

    def __call__(self, change: PlannedChange, entry: ChangeSetEntry) -> None:
        if change.id in self.frozen:
            pass  # a change this run leaves alone: a no-op (or skipped), nothing to remember
        elif entry.action in (
            Action.CREATED,
            Action.REPLACED,
            Action.ADOPTED,
            Action.CONFIGURED,
            Action.UNCHANGED,
        ):
            self._remember(change, entry)
        elif entry.action is Action.DELETED and not change.superseded:
            self.removed.append(change.id)
        if entry.action is not Action.UNCHANGED:
            detail: dict[str, Any] = {"message": entry.message} if entry.message else {}
            if change.diff:
                detail["fields"] = [d.field for d in change.diff]
            self.events.append(AuditEvent(f"resource.{entry.action.value}", str(change.id), detail))
        pending = len(self.applied) + len(self.removed) + len(self.events)
        if pending >= _FLUSH_EVERY or time.monotonic() - self.last_flush > _FLUSH_SECONDS:
            self.flush()

    def _remember(self, change: PlannedChange, entry: ChangeSetEntry) -> None:
        if change.action is ChangeAction.CHECK or change.after is None:
            return
        spec_json = self.serialized.pop(change.id, None) or canonical_json(change.public_after)
        digest = hashlib.sha256(spec_json.encode()).hexdigest()
        old = self.inventory.get(change.id)
        if (
            entry.action is Action.UNCHANGED
            and old is not None
            and old.status == "applied"
            and old.spec_hash == digest
            and old.depends_on == change.depends_on
            and old.address == change.address
            and old.prune == change.prune
            and old.instance == change.instance
        ):
            return
        # What the system assigned: the write's answer, else what was kept for the object.
        state = entry.state if entry.state is not None else change.state
        if state is None and old is not None and old.instance == change.instance:
            state = old.state
        self.applied.append(
            InventoryEntry(
                id=change.id,
                api_version=change.api_version,
                spec_json=spec_json,
                spec_hash=digest,
                depends_on=change.depends_on,
                address=change.address,
                status="applied",
                revision=self.revision,
                run_id=self.run_id,
                prune=change.prune,
                instance=change.instance,
                state_json=canonical_json(state) if state else "",
            )
        )

    def flush(self) -> None:
        if self.applied or self.removed or self.events:
            self.store.record_results(
                self.scope,
                self.run_id,
                actor=self.actor,
                applied=self.applied,
                removed=self.removed,
                events=self.events,
            )
        self.applied, self.removed, self.events = [], [], []
        self.last_flush = time.monotonic()


def check_saved_plan(
    ws: Workspace, plan: Plan, store: StateStore, inventory: Mapping[ResourceId, InventoryEntry]
) -> Plan:
    """A saved plan is applied exactly, or not at all if the world moved since it was made.

    Returns the plan to execute: a plan file holds no secrets, so their values come back from
    the revision (whose rendering the checks below prove equal to the plan) and the live read.
    """
    if plan.project != ws.project.name or plan.environment != ws.environment.name:
        raise PlanError(
            f"plan is for {plan.project}/{plan.environment}, not {ws.project.name}/"
            f"{ws.environment.name}"
        )
    if plan.revision == "worktree":
        raise PlanError(
            "plan was made from uncommitted files (--worktree); apply only applies commits"
        )
    if plan.requested_revision != plan.revision:
        now = ws.source.resolve(plan.requested_revision).commit
        if now != plan.revision:
            raise PlanError(
                f"revision {plan.requested_revision} moved from {plan.revision[:12]} to "
                f"{now[:12]} since the plan was made; make a new plan"
            )
    redactor = store_redactor(store)
    wanted = _check_plan_matches_revision(ws, plan, inventory, redactor)
    status = store.env_status(ws.scope)
    serial = status.serial if status else 0
    if serial != plan.inventory_serial:
        raise PlanError(
            "the environment's state changed since the plan was made (another run happened); "
            "make a new plan"
        )
    executable = [
        c._replace(after=wanted[c.id].resource.spec)
        if c.sensitive and c.after is not None and c.id in wanted
        else c
        for c in plan.changes
    ]
    # What the system assigned is never in a plan file: it comes from the inventory.
    executable = [
        c._replace(state=inventory[c.id].state) if c.id in inventory else c for c in executable
    ]
    reading = [
        n
        for n, c in enumerate(executable)
        if c.action is not ChangeAction.CHECK and (c.after or c.before)
    ]
    lives = read_objects(
        ws.providers,
        [
            ToRead(c.id, c.provider, c.after if c.after is not None else c.before or {}, c.state)
            for c in (executable[n] for n in reading)
        ],
    )
    seen: list[dict[str, Any] | None] = [None] * len(executable)
    for n, live in zip(reading, lives, strict=True):
        seen[n] = live
    # Desired objects have one change each: write-only fields are filled in place.
    fill_write_only(
        ws.providers,
        (Wanted(c.id, c.instance, c.after, c.sensitive) for c in executable if c.after is not None),
        {c.id: seen[n] for n, c in enumerate(executable) if c.after is not None},
        inventory,
        redactor,
    )
    current = tuple(
        PlannedChange(
            c.action,
            c.id,
            c.api_version,
            seen[n],
            c.after,
            sensitive=c.sensitive,
            was_sensitive=c.was_sensitive,
        )
        for n, c in enumerate(executable)
    )
    current = protect(current, redactor)
    if fingerprint(current) != plan.live_fingerprint:
        moved = [
            str(c.id)
            for c, p in zip(current, plan.changes, strict=True)
            if c.public_before != p.public_before
        ]
        raise PlanError(
            f"live state changed since the plan was made ({', '.join(moved[:5])}"
            f"{' and more' if len(moved) > 5 else ''}); make a new plan"
        )
    return plan._replace(
        changes=tuple(
            c._replace(before=now.before) if c.sensitive_before else c
            for c, now in zip(executable, current, strict=True)
        ),
    )


def _check_plan_matches_revision(
    ws: Workspace,
    plan: Plan,
    inventory: Mapping[ResourceId, InventoryEntry],
    redactor: Callable[[], Redactor],
) -> dict[ResourceId, DesiredResource]:
    """A plan file is data anyone could edit: every change must be what its revision renders."""
    wanted = {d.resource.id: d for d in desired_state(ws)}
    drift = DriftSettings.of(ws.project, ws.environment)
    for change in plan.changes:
        want = wanted.get(change.id)
        if change.action is ChangeAction.DELETE:
            ok = change.id in inventory and (want is None) != change.superseded
        elif want is None or set(change.sensitive) != set(want.sensitive):
            ok = False
        elif (change.provider, change.api_version, change.depends_on, change.prune) != (
            want.resource.provider,
            want.resource.api_version,
            want.depends_on,
            want.resource.prune,
        ) or change.address != want.address:
            ok = False  # where, in what order and how it goes is the revision's to say too
        elif change.ignored != (drift.ignored(change.id) if change.before is not None else ()):
            ok = False  # what an update keeps of the live object is the revision's to say
        elif want.sensitive:
            expected = redactor().protect(want.resource.spec, want.sensitive)
            ok = same(change.public_after, expected)
        else:
            ok = same(change.after, want.resource.spec)
        if not ok:
            raise PlanError(
                f"the plan's change to {change.id} is not what revision {plan.revision[:12]} "
                "renders (was the plan file edited?); make a new plan"
            )
    return wanted


Select = Callable[[PlannedChange], bool]


def only(plan: Plan, select: Select) -> tuple[Plan, frozenset[ResourceId]]:
    """The plan with every change `select` refuses turned into a no-op (health checks still
    run), and the resources those changes concern, left alone whole: their inventory rows must
    stay as they are (a drifted object left alone must not have its live spec recorded)."""
    left = frozenset(c.id for c in plan.changes if c.is_change and not select(c))
    if not left:
        return plan, left
    changes = tuple(
        c._replace(action=ChangeAction.NOOP, diff=(), reason=_left_alone(c.reason))
        if c.is_change and c.id in left
        else c
        for c in plan.changes
    )
    return plan._replace(changes=changes), left


def _left_alone(reason: str) -> str:
    return f"left alone by this run ({reason})" if reason else "left alone by this run"


def _pending_entries(
    plan: Plan, inventory: dict[ResourceId, InventoryEntry]
) -> list[InventoryEntry]:
    return [
        InventoryEntry(
            c.id,
            c.api_version,
            canonical_json(c.public_after),
            "",
            c.depends_on,
            address=c.address,
            status="pending",
            prune=c.prune,
            instance=c.instance,
        )
        for c in plan.changes
        if c.action is ChangeAction.CREATE and c.id not in inventory and c.after is not None
    ]


def apply_workspace(
    ws: Workspace,
    store: StateStore,
    *,
    saved_plan: Plan | None = None,
    options: ApplyOptions | None = None,
    actor: str,
    trigger: str = "cli",
    kind: str = "apply",
    lock_timeout: float = 0.0,
    progress: Progress | None = None,
    on_plan: Callable[[Plan], bool] | None = None,
    gate: Callable[[Plan, Mapping[ResourceId, InventoryEntry]], list[str]] | None = None,
    prune_reason: str = "pruned: no longer in Git",
    select: Select | None = None,
    adopt: bool = False,
) -> ApplyOutcome | None:
    """Plan (or take a saved plan) and apply it. `on_plan` may decline (returns None then).
    `adopt`: take over existing objects of remote systems (else only those annotated).

    `gate(plan, inventory)` checks policies (and approvals) before anything is written: it raises to
    refuse, or returns notes (warnings, waivers) that the run records. `select(change)` says
    which changes to make: the others become no-ops (see `only`). A run that succeeds records
    its revision as applied all the same: select within the revision already applied (as
    the agent's heal does), or the state says more was applied than was.
    """
    with store.lock(ws.scope, lock_timeout):
        if saved_plan is not None:
            inventory = store.inventory(ws.scope)
            plan = check_saved_plan(ws, saved_plan, store, inventory)
        else:
            result = make_plan(
                ws, store, with_fingerprint=False, prune_reason=prune_reason, adopt=adopt
            )
            plan = result.plan
            inventory = result.inventory if result.inventory is not None else {}
        left: frozenset[ResourceId] = frozenset()
        if select is not None:
            plan, left = only(plan, select)
        notes = gate(plan, inventory) if gate is not None else []
        if on_plan is not None and not on_plan(plan):
            return None
        return execute_locked(
            ws,
            store,
            plan,
            inventory,
            options=options,
            actor=actor,
            trigger=trigger,
            kind=kind,
            progress=progress,
            notes=notes,
            left_alone=left,
        )


def execute_locked(
    ws: Workspace,
    store: StateStore,
    plan: Plan,
    inventory: dict[ResourceId, InventoryEntry],
    *,
    options: ApplyOptions | None = None,
    actor: str,
    trigger: str,
    kind: str,
    progress: Progress | None = None,
    notes: list[str] | None = None,
    left_alone: frozenset[ResourceId] = frozenset(),
) -> ApplyOutcome:
    """Apply `plan` (made against `inventory`) as one recorded run. The caller holds the
    environment's lock. `left_alone`: resources whose inventory rows the run must not touch."""
    notes = notes or []
    options = options or ApplyOptions()
    started = time.perf_counter()
    pending = _pending_entries(plan, inventory)
    run_id = store.begin_run(
        ws.scope,
        kind=kind,
        revision=plan.revision,
        trigger=trigger,
        actor=actor,
        pending=pending,
    )
    serialized = {e.id: e.spec_json for e in pending}
    recorder = _Recorder(
        store,
        ws.scope,
        run_id,
        plan.revision,
        actor,
        inventory,
        serialized=serialized,
        frozen=left_alone,
    )
    recorder.events.extend(AuditEvent("policy.note", ws.scope, {"note": n}) for n in notes)

    def on_result(change: PlannedChange, entry: ChangeSetEntry) -> None:
        recorder(change, entry)
        if progress is not None:
            progress(change, entry)

    status = "failed"
    changeset = ChangeSet()
    try:
        changeset = execute(plan.changes, ws.providers, options=options, on_result=on_result)
        status = "failed" if changeset.failed else "succeeded"
    finally:
        recorder.flush()
        check_ids = {c.id for c in plan.changes if c.action is ChangeAction.CHECK}
        checks = [e for e in changeset.entries if e.id in check_ids]
        healthy = all(e.action is Action.VERIFIED for e in checks) and status == "succeeded"
        store.finish_run(
            ws.scope,
            run_id,
            actor=actor,
            status=status,
            summary=changeset.counts,
            results=[e.as_json() for e in changeset.entries if e.action is not Action.UNCHANGED],
            warnings=list(dict.fromkeys([*plan.warnings, *notes])),
            healthy=healthy,
        )
    return ApplyOutcome(
        plan,
        changeset,
        run_id,
        status == "succeeded",
        healthy,
        time.perf_counter() - started,
        list(dict.fromkeys([*plan.warnings, *notes])),
        kind,
    )


def apply_environment(
    rt: Runtime,
    repo: str,
    env: str,
    *,
    actor: str,
    rev: str | None = None,
    saved_plan: Plan | None = None,
    state: str | None = None,
    options: ApplyOptions | None = None,
    policy: PolicyOptions | None = None,
    trigger: str = "cli",
    kind: str = "apply",
    lock_timeout: float = 0.0,
    confirm: Callable[[Plan], bool] | None = None,
    progress: Progress | None = None,
    prune_reason: str = "pruned: no longer in Git",
    adopt: bool = False,
    override_promotion: str | None = None,
) -> ApplyOutcome | None:
    """Render, validate, plan (or take a saved plan), gate on policy, apply in dependency
    order, verify and record: the one apply every entry point runs. `confirm(plan)` may
    decline (None is returned then); a policy failure raises PolicyRefusal before any write."""
    from gitcops.engine.policy_check import PolicyOptions, PolicyReport

    if saved_plan is not None and rev is not None:
        raise PlanError("give either a revision or a saved plan, not both")
    if saved_plan is not None and saved_plan.revision == "worktree":
        raise PlanError(
            "the plan was made from uncommitted files (--worktree); apply only applies commits"
        )
    options_ = policy or PolicyOptions()
    ws = open_checked(rt, repo, env, saved_plan.revision if saved_plan is not None else rev)

    def gate(plan: Plan, inventory: Mapping[ResourceId, InventoryEntry]) -> list[str]:
        store = rt.store(state)
        # What the environment runs already passed its gates: drift correction needs none.
        gated = not applied_here(store, ws)
        root = approving.trust_root(ws, store) if gated else None
        risk = risk_of(ws, store, plan, desired_state(ws), inventory, root)
        findings = policy_findings(ws, plan, len(inventory), options_, risk)
        report = PolicyReport(findings)
        if report.blocking:
            raise PolicyRefusalError(findings)
        if root is not None:
            try:
                checked = _promotion_gate(ws, store, kind, override_promotion, root)
                minimum = 1 if override_promotion else 0  # approved like any change
                checked += approving.gate(ws, store, risk.score, actor, minimum, root)
            except (PromotionRefusedError, approving.UnsignedCommitError) as refused:
                action = (
                    "promotion.refused"
                    if isinstance(refused, PromotionRefusedError)
                    else "commit.refused"
                )
                detail = {"reason": str(refused)}
                store.append_audit(
                    ws.scope, None, actor, AuditEvent(action, ws.revision.commit, detail)
                )
                raise
            if checked:
                store.append_audit(ws.scope, None, actor, *checked)
        return report.notes()

    try:
        return apply_workspace(
            ws,
            rt.store(state),
            saved_plan=saved_plan,
            options=options,
            actor=actor,
            trigger=trigger,
            kind=kind,
            lock_timeout=lock_timeout,
            progress=progress,
            on_plan=confirm,
            gate=gate,
            prune_reason=prune_reason,
            adopt=adopt,
        )
    finally:
        ws.close()


def _promotion_gate(
    ws: Workspace,
    store: StateStore,
    kind: str,
    override: str | None,
    root: approving.TrustRoot,
) -> list[AuditEvent]:
    """The promotion rule of the trust root. A rollback to a revision the environment ran
    healthy before is not a promotion; to any other, it is."""
    from gitcops.engine import promotion

    rule = root.environment.promotion
    if rule is None:
        return []
    if kind == "rollback" and any(
        s.revision == ws.revision.commit for s in promotion.stretches(store, ws.scope)
    ):
        return []  # back to what this environment ran healthy before: not a promotion
    if override:
        detail = {"from": rule.source, "reason": override}
        return [AuditEvent("promotion.overridden", ws.revision.commit, detail)]
    return [promotion.check(ws, store, rule)]


def rollback_environment(
    rt: Runtime,
    repo: str,
    env: str,
    target: str,
    *,
    actor: str,
    state: str | None = None,
    policy: PolicyOptions | None = None,
    trigger: str = "cli",
    lock_timeout: float = 0.0,
    confirm: Callable[[Plan], bool] | None = None,
    progress: Progress | None = None,
    pin: bool = True,
    until_newer: bool = False,
) -> ApplyOutcome | None:
    """Apply an earlier revision's rendered state, recorded as a rollback run: what it does
    not hold is removed, and says so. A successful rollback pins the environment to that
    revision: the agent keeps it there until `unpin`, or (`until_newer`) until the branch has a
    commit newer than the one it had when pinned."""
    source = rt.source(repo)
    revision = source.resolve(target)
    head = source.resolve(None).commit
    outcome = apply_environment(
        rt,
        repo,
        env,
        actor=actor,
        rev=revision.commit,
        state=state,
        policy=policy,
        trigger=trigger,
        kind="rollback",
        lock_timeout=lock_timeout,
        confirm=confirm,
        progress=progress,
        prune_reason=f"rolled back: not in revision {revision.short}",
    )
    if outcome is not None and outcome.succeeded and pin:
        scope = f"{outcome.plan.project}/{outcome.plan.environment}"
        rt.store(state).pin(
            scope, revision.commit, actor=actor, until_newer_than=head if until_newer else ""
        )
    return outcome
