"""validate: every environment rendered and checked, every problem and finding listed at once.

A document that cannot be rendered or fails its own checks is reported; every other document is
still judged by the policies and the plaintext-secret check, and the whole tree is still
secret-scanned, so one run lists schema errors, policy results and secret findings together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import checked_state, open_workspace, project_of, tree_at
from gitcops.model.diagnostics import Diagnostic
from gitcops.model.errors import InvalidInputError
from gitcops.model.findings import Finding

if TYPE_CHECKING:
    from gitcops.engine.policy_check import PolicyOptions


class ValidationResult(NamedTuple):
    revision: str
    environments: dict[str, int]  # resources rendered and checked, per environment
    diagnostics: list[Diagnostic]
    findings: list[Finding]

    @property
    def valid(self) -> bool:
        return not self.diagnostics and not any(f.blocking for f in self.findings)

    def as_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "valid": self.valid,
            "environments": self.environments,
            "diagnostics": [d.as_json() for d in self.diagnostics],
            "findings": [f.as_json() for f in self.findings],
        }


def validate_revision(
    rt: Runtime,
    repo: str,
    *,
    env: str | None = None,
    rev: str | None = None,
    worktree: bool = False,
    policy: PolicyOptions | None = None,
) -> ValidationResult:
    """Render and check `env` (default: every environment) at `rev` (default HEAD)."""
    from gitcops.engine.policy_check import (
        PolicyOptions,
        check_resources,
        scan_secrets,
        warm_up,
    )

    options = policy or PolicyOptions()
    source = rt.source(repo)
    revision, tree = tree_at(source, rev, worktree)
    project = project_of(rt, tree)
    names = [env] if env else [e.name for e in project.spec.environments]
    if env:
        project.environment(env)
    problems: list[Diagnostic] = []
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    scanned = False
    for name in names:
        try:
            ws = open_workspace(rt, source, name, rev, worktree, offline=True)
        except InvalidInputError as exc:
            problems.extend(exc.diagnostics)
            continue
        try:
            warm_up(ws)
            checked = checked_state(ws)
            problems.extend(checked.problems)
            counts[name] = len(checked.items)
            items = None if not checked.problems else checked.items
            findings.extend(check_resources(ws, options, items).findings)
        except InvalidInputError as exc:  # an overlay that cannot render, a broken policy
            problems.extend(exc.diagnostics)
        finally:
            ws.close()
        if not scanned:
            findings.extend(scan_secrets(ws, options).findings)
            scanned = True
    return ValidationResult(
        revision.commit,
        counts,
        list(dict.fromkeys(problems)),
        list(dict.fromkeys(findings)),
    )
