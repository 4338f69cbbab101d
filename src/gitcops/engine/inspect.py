"""Read-only views: drift (live vs last applied), status per environment, run history."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitcops.engine.planning import read_one, store_redactor
from gitcops.engine.workspace import load_providers, project_of, tree_at
from gitcops.model.errors import GitcopsError
from gitcops.model.project import Environment, Project
from gitcops.plan.diff import DiffItem, diff, same
from gitcops.source.git import Source
from gitcops.state.records import EnvStatus, RunRecord
from gitcops.state.store import StateStore


@dataclass(frozen=True, slots=True)
class DriftItem:
    id: str
    state: str  # modified | missing
    diff: tuple[DiffItem, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "diff": [d.as_json() for d in self.diff]}


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


def _project_at(source: Source, rev: str | None) -> Project:
    _, tree = tree_at(source, rev)
    return project_of(tree)


def detect_drift(source: Source, env_name: str, store: StateStore) -> DriftReport:
    """Compare each object as last applied with what is live now. Git is not consulted."""
    head = _project_at(source, None)
    scope = f"{head.name}/{env_name}"
    status = store.env_status(scope)
    head.environment(env_name)
    # A failed first apply still leaves objects behind: compare those too.
    revision = status.applied_revision or status.attempted_revision if status else ""
    if status is None or not revision or status.resources == 0:
        raise GitcopsError(f"environment {env_name} has never been applied; nothing to compare")
    # Providers as configured when the state was applied: that is where the objects are.
    project = _project_at(source, revision)
    env = project.environment(env_name)
    base_dir = source.workdir if source.workdir is not None else Path.cwd()
    providers = load_providers(project, env, base_dir)
    report = DriftReport(scope, revision, 0)
    redactor = store_redactor(store)
    for rid, entry in sorted(store.inventory(scope).items(), key=lambda kv: str(kv[0])):
        if entry.status != "applied":
            continue
        report.checked += 1
        live = read_one(providers, rid, entry.spec)
        if live is None:
            report.items.append(DriftItem(str(rid), "missing"))
            continue
        # Secrets were stored as keyed hashes: hash what is live the same way to compare.
        sensitive = entry.sensitive
        if sensitive:
            live = redactor().protect(live, sensitive)
        if not same(live, entry.spec):
            report.items.append(DriftItem(str(rid), "modified", tuple(diff(entry.spec, live))))
    return report


@dataclass(frozen=True, slots=True)
class EnvironmentView:
    name: str
    scope: str
    latest_revision: str
    status: EnvStatus | None
    drift_mode: str

    @property
    def in_sync(self) -> bool:
        return self.status is not None and self.status.applied_revision == self.latest_revision

    def as_json(self) -> dict[str, Any]:
        st = self.status
        return {
            "environment": self.name,
            "scope": self.scope,
            "latestRevision": self.latest_revision,
            "appliedRevision": st.applied_revision if st else None,
            "attemptedRevision": st.attempted_revision if st else None,
            "inSync": self.in_sync,
            "healthy": st.healthy if st else None,
            "lastRun": {"id": st.last_run_id, "status": st.last_run_status} if st else None,
            "resources": st.resources if st else 0,
            "drift": self.drift_mode,
        }


def environment_views(source: Source, store: StateStore, rev: str | None) -> list[EnvironmentView]:
    revision, tree = tree_at(source, rev)
    project = project_of(tree)
    return [_view(project, env, revision.commit, store) for env in project.spec.environments]


def _view(project: Project, env: Environment, latest: str, store: StateStore) -> EnvironmentView:
    scope = f"{project.name}/{env.name}"
    return EnvironmentView(env.name, scope, latest, store.env_status(scope), env.drift.value)


def history(source: Source, store: StateStore, env_name: str | None, limit: int) -> list[RunRecord]:
    project = _project_at(source, None)
    if env_name is None:
        prefix = f"{project.name}/"
        return [r for r in store.runs(None, limit * 10) if r.scope.startswith(prefix)][:limit]
    project.environment(env_name)
    return store.runs(f"{project.name}/{env_name}", limit)


def rollback_target(source: Source, store: StateStore, env_name: str) -> str:
    """The revision applied successfully before the current one."""
    project = _project_at(source, None)
    scope = f"{project.name}/{env_name}"
    status = store.env_status(scope)
    current = status.applied_revision if status else ""
    for run in store.runs(scope, 1000):
        if run.status == "succeeded" and run.revision not in (current, "worktree"):
            return run.revision
    raise GitcopsError(
        f"environment {env_name} has no earlier successful revision to roll back to; use --to REV"
    )
