"""What the risk of a plan needs beyond the plan: the environment's place, the resource graph,
the run history and what changed in the rules since the revision last applied."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from gitcops.engine.workspace import Workspace, project_of, tree_at
from gitcops.model.errors import GitcopsError
from gitcops.model.identity import ResourceId
from gitcops.model.project import Environment, Project
from gitcops.plan.model import Plan
from gitcops.plan.risk import Risk, RiskContext, assess
from gitcops.source.tree import SourceTree
from gitcops.state.store import StateStore
from gitcops.validate.resources import DesiredResource

if TYPE_CHECKING:
    from gitcops.engine.approving import TrustRoot

HISTORY = 20  # runs a failure rate looks back on
_WIDE = 5  # dependents beyond which the blast radius adds nothing: counting stops there


def assess_plan(
    ws: Workspace,
    store: StateStore | None,
    items: Sequence[DesiredResource],
    plan: Plan,
    edges: Mapping[ResourceId, Sequence[ResourceId]] | None = None,
    root: TrustRoot | None = None,
) -> Risk:
    """The plan's risk. `edges`: dependencies of objects no longer in Git (from the
    inventory), so a deletion's dependents count too. Without a state store (a preview in
    CI) the history and the rules last applied are unknown: they add nothing."""
    root = root or _trusted(ws, store)
    names = [
        e.name for e in (root.project if root and root.project else ws.project).spec.environments
    ]
    changed = [c.id for c in plan.changes if c.is_change]
    data_kinds = {
        (c.id.group, c.id.kind)
        for c in plan.changes
        if c.is_change
        and (p := ws.providers.get(c.provider)) is not None  # the instance, not the type
        and c.id.kind in p.kinds()
        and p.kinds()[c.id.kind].holds_data
    }
    # An environment the trusted order does not know counts as its last (the riskiest).
    position = names.index(ws.environment.name) if ws.environment.name in names else len(names)
    context = RiskContext(
        position=position,
        environments=max(len(names), position + 1),
        dependents=dependents_of(items, changed, edges),
        failure_rates=failure_rates(store, ws.scope, changed) if store is not None else {},
        data_kinds=data_kinds,
        configuration=configuration_changes(ws, store, root) if store is not None else (),
    )
    return assess(plan, context)


def _trusted(ws: Workspace, store: StateStore | None) -> TrustRoot | None:
    """The trust root, whose promotion order counts (a change cannot make its environment
    look earlier by adding environments after it) and whose rules a change is compared with."""
    if store is None:
        return None
    from gitcops.engine.approving import trust_root

    try:
        return trust_root(ws, store)
    except GitcopsError:
        return None


def dependents_of(
    items: Sequence[DesiredResource],
    changed: Sequence[ResourceId],
    edges: Mapping[ResourceId, Sequence[ResourceId]] | None = None,
) -> dict[ResourceId, int]:
    graph: dict[ResourceId, list[ResourceId]] = {}
    for item in items:
        for dep in item.depends_on:
            graph.setdefault(dep, []).append(item.resource.id)
    for rid, deps in (edges or {}).items():
        for dep in deps:
            graph.setdefault(dep, []).append(rid)
    return {rid: _dependents(graph, rid) for rid in changed}


def _dependents(graph: Mapping[ResourceId, Sequence[ResourceId]], start: ResourceId) -> int:
    seen: set[ResourceId] = set()
    queue = deque(graph.get(start, ()))
    while queue and len(seen) < _WIDE:
        rid = queue.popleft()
        if rid not in seen and rid != start:
            seen.add(rid)
            queue.extend(graph.get(rid, ()))
    return len(seen)


def failure_rates(
    store: StateStore, scope: str, ids: Iterable[ResourceId]
) -> dict[ResourceId, float]:
    """For each resource: in how many of the recent runs that touched it it failed."""
    wanted = {str(rid): rid for rid in ids}
    tried: dict[str, int] = {}
    failed: dict[str, int] = {}
    for run in store.runs(scope, limit=HISTORY):
        for result in run.results:
            key = str(result.get("id", ""))
            if key not in wanted or result.get("action") in ("unchanged", "no-op"):
                continue
            tried[key] = tried.get(key, 0) + 1
            if result.get("action") == "failed":
                failed[key] = failed.get(key, 0) + 1
    return {wanted[k]: failed.get(k, 0) / n for k, n in tried.items() if n}


def rules_of(project: Project, env: Environment) -> dict[str, object]:
    """The rules a change to which is itself risky: policy settings, approvals, promotion,
    signed commits."""
    return {
        "policy settings": project.spec.policy,
        "approval rules": env.approvals._asdict(),
        "promotion rules": env.promotion._asdict() if env.promotion else None,
        "commit signing rules": env.signed_commits._asdict() if env.signed_commits else None,
    }


def configuration_changes(
    ws: Workspace, store: StateStore, root: TrustRoot | None = None
) -> tuple[str, ...]:
    """What of the rules differs from the revision the environment last applied (nothing on
    a first apply: there is nothing to compare with). `root`: the trust root, when known,
    read for that revision already."""
    status = store.env_status(ws.scope)
    if status is None or not status.applied_revision or ws.is_worktree:
        return ()
    if status.applied_revision == ws.revision.commit:
        return ()
    if root is not None and root.revision == status.applied_revision and root.project:
        before, old_project = root.tree, root.project
    else:
        try:
            _, before = tree_at(ws.source, status.applied_revision)
            old_project = project_of(ws.runtime, before)
        except GitcopsError:
            return ("the project file (the applied revision cannot be read)",)
    try:
        old_env = old_project.environment(ws.environment.name)
    except GitcopsError:
        return ("the project file (the applied revision cannot be read)",)
    assert before is not None
    return tuple(rule_changes(old_project, old_env, before, ws))


def rule_changes(
    old_project: Project, old_env: Environment, old_tree: SourceTree, ws: Workspace
) -> list[str]:
    """The rules (and policy files) that differ between an old revision and the workspace's,
    policies first."""
    from gitcops.engine.policy_check import policy_files

    old = rules_of(old_project, old_env)
    changed = [n for n, v in rules_of(ws.project, ws.environment).items() if old[n] != v]
    if policy_files(old_tree, []) != policy_files(ws.tree, []):
        changed.insert(0, "policies")
    return changed
