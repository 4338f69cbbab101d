"""`gitcops preview -o markdown`: a merge-request comment. Long parts fold into <details>;
secrets are masked before anything gets here (the engine's documents and plans hold none)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gitcops.engine.preview import EnvironmentPreview, Preview
from gitcops.model.findings import Finding
from gitcops.plan.text import render_plan

MARKER = "<!-- gitcops-preview -->"  # lets CI find and update its own comment
_FOLD_LINES = 20  # longer diffs and plans start folded


def render(preview: Preview) -> str:
    return "\n".join(_lines(preview)) + "\n"


def _lines(p: Preview) -> Iterator[str]:
    yield MARKER
    yield f"## gitcops preview: {p.project} `{p.base.commit[:12]}` → `{p.head.commit[:12]}`"
    yield ""
    verdict = "**failed**: apply would refuse it" if p.blocked else "passed"
    yield f"Policy {verdict}."
    yield ""
    yield "| environment | documents | plan | policy | risk | approvals needed |"
    yield "|---|---|---|---|---|---|"
    for env in p.environments:
        yield (
            f"| {env.environment} | {_documents(env)} | {_plan_cell(env)} | {_policy_cell(env)} "
            f"| {env.risk.score} | {env.approvals_needed} |"
        )
    for env in p.environments:
        if env.affected or env.findings:
            yield ""
            yield from _environment(env)


def _documents(env: EnvironmentPreview) -> str:
    if not env.documents:
        return "gates changed" if env.gates else "no change"
    counts = {
        s: sum(1 for d in env.documents if d.status == s) for s in ("added", "changed", "removed")
    }
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n)


def _plan_cell(env: EnvironmentPreview) -> str:
    if env.plan is None:
        return "not available"
    s = env.plan.summary
    parts = [
        f"+{s.create}" if s.create else "",
        f"-/+{s.replace}" if s.replace else "",
        f"&{s.adopt}" if s.adopt else "",
        f"~{s.update}" if s.update else "",
        f"-{s.delete}" if s.delete else "",
    ]
    return " ".join(p for p in parts if p) or "no changes"


def _policy_cell(env: EnvironmentPreview) -> str:
    failed = sum(1 for f in env.findings if f.blocking)
    warned = sum(1 for f in env.findings if not f.blocking and f.waiver is None)
    if failed:
        return f"**{failed} failed**"
    return f"{warned} warning(s)" if warned else "passed"


def _environment(env: EnvironmentPreview) -> Iterator[str]:
    yield f"### {env.environment}"
    yield ""
    reasons = "; ".join(f"{f.name} +{f.points} ({f.why})" for f in env.risk.factors)
    yield f"**Risk {env.risk.score}**" + (f": {reasons}" if reasons else "")
    yield ""
    if env.gates:
        yield (
            f"**Gates changed:** {', '.join(env.gates)}. They take effect once applied; this "
            "change is judged by the rules in force."
        )
        yield ""
    if env.approvals_needed:
        who = f" from {', '.join(env.approvers)}" if env.approvers else ""
        yield (
            f"**Approvals:** {env.approvals_needed} needed{who}: "
            f"`gitcops approve --env {env.environment} <commit>`"
        )
        yield ""
    if env.findings:
        yield "**Policy:**"
        yield ""
        yield from (f"- {_finding(f)}" for f in env.findings)
        yield ""
    if env.documents:
        body = "".join(d.diff for d in env.documents).rstrip("\n").splitlines()
        yield from _fold(f"Rendered changes ({_documents(env)})", "diff", body)
    if env.plan is not None:
        lines = list(render_plan(env.plan))
        yield from _fold(lines[-1] if lines else "Plan", "", lines)
    else:
        yield f"_Plan against live state: {env.plan_note}_"
        yield ""


def _finding(f: Finding) -> str:
    level = "waived" if f.waiver is not None else "FAIL" if f.blocking else "warn"
    where = f" ({f.resource})" if f.resource else ""
    return f"{level} `{f.rule}`{where}: {f.message}"


def _fold(summary: str, language: str, body: list[str]) -> Iterator[str]:
    opened = " open" if len(body) <= _FOLD_LINES else ""
    yield f"<details{opened}><summary>{summary}</summary>"
    yield ""
    # A fence longer than any run of backticks inside: a document cannot close it early.
    longest = max((len(run) for line in body for run in re.findall("`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    yield f"{fence}{language}"
    yield from body
    yield fence
    yield ""
    yield "</details>"
    yield ""
