"""Exceptions: a policy failure waived for named resources or files, by an owner, until a date."""

import datetime as dt
import fnmatch
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from gitcops.model.findings import Finding, Severity, Waiver

# An empty read-only mapping stands in for a fresh {} as the labels default: labels are only read.
_NO_LABELS: Mapping[str, str] = MappingProxyType({})


class PolicyException(NamedTuple):
    rule: str  # "main.deny", "builtin.required_labels", "secrets.*" (glob)
    owner: str
    reason: str
    expires: dt.date
    kind: str | None = None
    name: str | None = None  # glob
    namespace: str | None = None
    labels: Mapping[str, str] = _NO_LABELS
    files: tuple[str, ...] = ()  # globs over repository paths
    environments: tuple[str, ...] = ()

    @property
    def waiver(self) -> Waiver:
        return Waiver(self.rule, self.owner, self.reason, self.expires.isoformat())

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


class Subject(NamedTuple):
    """What a finding is about, as exceptions select it."""

    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    labels: Mapping[str, str] = _NO_LABELS


def parse_exceptions(policy: Mapping[str, Any]) -> list[PolicyException]:
    """From the (schema-validated) `spec.policy` of gitcops.yaml."""
    out = []
    for raw in policy.get("exceptions", []):
        resources = raw.get("resources", {})
        out.append(
            PolicyException(
                rule=raw["rule"],
                owner=raw["owner"],
                reason=raw["reason"],
                expires=dt.date.fromisoformat(str(raw["expires"])[:10]),
                kind=resources.get("kind"),
                name=resources.get("name"),
                namespace=resources.get("namespace"),
                labels=dict(resources.get("labels", {})),
                files=tuple(raw.get("files", ())),
                environments=tuple(raw.get("environments", ())),
            )
        )
    return out


def _selects(exc: PolicyException, finding: Finding, subject: Subject | None) -> bool:
    if not fnmatch.fnmatchcase(finding.rule, exc.rule):
        return False
    if exc.files and not (
        finding.file and any(fnmatch.fnmatchcase(finding.file, pattern) for pattern in exc.files)
    ):
        return False
    selects_resource = exc.kind or exc.name or exc.namespace or exc.labels
    if not selects_resource:
        return True
    if subject is None:
        return False
    if exc.kind and subject.kind != exc.kind:
        return False
    if exc.name and not (subject.name and fnmatch.fnmatchcase(subject.name, exc.name)):
        return False
    if exc.namespace and subject.namespace != exc.namespace:
        return False
    return all(subject.labels.get(k) == v for k, v in exc.labels.items())


def apply_exceptions(
    findings: Sequence[Finding],
    exceptions: Sequence[PolicyException],
    *,
    environment: str,
    subjects: Mapping[str, Subject],
    today: dt.date,
) -> list[Finding]:
    """Waive failures a live exception covers; note the ones only an expired exception covered.

    `subjects` maps a finding's resource id to what exceptions can select on.
    """
    out = []
    for finding in findings:
        if finding.severity is not Severity.FAILURE:
            out.append(finding)
            continue
        subject = subjects.get(finding.resource) if finding.resource else None
        matching = [
            e
            for e in exceptions
            if (not e.environments or environment in e.environments)
            and _selects(e, finding, subject)
        ]
        live = [e for e in matching if not e.expired(today)]
        if live:
            out.append(finding._replace(waiver=live[0].waiver))
        elif matching:
            out.append(finding._replace(expired_waiver=matching[0].waiver))
        else:
            out.append(finding)
    return out
