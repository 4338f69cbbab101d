"""How findings are shown: text for people, SARIF and JUnit for CI."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from gitcops import __version__
from gitcops.cli.output import err
from gitcops.cli.output import out as _out
from gitcops.model.diagnostics import Diagnostic
from gitcops.model.findings import Finding, Severity

REPORT_FORMATS = ("sarif", "junit")


def _label(finding: Finding) -> str:
    if finding.waiver is not None:
        return "WAIVED"
    return "FAIL" if finding.severity is Severity.FAILURE else "WARN"


def _where(finding: Finding) -> str:
    parts = []
    if finding.file:
        parts.append(f"{finding.file}:{finding.line}" if finding.line else finding.file)
    if finding.document:
        parts.append(finding.document)
    elif finding.resource:
        parts.append(finding.resource)
    return ": ".join(parts)


def show_findings(findings: Sequence[Finding], title: str, *, to_stderr: bool = False) -> None:
    """Failures and warnings to stdout (or stderr), most severe first; nothing when none."""
    if not findings:
        return
    out = err if to_stderr else _out
    order = {"FAIL": 0, "WARN": 1, "WAIVED": 2}
    failures = sum(1 for f in findings if f.blocking)
    warnings = sum(1 for f in findings if f.severity is Severity.WARNING)
    waived = sum(1 for f in findings if f.waiver is not None)
    out(f"{title}: {failures} failed, {warnings} warnings, {waived} waived")
    for finding in sorted(findings, key=lambda f: (order[_label(f)], f.rule, _where(f))):
        where = _where(finding)
        line = f"  {_label(finding):<6} {where + ': ' if where else ''}{finding.message} "
        line += f"[{finding.rule}]"
        if finding.policy_file:
            line += f" ({finding.policy_file})"
        if finding.waiver is not None:
            w = finding.waiver
            line += f" -- waived by {w.owner} until {w.expires}: {w.reason}"
        elif finding.expired_waiver is not None:
            w = finding.expired_waiver
            line += f" -- the exception by {w.owner} expired on {w.expires} and no longer waives it"
        out(line)


def emit_report(
    fmt: str, findings: Sequence[Finding], diagnostics: Sequence[Diagnostic], suite: str
) -> None:
    from gitcops.validate.reports import to_junit, to_sarif

    if fmt == "sarif":
        sys.stdout.write(
            json.dumps(to_sarif(findings, diagnostics, tool_version=__version__), indent=2) + "\n"
        )
    elif fmt == "junit":
        report = to_junit(findings, diagnostics, suite_name=suite)
        sys.stdout.write(report if report.endswith("\n") else report + "\n")
    else:
        err(f"error: unknown --format {fmt!r} (sarif or junit)")
