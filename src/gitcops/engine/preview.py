"""`gitcops preview`: what a merge request would change, for every environment it touches.

For each environment: the rendered documents that differ between the base and the head
revision (secrets masked; a changed secret says so without showing either value), the plan
against live state where the state store and providers answer (a note where they do not),
what policy says, the risk score and the approvals the change will need.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import yaml

from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import Workspace, desired_state, open_workspace
from gitcops.model.errors import GitcopsError, InvalidInputError
from gitcops.model.findings import Finding
from gitcops.model.identity import ResourceId
from gitcops.model.project import Project
from gitcops.model.sensitive import CHANGED, MARKER, Redactor, lookup
from gitcops.plan.model import ChangeAction, Plan, PlannedChange
from gitcops.plan.risk import Risk
from gitcops.source.git import Revision
from gitcops.source.tree import SourceTree, read_if_present
from gitcops.validate.resources import DesiredResource


class DocumentChange(NamedTuple):
    id: ResourceId
    status: str  # added | removed | changed
    diff: str  # unified diff of the documents as YAML (secrets masked)

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.id), "status": self.status, "diff": self.diff}


class EnvironmentPreview(NamedTuple):
    environment: str
    documents: tuple[DocumentChange, ...]
    plan: Plan | None  # against live state; None: not available (see plan_note)
    plan_note: str
    findings: tuple[Finding, ...]
    risk: Risk
    approvals_needed: int
    approvers: tuple[str, ...]
    # What of the gates the change edits (approval, promotion or signing rules, policies,
    # allowed signers): shown even when no document changes.
    gates: tuple[str, ...] = ()

    @property
    def affected(self) -> bool:
        return (
            bool(self.documents)
            or bool(self.gates)
            or (self.plan is not None and self.plan.has_changes)
        )

    @property
    def blocked(self) -> bool:
        return any(f.blocking for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "affected": self.affected,
            "documents": [d.as_json() for d in self.documents],
            "plan": self.plan.as_json() if self.plan is not None else None,
            "planNote": self.plan_note or None,
            "policy": {
                "passed": not self.blocked,
                "findings": [f.as_json() for f in self.findings],
            },
            "risk": self.risk.as_json(),
            "approvals": {"required": self.approvals_needed, "approvers": list(self.approvers)},
            "gateChanges": list(self.gates),
        }


class Preview(NamedTuple):
    project: str
    base: Revision
    head: Revision
    environments: tuple[EnvironmentPreview, ...]

    @property
    def blocked(self) -> bool:
        return any(e.blocked for e in self.environments)

    def as_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "base": self.base.commit,
            "head": self.head.commit,
            "policy": {"passed": not self.blocked},
            "environments": [e.as_json() for e in self.environments],
        }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks: a diff of file content reads line by line."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.rstrip("\n") or value.endswith("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def _as_yaml(doc: dict[str, Any]) -> list[str]:
    text = yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False)
    return text.splitlines(keepends=True)


def _shown(
    item: DesiredResource, other: DesiredResource | None, tokens: Redactor, head: bool
) -> dict[str, Any]:
    """The document for people: secrets masked; on the head side, one that differs from the
    base's says so."""
    doc = item.public_document()
    for path in item.sensitive:
        found, _ = lookup(item.resource.spec, path)
        if not found:
            continue
        mine = tokens.protect(item.resource.spec, [path])
        theirs = tokens.protect(other.resource.spec, [path]) if other is not None else None
        same = theirs is not None and lookup(mine, path) == lookup(theirs, path)
        node = doc["spec"]
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = CHANGED if head and other is not None and not same else MARKER
    return doc


def document_changes(
    before: Sequence[DesiredResource], after: Sequence[DesiredResource]
) -> tuple[DocumentChange, ...]:
    """What differs between two rendered sets, by resource, in id order."""
    tokens = Redactor(os.urandom(32))  # compares secrets between the two sides only
    old = {i.resource.id: i for i in before}
    new = {i.resource.id: i for i in after}
    out: list[DocumentChange] = []
    for rid in sorted(old.keys() | new.keys(), key=str):
        a, b = old.get(rid), new.get(rid)
        a_lines = _as_yaml(_shown(a, b, tokens, head=False)) if a is not None else []
        b_lines = _as_yaml(_shown(b, a, tokens, head=True)) if b is not None else []
        if a_lines == b_lines:
            continue
        status = "added" if a is None else "removed" if b is None else "changed"
        diff = "".join(difflib.unified_diff(a_lines, b_lines, f"a/{rid}", f"b/{rid}", n=3))
        out.append(DocumentChange(rid, status, diff))
    return tuple(out)


def rendered_plan(
    ws: Workspace, changes: Sequence[DocumentChange], after: Sequence[DesiredResource]
) -> Plan:
    """A plan of what Git changes (no live state): for the risk score where none is read."""
    new = {i.resource.id: i for i in after}
    action = {"added": ChangeAction.CREATE, "removed": ChangeAction.DELETE}
    planned = tuple(
        PlannedChange(
            action.get(c.status, ChangeAction.UPDATE),
            c.id,
            new[c.id].resource.api_version if c.id in new else f"{c.id.group}/v1",
            None if c.status == "added" else {},
            None if c.status == "removed" else {},
        )
        for c in changes
    )
    return Plan(
        ws.project.name,
        ws.environment.name,
        ws.revision.commit,
        ws.revision.requested,
        ws.revision.tree,
        ws.revision.author,
        0.0,
        planned,
        0,
    )


def preview(
    rt: Runtime,
    repo: str,
    base: str,
    head: str,
    *,
    environments: Sequence[str] = (),
    state: str | None = None,
) -> Preview:
    from gitcops.engine.planning import open_checked
    from gitcops.engine.workspace import project_of, tree_at

    source = rt.source(repo)
    base_rev = source.resolve(base)
    head_rev, head_tree = tree_at(source, head)
    project = project_of(rt, head_tree)
    names = list(environments) or [e.name for e in project.spec.environments]
    for name in names:
        project.environment(name)  # an unknown name is an error, named
    out = []
    base_tree = source.tree(base_rev)
    try:
        base_project: Project | None = project_of(rt, base_tree)
    except GitcopsError:
        base_project = None
    for name in names:
        try:
            before_ws = open_workspace(rt, source, name, base_rev.commit, offline=True)
            try:
                before: list[DesiredResource] = desired_state(before_ws)
            finally:
                before_ws.close()
        except (InvalidInputError, GitcopsError):
            before = []  # the environment is new, or its base did not render: all is added
        ws = open_checked(rt, repo, name, head_rev.commit)
        try:
            known = _Base(base_project, base_tree) if base_project is not None else None
            out.append(_environment(rt, ws, before, state, known))
        finally:
            ws.close()
    return Preview(project.name, base_rev, head_rev, tuple(out))


class _Base(NamedTuple):
    project: Project
    tree: SourceTree


def gate_changes(ws: Workspace, base: _Base | None) -> tuple[str, ...]:
    """What of the environment's gates differs between the base revision and the head."""
    from gitcops.engine.approving import trusted_environment
    from gitcops.engine.risk import rule_changes

    if base is None:
        return ("the project file (the base revision does not parse)",)
    old_env = trusted_environment(base.project, ws.environment.name)
    changed = rule_changes(base.project, old_env, base.tree, ws)
    for label, now, then in (
        (
            "approvers' keys",
            ws.environment.approvals.allowed_signers,
            old_env.approvals.allowed_signers,
        ),
        (
            "commit signers' keys",
            ws.environment.signed_commits.allowed_signers
            if ws.environment.signed_commits
            else None,
            old_env.signed_commits.allowed_signers if old_env.signed_commits else None,
        ),
    ):
        if read_if_present(ws.tree, now) != read_if_present(base.tree, then):
            changed.append(label)
    return tuple(changed)


def _environment(
    rt: Runtime,
    ws: Workspace,
    before: Sequence[DesiredResource],
    state: str | None,
    base: _Base | None,
) -> EnvironmentPreview:
    from gitcops.engine.planning import make_plan, plan_risk, policy_findings
    from gitcops.engine.policy_check import PolicyOptions
    from gitcops.engine.risk import assess_plan

    after = desired_state(ws)
    documents = document_changes(before, after)
    plan: Plan | None = None
    note = ""
    store = None
    if state is None and not _default_state_exists():
        note = "no state store here (give --state): the rendered change only, no live plan"
    else:
        try:
            store = rt.store(state)
            result = make_plan(ws, store, adopt=True)
            plan = result.plan
            risk = plan_risk(ws, store, result)
            inventory_size = result.inventory_size
        except (GitcopsError, OSError) as exc:
            note = f"no live plan: {exc}"
            plan = None
    if plan is None:
        checked = rendered_plan(ws, documents, after)
        risk = assess_plan(ws, store, after, checked)
        inventory_size = 0
    else:
        checked = plan
    findings = policy_findings(ws, checked, inventory_size, PolicyOptions(), risk)
    from gitcops.engine.approving import trust_root, trusted_environment

    gates = gate_changes(ws, base)
    # The rules that will judge the change: the trust root's; without a state store, the base
    # revision's (what the target branch runs), never the head's own.
    root = trust_root(ws, store) if store is not None else None
    if root is not None and (root.revision is not None or root.base is not None):
        rules = root.environment.approvals
    elif base is not None:  # nothing trusted yet: what the target branch says
        rules = trusted_environment(base.project, ws.environment.name).approvals
    else:
        rules = ws.environment.approvals
    shown = EnvironmentPreview(
        ws.environment.name, documents, plan, note, tuple(findings), risk, 0, rules.approvers, gates
    )
    # Approvals are needed only where the change touches the environment.
    return shown._replace(approvals_needed=rules.needed(risk.score)) if shown.affected else shown


def _default_state_exists() -> bool:
    from pathlib import Path

    from gitcops.engine.runtime import default_state_location

    return Path(default_state_location()).exists()
