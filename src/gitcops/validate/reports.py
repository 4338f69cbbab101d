"""CI report formats for findings and diagnostics: SARIF 2.1.0 and JUnit XML.

SARIF is what GitHub code scanning reads; JUnit XML is what GitLab's merge request test report and
Jenkins' JUnit plugin read. Both show every problem (blocking failures, warnings, waived
failures, invalid input) with its file, line, resource, document and field path. Neither decides
the exit code: the caller does (`validate` exits 1 while a blocking finding exists).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from gitcops.model.diagnostics import Diagnostic, format_path
from gitcops.model.findings import Finding, Severity, Waiver
from gitcops.model.project import PROJECT_FILE

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "gitcops"
VALIDATION_RULE = "gitcops.validation"
SRCROOT = "SRCROOT"
FINGERPRINT_KEY = "gitcopsFinding/v1"
SOURCES = ("validation", "policy", "builtin", "secrets")  # JUnit suites, in this order
NO_FINDINGS = "no findings"

# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class _Entry:
    """A finding or a diagnostic, in the terms both report formats need."""

    source: str
    rule: str
    level: str  # "error" (blocking) | "warning" | "note" (waived)
    message: str
    file: str | None
    line: int | None
    document: str | None
    resource: str | None
    field_path: str | None
    policy_file: str | None
    details: dict[str, Any]
    waiver: Waiver | None
    expired_waiver: Waiver | None

    @property
    def text(self) -> str:
        """The message as shown to people, with an expired waiver mentioned."""
        message = self.message or "(no message)"
        if self.expired_waiver is not None:
            w = self.expired_waiver
            message += f" (the exception by {w.owner} expired on {w.expires})"
        return message

    @property
    def where(self) -> str:
        """The testcase name: the resource id, else file:line (and document), else what is known."""
        if self.resource:
            parts = [self.resource]
        else:
            file = f"{self.file}:{self.line}" if self.file and self.line else self.file
            parts = [part for part in (file, self.document) if part] or ["(no file)"]
        if self.field_path:
            parts.append(f"field {self.field_path}")
        return ": ".join(parts)

    def fingerprint(self) -> str:
        parts = (
            self.rule,
            self.file or "",
            self.resource or self.document or "",
            self.field_path or "",
            self.message,
        )
        return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _from_finding(finding: Finding) -> _Entry:
    if finding.waiver is not None:
        level = "note"
    elif finding.severity is Severity.FAILURE:
        level = "error"
    else:
        level = "warning"
    return _Entry(
        source=finding.source,
        rule=finding.rule,
        level=level,
        message=finding.message,
        file=finding.file,
        line=finding.line if finding.line and finding.line > 0 else None,
        document=finding.document,
        resource=finding.resource,
        field_path=None,
        policy_file=finding.policy_file,
        details=dict(finding.details),
        waiver=finding.waiver,
        expired_waiver=finding.expired_waiver,
    )


def _from_diagnostic(diagnostic: Diagnostic) -> _Entry:
    level = {"error": "error", "warning": "warning"}.get(diagnostic.severity, "note")
    return _Entry(
        source="validation",
        rule=VALIDATION_RULE,
        level=level,
        message=diagnostic.message,
        file=diagnostic.file,
        line=diagnostic.line if diagnostic.line and diagnostic.line > 0 else None,
        document=diagnostic.document,
        resource=None,
        field_path=format_path(diagnostic.path) if diagnostic.path else None,
        policy_file=None,
        details={},
        waiver=None,
        expired_waiver=None,
    )


def _entries(findings: Sequence[Finding], diagnostics: Sequence[Diagnostic]) -> list[_Entry]:
    return [_from_diagnostic(d) for d in diagnostics] + [_from_finding(f) for f in findings]


# ---------------------------------------------------------------------------------------------
# SARIF


def _in_repo(path: str) -> bool:
    """A repository-relative path (not '<builtin>/x.rego', not an absolute --policy path)."""
    return not path.startswith(("<", "/", "\\")) and "://" not in path


def _artifact_location(path: str) -> dict[str, Any]:
    if _in_repo(path):
        relative = posixpath.normpath(path.replace("\\", "/")).removeprefix("./")
        return {"uri": quote(relative, safe="/"), "uriBaseId": SRCROOT}
    if path.startswith("/"):
        return {"uri": "file://" + quote(path, safe="/")}
    return {"uri": quote(path, safe="/:")}


def _sarif_location(entry: _Entry) -> dict[str, Any]:
    """Every result gets a file: GitHub code scanning rejects a whole log with one that has none.

    A finding about no file (a plan policy) is placed on the policy file that produced it when
    that lives in the repository, else on gitcops.yaml, with a message saying so.
    """
    location: dict[str, Any] = {}
    if entry.file:
        physical: dict[str, Any] = {"artifactLocation": _artifact_location(entry.file)}
        if entry.line:
            physical["region"] = {"startLine": entry.line}
    else:
        anchor = PROJECT_FILE
        if entry.policy_file and _in_repo(entry.policy_file):
            anchor = entry.policy_file
        physical = {"artifactLocation": _artifact_location(anchor)}
        location["message"] = {"text": f"about no file; reported on {anchor}"}
    location["physicalLocation"] = physical
    if entry.resource:
        location["logicalLocations"] = [{"fullyQualifiedName": entry.resource, "kind": "resource"}]
    return location


def _sarif_properties(entry: _Entry) -> dict[str, Any]:
    props: dict[str, Any] = {"source": entry.source}
    for key, value in (
        ("resource", entry.resource),
        ("document", entry.document),
        ("fieldPath", entry.field_path),
        ("policyFile", entry.policy_file),
    ):
        if value is not None:
            props[key] = value
    if entry.details:
        props["details"] = _jsonable(entry.details)
    if entry.expired_waiver is not None:
        w = entry.expired_waiver
        props["expiredWaiver"] = {"rule": w.rule, "owner": w.owner, "expires": w.expires}
    return props


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _sarif_result(entry: _Entry, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": entry.rule,
        "ruleIndex": rule_index,
        "level": entry.level,
        "message": {"text": entry.text},
        "locations": [_sarif_location(entry)],
        "partialFingerprints": {FINGERPRINT_KEY: entry.fingerprint()},
        "properties": _sarif_properties(entry),
    }
    if entry.waiver is not None:
        w = entry.waiver
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": w.reason,
                "properties": {"owner": w.owner, "expires": w.expires, "rule": w.rule},
            }
        ]
    return result


_RANK = {"error": 3, "warning": 2, "note": 1}


def _sarif_rule(rule: str, entries: list[_Entry]) -> dict[str, Any]:
    source = entries[0].source
    # What the rule does when not waived: the most severe level it reported.
    unwaived = [e.level for e in entries if e.waiver is None] or ["error"]
    level = max(unwaived, key=_RANK.__getitem__)
    policy_files = sorted({e.policy_file for e in entries if e.policy_file})
    waive = (
        f"Fix what the message says, or waive it with an exception for rule {rule} "
        "(owner, reason, expiry) under spec.policy.exceptions in gitcops.yaml."
    )
    properties: dict[str, Any] = {"tags": [source]}
    if rule == VALIDATION_RULE:
        short = "gitcops input validation"
        full = (
            "Resource documents, kustomizations, references and policy files must be valid: "
            "gitcops cannot plan or apply an invalid repository."
        )
        help_text = "Fix the file, document and field the message names."
    elif source == "secrets":
        short = f"Secret scanner {rule}"
        full = f"The secret scanner {rule} found what looks like a credential in plain text."
        help_text = "Remove the secret from Git (rotate it) and reference it encrypted. " + waive
        properties["tags"] = ["security", source]
        properties["security-severity"] = "8.0"
    elif source == "builtin":
        short = f"gitcops built-in check {rule.removeprefix('builtin.')}"
        full = f"The built-in policy {rule}, configured under spec.policy.builtin in gitcops.yaml."
        help_text = waive
    else:
        short = f"Policy rule {rule}"
        full = f"Rego rule {rule}" + (f" ({', '.join(policy_files)})." if policy_files else ".")
        help_text = waive
    return {
        "id": rule,
        "shortDescription": {"text": short},
        "fullDescription": {"text": full},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": level},
        "properties": properties,
    }


def _base_uri(repo_root_uri: str) -> str:
    uri = repo_root_uri
    if not urlsplit(uri).scheme and uri.startswith("/"):
        uri = "file://" + quote(uri, safe="/")
    return uri if uri.endswith("/") else uri + "/"


def to_sarif(
    findings: Sequence[Finding],
    diagnostics: Sequence[Diagnostic],
    *,
    tool_version: str,
    repo_root_uri: str | None = None,
) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run (tool.driver.name 'gitcops').

    Rules come from finding.rule ('gitcops.validation' for diagnostics). Results have level
    error (blocking failure), warning (warn) or note (waived failure, with a suppression of kind
    'external', the waiver's reason as justification and its owner and expiry in properties).
    Locations name the repository-relative file (uriBaseId SRCROOT) and region.startLine when
    the line is known; properties carry the resource id, document, field path and policy file.
    """
    entries = _entries(findings, diagnostics)
    by_rule: dict[str, list[_Entry]] = {}
    for entry in entries:
        by_rule.setdefault(entry.rule, []).append(entry)
    rule_ids = sorted(by_rule)
    index = {rule: i for i, rule in enumerate(rule_ids)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": tool_version,
                "rules": [_sarif_rule(rule, by_rule[rule]) for rule in rule_ids],
            }
        },
        "results": [_sarif_result(entry, index[entry.rule]) for entry in entries],
    }
    if repo_root_uri:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": _base_uri(repo_root_uri)}}
    return {"$schema": SARIF_SCHEMA_URI, "version": SARIF_VERSION, "runs": [run]}


# ---------------------------------------------------------------------------------------------
# JUnit XML


def _xml(text: str) -> str:
    """Text XML 1.0 can hold: control characters and lone surrogates become visible escapes."""

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _NOT_XML.sub(escape, text)


def _body(entry: _Entry) -> str:
    lines = [entry.text, "", f"rule: {entry.rule}"]
    for label, value in (
        ("resource", entry.resource),
        ("file", f"{entry.file}:{entry.line}" if entry.file and entry.line else entry.file),
        ("document", entry.document),
        ("field", entry.field_path),
        ("policy file", entry.policy_file),
    ):
        if value:
            lines.append(f"{label}: {value}")
    lines += [f"{key}: {value}" for key, value in entry.details.items()]
    return _xml("\n".join(lines))


def _testcase(suite: ET.Element, entry: _Entry, name: str) -> str:
    """Add the testcase; returns its outcome: 'failure', 'skipped' or 'passed'."""
    case = ET.SubElement(suite, "testcase", classname=_xml(entry.rule), name=_xml(name), time="0")
    if entry.waiver is not None:
        w = entry.waiver
        skipped = ET.SubElement(
            case, "skipped", message=_xml(f"waived by {w.owner} until {w.expires}: {w.reason}")
        )
        skipped.text = _body(entry)
        return "skipped"
    if entry.level == "error":
        failure = ET.SubElement(case, "failure", message=_xml(entry.text), type=_xml(entry.rule))
        failure.text = _body(entry)
        return "failure"
    out = ET.SubElement(case, "system-out")
    out.text = _xml(f"{entry.level}: ") + _body(entry)
    return "passed"


def _suite(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, "testsuite", name=_xml(name))


def _count(suite: ET.Element, tests: int, failures: int, skipped: int) -> None:
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    suite.set("time", "0")


def to_junit(
    findings: Sequence[Finding], diagnostics: Sequence[Diagnostic], *, suite_name: str
) -> str:
    """JUnit XML as GitLab and Jenkins read it: one <testsuite> per source.

    Sources are 'validation' (diagnostics), 'policy', 'builtin' and 'secrets'; one <testcase>
    per finding or diagnostic with classname = rule and name = resource id or file:line.
    Blocking failures are <failure message=... type=rule>; warnings pass, with their text in
    <system-out>; waived failures are <skipped message='waived by OWNER until DATE: REASON'>.
    With nothing to report, a suite named suite_name holds one passing testcase 'no findings'.
    """
    entries = _entries(findings, diagnostics)
    root = ET.Element("testsuites", name=_xml(suite_name))
    by_source: dict[str, list[_Entry]] = {}
    for entry in entries:
        by_source.setdefault(entry.source, []).append(entry)
    order = [s for s in SOURCES if s in by_source] + sorted(set(by_source) - set(SOURCES))
    total = {"tests": 0, "failure": 0, "skipped": 0}
    for source in order:
        suite = _suite(root, source)
        outcomes = {"failure": 0, "skipped": 0, "passed": 0}
        seen: dict[tuple[str, str], int] = {}
        for entry in by_source[source]:
            # GitLab keys testcases by classname and name: make each one distinct.
            key = (entry.rule, entry.where)
            seen[key] = seen.get(key, 0) + 1
            name = entry.where if seen[key] == 1 else f"{entry.where} [{seen[key]}]"
            outcomes[_testcase(suite, entry, name)] += 1
        tests = len(by_source[source])
        _count(suite, tests, outcomes["failure"], outcomes["skipped"])
        total["tests"] += tests
        total["failure"] += outcomes["failure"]
        total["skipped"] += outcomes["skipped"]
    if not entries:
        suite = _suite(root, suite_name)
        ET.SubElement(suite, "testcase", classname=_xml(suite_name), name=NO_FINDINGS, time="0")
        _count(suite, 1, 0, 0)
        total["tests"] = 1
    # The Jenkins/Surefire schema has no 'skipped' on <testsuites>; each <testsuite> has it.
    root.set("tests", str(total["tests"]))
    root.set("failures", str(total["failure"]))
    root.set("errors", "0")
    root.set("time", "0")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
