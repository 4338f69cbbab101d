"""Read-only views: drift (live vs last applied), status per environment, run history, audit."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from gitcops.engine.planning import (
    DriftSettings,
    ToRead,
    Wanted,
    fill_write_only,
    make_plan,
    read_objects,
    store_redactor,
)
from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import head_project, open_workspace, project_of, tree_at
from gitcops.model.drift import DriftMode
from gitcops.model.errors import GitcopsError, SourceError
from gitcops.model.project import Project
from gitcops.plan.diff import diff, same
from gitcops.plan.ignore import respect
from gitcops.source.git import Revision, Source
from gitcops.state.records import (
    AuditEntry,
    AuditHead,
    AuditVerdict,
    EnvControl,
    EnvStatus,
    ReconcileRecord,
    RunRecord,
)
from gitcops.state.store import StateStore

if TYPE_CHECKING:
    from gitcops.engine.drift import DriftItem  # applying, approvals: not for status


@dataclass
class DriftReport:
    scope: str
    revision: str
    checked: int
    items: list[DriftItem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "appliedRevision": self.revision,
            "checked": self.checked,
            "drifted": len(self.items),
            "items": [i.as_json() for i in self.items],
        }


def drift_report(rt: Runtime, repo: str, env_name: str, state: str | None) -> DriftReport:
    """Compare each object as last applied with what is live now, under the drift settings of
    the revision applied (ignore rules, modes). The objects are compared with the inventory,
    not with Git: the revision is read only for its gitcops.yaml and annotations."""
    source = rt.source(repo)
    head = head_project(rt, repo, env_name)
    scope = f"{head.name}/{env_name}"
    store = rt.store(state)
    status = store.env_status(scope)
    # A failed first apply still leaves objects behind: compare those too.
    revision = status.applied_revision or status.attempted_revision if status else ""
    if status is None or not revision or status.resources == 0:
        raise GitcopsError(f"environment {env_name} has never been applied; nothing to compare")
    # Providers as configured when the state was applied: that is where the objects are.
    ws = open_workspace(rt, source, env_name, revision)
    try:
        settings = DriftSettings.of(ws.project, ws.environment)
        from gitcops.engine.drift import DriftItem, annotated_modes

        modes = annotated_modes(ws)
        report = DriftReport(scope, revision, 0)
        redactor = store_redactor(store)
        inventory = store.inventory(scope)
        entries = []
        for rid, entry in sorted(inventory.items(), key=lambda kv: str(kv[0])):
            mode = modes.get(rid, settings.mode)
            if entry.status != "applied" or mode is DriftMode.IGNORE:
                continue
            entries.append((rid, entry, mode))
        report.checked = len(entries)
        lives = read_objects(
            ws.providers,
            [ToRead(rid, e.provider, e.spec, e.state) for rid, e, _ in entries],
        )
        # Secrets were stored as keyed hashes: hash what is live the same way to compare.
        seen = {
            rid: redactor().protect(live, e.sensitive) if live and e.sensitive else live
            for (rid, e, _), live in zip(entries, lives, strict=True)
        }
        # Fields never reported are as applied, by definition.
        fill_write_only(
            ws.providers,
            (Wanted(rid, e.instance, e.spec) for rid, e, _ in entries),
            seen,
            inventory,
            redactor,
        )
        for rid, entry, mode in entries:
            live = seen[rid]
            if live is None:
                report.items.append(DriftItem(str(rid), "missing", (), mode))
                continue
            applied = entry.spec
            ignored = settings.ignored(rid)
            if ignored:  # ignored fields take their live values: they never differ
                applied = respect(applied, live, ignored)
            if not same(live, applied):
                changed = tuple(diff(applied, live))
                report.items.append(DriftItem(str(rid), "modified", changed, mode))
        return report
    finally:
        ws.close()


class EnvironmentView(NamedTuple):
    """What `status` says of one environment. In sync means: the last run succeeded, and a
    plan of the latest revision would change nothing (`reason` says why not otherwise)."""

    name: str
    scope: str
    latest_revision: str
    status: EnvStatus | None
    drift_mode: str
    in_sync: bool
    reason: str
    pending_changes: int | None  # what a plan of the latest revision would change; None: unknown
    control: EnvControl
    last_reconcile: ReconcileRecord | None  # the agent's, when one runs

    def as_json(self) -> dict[str, Any]:
        st = self.status
        return {
            "environment": self.name,
            "scope": self.scope,
            "latestRevision": self.latest_revision,
            "appliedRevision": (st.applied_revision or None) if st else None,
            "attemptedRevision": (st.attempted_revision or None) if st else None,
            "inSync": self.in_sync,
            "reason": self.reason,
            "pendingChanges": self.pending_changes,
            "healthy": st.healthy if st else None,
            "lastRun": {"id": st.last_run_id, "status": st.last_run_status} if st else None,
            "resources": st.resources if st else 0,
            "drift": self.drift_mode,
            "suspended": self.control.suspended,
            "pin": {
                "revision": self.control.pin,
                "untilNewerThan": self.control.pinned_head or None,
            }
            if self.control.pin
            else None,
            "badRevisions": list(self.control.bad),
            "lastReconcile": _reconcile_json(self.last_reconcile),
        }


def _reconcile_json(record: ReconcileRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {
        "at": record.at,
        "outcome": record.outcome,
        "reason": record.reason,
        "revision": record.revision or None,
        "fetchedAt": record.fetched_at,
        "sourceError": record.source_error or None,
    }


class StatusReport(NamedTuple):
    environments: list[EnvironmentView]
    note: str = ""  # e.g. a repository without commits

    def as_json(self) -> dict[str, Any]:
        return {
            "environments": [v.as_json() for v in self.environments],
            "note": self.note or None,
        }


def status_report(rt: Runtime, repo: str, rev: str | None, state: str | None) -> StatusReport:
    """Every environment of the project at `rev` (default HEAD): what is applied, and whether
    it is in sync with that revision (a plan is made, without writing anything)."""
    source = rt.source(repo)
    try:
        revision, tree = tree_at(source, rev)
    except SourceError:
        if rev is None and not source.has_commits():
            return StatusReport([], f"repository {source.location} has no commits yet")
        raise
    project = project_of(rt, tree)
    store = rt.store(state)
    return StatusReport(
        [_view(rt, source, revision, project, e.name, store) for e in project.spec.environments]
    )


def _view(
    rt: Runtime, source: Source, revision: Revision, project: Project, name: str, store: StateStore
) -> EnvironmentView:
    env = project.environment(name)
    scope = f"{project.name}/{name}"
    status = store.env_status(scope)
    control = store.control(scope)
    reconciled = store.last_reconcile(scope)

    def view(in_sync: bool, reason: str, pending: int | None = None) -> EnvironmentView:
        return EnvironmentView(
            name,
            scope,
            revision.commit,
            status,
            env.drift.value,
            in_sync,
            reason,
            pending,
            control,
            reconciled,
        )

    if status is None or status.last_run_id == 0:
        return view(False, "never applied")
    if status.last_run_status != "succeeded":
        said = {"running": "is still running (or was killed)", "interrupted": "was interrupted"}
        how = said.get(status.last_run_status, status.last_run_status)
        return view(False, f"the last run ({status.last_run_id}) {how}")
    try:
        ws = open_workspace(rt, source, name, revision.commit)
        try:
            plan = make_plan(ws, store, with_fingerprint=False).plan
        finally:
            ws.close()
    except GitcopsError as exc:
        return view(False, f"the latest revision cannot be planned: {exc}")
    pending = plan.summary.changes
    if pending:
        return view(False, f"a plan of {revision.short} would make {pending} change(s)", pending)
    if status.applied_revision != revision.commit:
        return view(True, f"{revision.short} renders what was applied", 0)
    return view(True, "", 0)


def run_history(
    rt: Runtime, repo: str, env_name: str | None, state: str | None, limit: int
) -> list[RunRecord]:
    project = head_project(rt, repo, env_name)
    store = rt.store(state)
    if env_name is None:
        prefix = f"{project.name}/"
        return [r for r in store.runs(None, limit * 10) if r.scope.startswith(prefix)][:limit]
    return store.runs(f"{project.name}/{env_name}", limit)


def run_as_json(r: RunRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "environment": r.scope,
        "kind": r.kind,
        "revision": r.revision,
        "trigger": r.trigger,
        "actor": r.actor,
        "startedAt": r.started_at,
        "finishedAt": r.finished_at,
        "status": r.status,
        "summary": r.summary,
        "warnings": r.warnings,
    }


def rollback_target(rt: Runtime, repo: str, env_name: str, state: str | None) -> Revision:
    """The revision applied successfully before the current one."""
    project = head_project(rt, repo, env_name)
    scope = f"{project.name}/{env_name}"
    store = rt.store(state)
    status = store.env_status(scope)
    current = status.applied_revision if status else ""
    for run in store.runs(scope, 1000):
        if run.status == "succeeded" and run.revision not in (current, "worktree"):
            return rt.source(repo).resolve(run.revision)
    raise GitcopsError(
        f"environment {env_name} has no earlier successful revision to roll back to; use --to REV"
    )


def verify_audit(rt: Runtime, state: str | None, head: AuditHead | None = None) -> AuditVerdict:
    """The audit chain recomputed; with `head` (kept elsewhere), the log must still hold it."""
    return rt.store(state).verify_audit(head)


def audit_verdict_as_json(verdict: AuditVerdict, checked: AuditHead | None) -> dict[str, Any]:
    return {
        "ok": verdict.ok,
        "entries": verdict.entries,
        "firstBadSeq": verdict.first_bad_seq,
        "problem": verdict.problem or None,
        "head": verdict.head.as_json() if verdict.head is not None else None,
        "checkedHead": checked.as_json() if checked is not None else None,
    }


def audit_entries(rt: Runtime, state: str | None, scope: str | None) -> list[AuditEntry]:
    return list(rt.store(state).audit(scope))


def audit_entry_as_json(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "ts": e.ts,
        "scope": e.scope,
        "run": e.run_id,
        "actor": e.actor,
        "action": e.action,
        "subject": e.subject,
        "detail": e.detail,
        "hash": e.hash,
    }
