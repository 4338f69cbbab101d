"""Exceptions waive failures for selected resources or files until they expire."""

from __future__ import annotations

import datetime as dt

import pytest

from gitcops.model.findings import Finding, Severity
from gitcops.validate.policy.exceptions import Subject, apply_exceptions, parse_exceptions

TODAY = dt.date(2026, 11, 26)


def _finding(
    rule: str = "main.deny",
    resource: str | None = "local.gitcops.io/File/motd",
    file: str | None = "base/site.yaml",
    severity: Severity = Severity.FAILURE,
) -> Finding:
    return Finding("policy", rule, severity, "bad", file=file, resource=resource)


SUBJECTS = {
    "local.gitcops.io/File/motd": Subject("File", "motd", None, {"tier": "web"}),
    "local.gitcops.io/File/other": Subject("File", "other", None, {"tier": "db"}),
}


def _exceptions(**overrides: object) -> list:
    raw = {
        "rule": "main.deny",
        "owner": "sre-lead",
        "reason": "migration in progress",
        "expires": "2026-12-31",
    }
    raw.update(overrides)
    return parse_exceptions({"exceptions": [raw]})


def _apply(
    findings: list[Finding], exceptions: list, env: str = "dev", today: dt.date = TODAY
) -> list[Finding]:
    return apply_exceptions(findings, exceptions, environment=env, subjects=SUBJECTS, today=today)


def test_live_exception_waives_and_records_who_and_why() -> None:
    (out,) = _apply([_finding()], _exceptions(resources={"kind": "File", "name": "motd"}))
    assert out.waiver is not None and not out.blocking
    assert (out.waiver.owner, out.waiver.reason, out.waiver.expires) == (
        "sre-lead",
        "migration in progress",
        "2026-12-31",
    )


def test_expired_exception_stops_waiving_and_says_so() -> None:
    (out,) = _apply([_finding()], _exceptions(expires="2026-11-25"))
    assert out.blocking and out.waiver is None
    assert out.expired_waiver is not None and out.expired_waiver.expires == "2026-11-25"


def test_expiry_day_itself_still_waives() -> None:
    (out,) = _apply([_finding()], _exceptions(expires="2026-11-26"))
    assert not out.blocking


def test_rfc3339_expiry_as_kubectl_types_yaml_dates() -> None:
    (out,) = _apply([_finding()], _exceptions(expires="2026-12-31T00:00:00Z"))
    assert out.waiver is not None and out.waiver.expires == "2026-12-31"


@pytest.mark.parametrize(
    ("selector", "waived"),
    [
        ({"kind": "File"}, True),
        ({"kind": "Directory"}, False),
        ({"name": "mo*"}, True),
        ({"name": "other"}, False),
        ({"labels": {"tier": "web"}}, True),
        ({"labels": {"tier": "db"}}, False),
        ({"namespace": "ns"}, False),
    ],
)
def test_resource_selectors(selector: dict[str, object], waived: bool) -> None:
    (out,) = _apply([_finding()], _exceptions(resources=selector))
    assert (out.waiver is not None) is waived


def test_rule_globs_and_file_globs_for_secret_findings() -> None:
    secret = _finding("secrets.AWSKeyDetector", resource=None, file="docs/example.md")
    (out,) = _apply([secret], _exceptions(rule="secrets.*", files=["docs/**", "docs/*"]))
    assert out.waiver is not None
    (out,) = _apply([secret], _exceptions(rule="secrets.*", files=["base/*"]))
    assert out.waiver is None


def test_other_rules_and_environments_are_not_waived() -> None:
    (out,) = _apply([_finding("main.violation")], _exceptions())
    assert out.waiver is None
    (out,) = _apply([_finding()], _exceptions(environments=["prod"]), env="dev")
    assert out.waiver is None
    (out,) = _apply([_finding()], _exceptions(environments=["prod"]), env="prod")
    assert out.waiver is not None


def test_warnings_are_never_touched() -> None:
    warning = _finding(severity=Severity.WARNING)
    (out,) = _apply([warning], _exceptions())
    assert out == warning


def test_a_selector_cannot_match_a_finding_about_no_resource() -> None:
    plan_level = _finding(resource=None, file=None)
    (out,) = _apply([plan_level], _exceptions(resources={"kind": "File"}))
    assert out.waiver is None
