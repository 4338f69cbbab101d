"""Policy and scanner findings: what failed or warned, where, and whether a waiver applies."""

from enum import StrEnum
from typing import Any, NamedTuple


class Severity(StrEnum):
    FAILURE = "failure"  # deny / violation rules, secret scanner hits: block validate/apply
    WARNING = "warning"  # warn rules: shown and recorded, never block


class Waiver(NamedTuple):
    """The exception from gitcops.yaml that turned a failure into a recorded waiver."""

    rule: str
    owner: str
    reason: str
    expires: str  # ISO date


class Finding(NamedTuple):
    source: str  # "policy" | "builtin" | "secrets"
    rule: str  # e.g. "main.deny", "builtin.required_labels", "secrets.AWSKeyDetector"
    severity: Severity
    message: str
    file: str | None = None  # repository path of the document or file concerned
    line: int | None = None  # 1-based, when known
    document: str | None = None  # "document 2 (local.gitcops.io/File/motd)"
    resource: str | None = None  # the resource id text, when about a resource
    policy_file: str | None = None  # the .rego file that produced it
    details: tuple[tuple[str, Any], ...] = ()  # extra fields of an object message
    waiver: Waiver | None = None
    expired_waiver: Waiver | None = None  # an exception matched but had expired

    @property
    def blocking(self) -> bool:
        return self.severity is Severity.FAILURE and self.waiver is None

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rule": self.rule,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "document": self.document,
            "resource": self.resource,
            "policyFile": self.policy_file,
            "details": dict(self.details),
            "waived": self.waiver is not None,
            "waiver": None
            if self.waiver is None
            else {
                "rule": self.waiver.rule,
                "owner": self.waiver.owner,
                "reason": self.waiver.reason,
                "expires": self.waiver.expires,
            },
            "expiredWaiver": None
            if self.expired_waiver is None
            else {
                "rule": self.expired_waiver.rule,
                "owner": self.expired_waiver.owner,
                "expires": self.expired_waiver.expires,
            },
        }
