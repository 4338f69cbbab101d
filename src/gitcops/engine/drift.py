"""Drift governance: what changed outside gitcops since it applied, under each resource's drift
mode, and healing it. The agent calls `heal_environment` on each interval.

Drift is a live object that differs from what gitcops last applied to it (Git did not change
it). Each resource has an effective mode: its `gitcops.io/drift` annotation, or its
environment's `drift`. `detect` and `warn` are recorded (the agent also notifies for `warn`);
`heal` is recorded and applied again; `ignore` is neither. Fields that gitcops.yaml's
`ignoreDifferences` names are never drift, and never overwritten.
"""

import hashlib
from collections.abc import Collection
from typing import Any, NamedTuple

from gitcops.apply.executor import ApplyOptions
from gitcops.engine.applying import ApplyOutcome, execute_locked, only
from gitcops.engine.planning import make_plan
from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import (
    Workspace,
    desired_key,
    head_project,
    open_workspace,
)
from gitcops.model.canonical import canonical_json
from gitcops.model.diagnostics import Diagnostics
from gitcops.model.drift import DriftMode
from gitcops.model.errors import GitcopsError
from gitcops.model.identity import ResourceId
from gitcops.model.resource import DRIFT, DRIFT_VALUES, Resource
from gitcops.plan.diff import DiffItem, DiffOp
from gitcops.plan.model import ChangeAction, Plan, PlannedChange
from gitcops.state.records import AuditEvent

DRIFT_DETECTED = "drift.detected"
# A drift.detected event keeps a field's values up to this size (their canonical JSON); a
# larger one (a whole file's content) is recorded as its size and hash.
MAX_EVENT_VALUE = 1024


class DriftItem(NamedTuple):
    """One drifted object: `diff` goes from what was applied (`old`) to what is live (`new`),
    secrets as their keyed-hash tokens."""

    id: str
    state: str  # modified | missing
    diff: tuple[DiffItem, ...] = ()
    mode: DriftMode = DriftMode.DETECT

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "diff": [d.as_json() for d in self.diff],
            "mode": self.mode.value,
        }

    @property
    def fingerprint(self) -> str:
        """The same drift (object, fields, values and mode) found again has the same one."""
        return hashlib.sha256(canonical_json(self.as_json()).encode()).hexdigest()

    def event(self, revision: str) -> AuditEvent:
        """The `drift.detected` audit event: field-level before (as applied) and after (live)."""
        return AuditEvent(
            DRIFT_DETECTED,
            self.id,
            {
                "mode": self.mode.value,
                "state": self.state,
                "revision": revision,
                "fields": [
                    {
                        "op": d.op.value,
                        "path": d.field,
                        "old": _bounded(d.old),
                        "new": _bounded(d.new),
                    }
                    for d in self.diff
                ],
            },
        )


def _bounded(value: Any) -> Any:
    text = canonical_json(value)
    if len(text) <= MAX_EVENT_VALUE:
        return value
    data = text.encode()
    return f"({len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()})"


_FLIPPED = {DiffOp.ADD: DiffOp.REMOVE, DiffOp.REMOVE: DiffOp.ADD, DiffOp.CHANGE: DiffOp.CHANGE}


def drift_items(plan: Plan) -> list[DriftItem]:
    """The drift a plan found (changes drift caused), by id; those of mode `ignore` are not."""
    items = [
        _item(c)
        for c in plan.changes
        if c.drift is not None and c.drift is not DriftMode.IGNORE and c.is_change
    ]
    return sorted(items, key=lambda i: i.id)


def _item(change: PlannedChange) -> DriftItem:
    assert change.drift is not None
    if change.action is ChangeAction.CREATE:
        return DriftItem(str(change.id), "missing", (), change.drift)
    # A plan's diff goes from live to desired; drift is told from applied to live.
    diff = tuple(DiffItem(_FLIPPED[d.op], d.path, d.new, d.old) for d in change.public_diff())
    return DriftItem(str(change.id), "modified", diff, change.drift)


def annotated_modes(ws: Workspace) -> dict[ResourceId, DriftMode]:
    """The `gitcops.io/drift` annotations of the workspace's documents, without resolving a
    secret: from its desired set when the cache holds it, else from its rendered documents."""
    cache = ws.runtime.cache
    key = desired_key(ws)
    cached = cache.load_desired(key) if cache is not None and key is not None else None
    if cached is not None:
        resources = [item.resource for item in cached[0]]
    else:
        from gitcops.render.pipeline import render_environment

        memo_scope = [str(ws.source.git_dir), ws.environment.path]
        memo = cache.load_documents(memo_scope) if cache is not None and key is not None else None
        resources = []
        for rendered in render_environment(ws.tree, ws.environment, Diagnostics(), memo):
            metadata = rendered.doc.get("metadata")
            notes = metadata.get("annotations") if isinstance(metadata, dict) else None
            if isinstance(notes, dict) and notes.get(DRIFT) in DRIFT_VALUES:
                try:
                    resources.append(Resource.from_document(rendered.doc, rendered.origin))
                except (KeyError, TypeError, ValueError):
                    continue  # not a valid resource: it was never applied
    return {r.id: mode for r in resources if (mode := r.drift_mode) is not None}


class HealOutcome(NamedTuple):
    """What `heal_environment` found and did."""

    scope: str
    revision: str  # the last applied revision, planned against live again
    checked: int  # resources compared
    drifted: tuple[DriftItem, ...]  # by id; every mode but ignore
    healed: ApplyOutcome | None  # the heal run; None when nothing had mode heal
    recorded: int  # drift.detected events written by this call

    @property
    def by_mode(self) -> dict[DriftMode, tuple[DriftItem, ...]]:
        """The drifted items of each mode (detect, warn, heal), every mode present."""
        modes = (DriftMode.DETECT, DriftMode.WARN, DriftMode.HEAL)
        return {m: tuple(i for i in self.drifted if i.mode is m) for m in modes}

    @property
    def fingerprints(self) -> frozenset[str]:
        """Pass them to the next call (`recorded=`): drift still the same is not recorded twice."""
        return frozenset(i.fingerprint for i in self.drifted)

    def as_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "appliedRevision": self.revision,
            "checked": self.checked,
            "drifted": {m.value: [i.as_json() for i in items] for m, items in self.by_mode.items()},
            "recorded": self.recorded,
            "heal": self.healed.as_json() if self.healed is not None else None,
        }


def heal_environment(
    rt: Runtime,
    repo: str,
    env: str,
    *,
    actor: str,
    state: str | None = None,
    trigger: str = "agent",
    lock_timeout: float = 0.0,
    options: ApplyOptions | None = None,
    recorded: Collection[str] = (),
) -> HealOutcome:
    """Compare live state with the environment's last applied revision and heal what may be.

    Under the environment's lock: the last applied revision (not HEAD) is rendered and planned
    against live; every drifted resource is recorded in the audit log (`drift.detected`, with
    its mode and the fields' applied and live values, secrets as tokens); then the changes
    whose drift mode is `heal` are applied as one run of kind `heal` (its policies passed when
    that revision was applied: they are not checked again). Everything else is left alone: no
    other object is written, and no other inventory row changes.

    `recorded`: fingerprints of drift already recorded (a previous outcome's `fingerprints`):
    drift found again unchanged is returned but not recorded again. Raises GitcopsError when
    the environment has never been applied successfully, LockedError when another run holds it.
    """
    project = head_project(rt, repo, env)
    scope = f"{project.name}/{env}"
    store = rt.store(state)
    with store.lock(scope, lock_timeout):
        status = store.env_status(scope)
        revision = status.applied_revision if status is not None else ""
        if not revision:
            raise GitcopsError(
                f"environment {env} has never been applied successfully: there is no applied "
                "revision to compare live state with, nor to heal to"
            )
        ws = open_workspace(rt, rt.source(repo), env, revision)
        try:
            if ws.scope != scope:
                raise GitcopsError(
                    f"revision {revision[:12]} names the project {ws.project.name!r}, not "
                    f"{project.name!r}: apply the latest revision before healing"
                )
            result = make_plan(ws, store, with_fingerprint=False)
            plan = result.plan
            drifted = drift_items(plan)
            fresh = [i.event(revision) for i in drifted if i.fingerprint not in recorded]
            if fresh:
                store.append_audit(scope, None, actor, fresh[0], *fresh[1:])
            healed = None
            if any(c.drift is DriftMode.HEAL and c.is_change for c in plan.changes):
                selected, left = only(plan, lambda c: c.drift is DriftMode.HEAL)
                healed = execute_locked(
                    ws,
                    store,
                    selected,
                    result.inventory if result.inventory is not None else {},
                    options=options,
                    actor=actor,
                    trigger=trigger,
                    kind="heal",
                    left_alone=left,
                )
            checked = sum(
                1 for c in plan.changes if c.action not in (ChangeAction.CHECK, ChangeAction.DELETE)
            )
            return HealOutcome(scope, revision, checked, tuple(drifted), healed, len(fresh))
        finally:
            ws.close()
