"""CI report formats: SARIF 2.1.0 (GitHub code scanning) and JUnit XML (GitLab, Jenkins)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitcops.model.diagnostics import Diagnostic
from gitcops.model.findings import Finding, Severity, Waiver
from gitcops.validate.reports import to_junit, to_sarif

from .conftest import SCENARIOS, WAIVER, deny, invalid, need, secret, waived, warn

Scenario = tuple[list[Finding], list[Diagnostic]]
Validate = Callable[[dict[str, Any]], None]


def sarif(findings: list[Finding], diagnostics: list[Diagnostic], **kw: Any) -> dict[str, Any]:
    log = to_sarif(findings, diagnostics, tool_version="1.2.3", **kw)
    # What the CLI prints must survive JSON: no tuples, enums or other Python-only values.
    assert json.loads(json.dumps(log, ensure_ascii=False)) == log
    return log


def results(log: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = log["runs"][0]["results"]
    return out


def only_result(findings: list[Finding], diagnostics: list[Diagnostic]) -> dict[str, Any]:
    (result,) = results(sarif(findings, diagnostics))
    return result


def junit(findings: list[Finding], diagnostics: list[Diagnostic]) -> ET.Element:
    text = to_junit(findings, diagnostics, suite_name="gitcops validate")
    assert text.startswith("<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(text.encode("utf-8"))


def cases(root: ET.Element) -> list[ET.Element]:
    return root.findall("./testsuite/testcase")


# -- SARIF: schema and GitHub code scanning essentials -------------------------------------------


def test_the_schema_is_the_official_one(sarif_schema: dict[str, Any]) -> None:
    assert sarif_schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    assert sarif_schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert {"result", "suppression", "reportingDescriptor"} <= set(sarif_schema["definitions"])


def test_sarif_is_valid_against_the_schema(scenario: Scenario, sarif_validate: Validate) -> None:
    sarif_validate(sarif(*scenario))
    sarif_validate(sarif(*scenario, repo_root_uri="file:///home/ci/repo/"))


def test_the_schema_check_catches_a_broken_log(sarif_validate: Validate) -> None:
    log = sarif([deny()], [])
    results(log)[0]["level"] = "fatal"
    with pytest.raises(AssertionError, match="level"):
        sarif_validate(log)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_github_code_scanning_essentials(name: str) -> None:
    log = sarif(*SCENARIOS[name])
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-schema-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "gitcops"
    assert driver["version"] == "1.2.3"
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    assert isinstance(run["results"], list)  # [] too: an empty upload closes fixed alerts
    for result in run["results"]:
        assert result["ruleId"] in rule_ids
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        assert result["message"]["text"]
        # GitHub rejects the whole upload when any result has no location with a file URI.
        assert result["locations"], result
        for location in result["locations"]:
            artifact = location["physicalLocation"]["artifactLocation"]
            assert artifact["uri"]
            assert " " not in artifact["uri"]
            region = location["physicalLocation"].get("region")
            assert region is None or region["startLine"] >= 1
        fingerprints = result.get("partialFingerprints", {})
        assert all(isinstance(v, str) and v for v in fingerprints.values())
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in {"error", "warning", "note"}


def test_empty_input_is_one_run_with_no_results() -> None:
    log = sarif([], [])
    (run,) = log["runs"]
    assert run["results"] == []
    assert run["tool"]["driver"]["rules"] == []
    assert "originalUriBaseIds" not in run


def test_a_blocking_failure_is_an_error_with_its_file_line_and_resource() -> None:
    result = only_result([deny()], [])
    assert result["ruleId"] == "main.deny"
    assert result["level"] == "error"
    assert result["message"]["text"] == "File etc/motd must not be world-writable"
    assert "suppressions" not in result
    (location,) = result["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"] == {"uri": "base/site.yaml", "uriBaseId": "SRCROOT"}
    assert physical["region"] == {"startLine": 7}
    assert location["logicalLocations"] == [
        {"fullyQualifiedName": "local.gitcops.io/File/motd", "kind": "resource"}
    ]
    assert result["properties"] == {
        "source": "policy",
        "resource": "local.gitcops.io/File/motd",
        "document": "document 2 (local.gitcops.io/File/motd)",
        "policyFile": "policies/files.rego",
    }


def test_a_warning_is_a_warning_without_a_region_when_the_line_is_unknown() -> None:
    result = only_result([warn()], [])
    assert result["level"] == "warning"
    assert "region" not in result["locations"][0]["physicalLocation"]
    rules = sarif([warn()], [])["runs"][0]["tool"]["driver"]["rules"]
    assert rules[0]["defaultConfiguration"]["level"] == "warning"


def test_a_waived_failure_is_a_note_with_an_external_suppression() -> None:
    result = only_result([waived()], [])
    assert result["level"] == "note"
    (suppression,) = result["suppressions"]
    assert suppression["kind"] == "external"
    assert suppression["status"] == "accepted"
    assert suppression["justification"] == WAIVER.reason
    assert suppression["properties"] == {
        "owner": "alice",
        "expires": "2030-01-31",
        "rule": "builtin.required_labels",
    }


def test_an_expired_waiver_still_blocks_and_says_so() -> None:
    expired = Waiver("main.deny", "bob", "temporary", "2020-01-01")
    result = only_result([deny(expired_waiver=expired)], [])
    assert result["level"] == "error"
    assert "suppressions" not in result
    assert "expired on 2020-01-01" in result["message"]["text"]
    assert result["properties"]["expiredWaiver"] == {
        "rule": "main.deny",
        "owner": "bob",
        "expires": "2020-01-01",
    }


def test_a_diagnostic_is_a_gitcops_validation_result_with_its_field_path() -> None:
    log = sarif([], [invalid(path=("spec", "items", 2, "name"))])
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "gitcops.validation"
    (result,) = results(log)
    assert result["ruleId"] == "gitcops.validation"
    assert result["level"] == "error"
    assert result["properties"] == {
        "source": "validation",
        "document": "document 1 (local.gitcops.io/File/a)",
        "fieldPath": "spec.items[2].name",
    }
    assert "logicalLocations" not in result["locations"][0]


def test_a_diagnostic_line_becomes_the_region() -> None:
    result = only_result([], [invalid(file="policies/bad.rego", line=4, document=None, path=())])
    assert result["locations"][0]["physicalLocation"]["region"] == {"startLine": 4}
    assert result["properties"] == {"source": "validation"}


def test_a_diagnostic_warning_is_a_warning() -> None:
    assert only_result([], [invalid(severity="warning")])["level"] == "warning"


def test_details_of_an_object_message_are_kept() -> None:
    result = only_result([deny(details=(("limit", 3), ("ids", ("a", "b"))))], [])
    assert result["properties"]["details"] == {"limit": 3, "ids": ["a", "b"]}


def test_secrets_are_security_rules() -> None:
    log = sarif([secret()], [])
    (rule,) = log["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "secrets.AWSKeyDetector"
    assert "security" in rule["properties"]["tags"]
    assert float(rule["properties"]["security-severity"]) > 0
    assert results(log)[0]["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}


def test_a_finding_about_no_file_is_placed_on_its_policy_or_on_gitcops_yaml() -> None:
    plan_level = deny(file=None, line=None, document=None, resource=None)
    from_repo_policy = only_result([plan_level], [])
    location = from_repo_policy["locations"][0]
    assert location["physicalLocation"]["artifactLocation"]["uri"] == "policies/files.rego"
    assert "no file" in location["message"]["text"]

    builtin = only_result([waived(file=None, line=None)], [])
    artifact = builtin["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "gitcops.yaml", "uriBaseId": "SRCROOT"}

    outside = only_result([plan_level._replace(policy_file="/ext/x.rego")], [])
    assert outside["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "gitcops.yaml"

    bare = only_result([], [Diagnostic("no environment named 'prod'")])
    assert bare["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "gitcops.yaml"
    assert bare["properties"] == {"source": "validation"}


def test_uris_are_encoded_and_relative_to_srcroot() -> None:
    result = only_result([], [invalid(file="./base/dir with space/ä#1.yaml")])
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "base/dir%20with%20space/%C3%A4%231.yaml", "uriBaseId": "SRCROOT"}


def test_a_file_outside_the_repository_is_an_absolute_file_uri() -> None:
    result = only_result([], [invalid(file="/tmp/extra policies")])
    artifact = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {"uri": "file:///tmp/extra%20policies"}


@pytest.mark.parametrize(
    ("given_uri", "expected"),
    [
        ("file:///home/ci/repo/", "file:///home/ci/repo/"),
        ("file:///home/ci/repo", "file:///home/ci/repo/"),
        ("/home/ci/my repo", "file:///home/ci/my%20repo/"),
        ("https://example.org/shop/blob/abc/", "https://example.org/shop/blob/abc/"),
    ],
)
def test_repo_root_uri_becomes_the_srcroot_base(given_uri: str, expected: str) -> None:
    log = sarif([deny()], [], repo_root_uri=given_uri)
    assert log["runs"][0]["originalUriBaseIds"] == {"SRCROOT": {"uri": expected}}


def test_rules_are_unique_sorted_and_described() -> None:
    log = sarif(
        [deny(), deny(resource="local.gitcops.io/File/b"), warn(), waived(), secret()], [invalid()]
    )
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(
        [
            "main.deny",
            "main.warn",
            "builtin.required_labels",
            "secrets.AWSKeyDetector",
            "gitcops.validation",
        ]
    )
    by_id = {r["id"]: r for r in rules}
    assert "policies/files.rego" in by_id["main.deny"]["fullDescription"]["text"]
    assert "gitcops.yaml" in by_id["main.deny"]["help"]["text"]
    # A rule whose every result was waived still defaults to error: that is what it does unwaived.
    assert by_id["builtin.required_labels"]["defaultConfiguration"]["level"] == "error"
    assert len(results(log)) == 6


def test_fingerprints_are_stable_and_tell_findings_apart() -> None:
    first = only_result([deny()], [])["partialFingerprints"]
    again = only_result([deny(line=99)], [])["partialFingerprints"]  # lines move; still the same
    other = only_result([deny(resource="local.gitcops.io/File/other")], [])["partialFingerprints"]
    assert first == again
    assert first != other


def test_sarif_keeps_special_characters_verbatim() -> None:
    message = "<b>\"x\" & 'y'</b>\nline two ünïcødé 🚀"
    result = only_result([deny(message=message)], [])
    assert result["message"]["text"] == message
    text = json.dumps(sarif([deny(message=message)], []), ensure_ascii=False)
    assert json.loads(text)["runs"][0]["results"][0]["message"]["text"] == message


def test_an_empty_message_still_has_text() -> None:
    assert only_result([deny(message="")], [])["message"]["text"]


def test_sarif_output_is_deterministic() -> None:
    findings, diagnostics = SCENARIOS["everything"]
    assert json.dumps(sarif(findings, diagnostics)) == json.dumps(sarif(findings, diagnostics))


# -- JUnit XML ---------------------------------------------------------------------------------


def test_junit_is_valid_against_the_jenkins_junit_xsd(scenario: Scenario, junit_xsd: Any) -> None:
    text = to_junit(*scenario, suite_name="gitcops validate")
    junit_xsd.validate(text)


def test_the_xsd_check_catches_a_broken_report(junit_xsd: Any) -> None:
    root = junit([deny()], [])
    del root.find("./testsuite/testcase").attrib["name"]  # type: ignore[union-attr]
    assert not junit_xsd.is_valid(ET.tostring(root, encoding="unicode"))


def test_junitparser_reads_the_counts(scenario: Scenario) -> None:
    junitparser = need("junitparser", "junitparser")
    findings, diagnostics = scenario
    xml = junitparser.JUnitXml.fromstring(to_junit(findings, diagnostics, suite_name="ci"))
    suites = list(xml)
    tests = sum(suite.tests for suite in suites)
    failures = sum(suite.failures for suite in suites)
    skipped = sum(suite.skipped for suite in suites)
    entries = len(findings) + len(diagnostics)
    blocking = sum(f.blocking for f in findings) + sum(d.severity == "error" for d in diagnostics)
    assert tests == max(entries, 1)
    assert failures == blocking
    assert skipped == sum(f.waiver is not None for f in findings)
    counted = {"failure": 0, "skipped": 0, "passed": 0}
    for suite in suites:
        assert suite.errors == 0
        for case in suite:
            kinds = {type(result).__name__ for result in case.result}
            if "Failure" in kinds:
                counted["failure"] += 1
            elif "Skipped" in kinds:
                counted["skipped"] += 1
            else:
                assert case.is_passed
                counted["passed"] += 1
    assert counted == {
        "failure": failures,
        "skipped": skipped,
        "passed": tests - failures - skipped,
    }


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_junit_counts_match_the_testcases(name: str) -> None:
    root = junit(*SCENARIOS[name])
    assert root.tag == "testsuites"
    assert root.get("name") == "gitcops validate"
    totals = {"tests": 0, "failures": 0}
    for suite in root.findall("testsuite"):
        testcases = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(testcases)
        assert int(suite.get("failures", "-1")) == sum(
            c.find("failure") is not None for c in testcases
        )
        assert int(suite.get("skipped", "-1")) == sum(
            c.find("skipped") is not None for c in testcases
        )
        assert suite.get("errors") == "0"
        totals["tests"] += len(testcases)
        totals["failures"] += int(suite.get("failures", "0"))
    assert int(root.get("tests", "-1")) == totals["tests"]
    assert int(root.get("failures", "-1")) == totals["failures"]
    assert root.get("errors") == "0"


def test_nothing_to_report_is_one_green_testcase() -> None:
    root = junit([], [])
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "gitcops validate"
    (case,) = suite.findall("testcase")
    assert case.get("name") == "no findings"
    assert list(case) == []
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("1", "0", "0")
    assert (root.get("tests"), root.get("failures")) == ("1", "0")


def test_one_suite_per_source_in_a_fixed_order() -> None:
    findings, diagnostics = SCENARIOS["everything"]
    root = junit(findings, diagnostics)
    assert [s.get("name") for s in root.findall("testsuite")] == [
        "validation",
        "policy",
        "builtin",
        "secrets",
    ]
    assert (root.get("tests"), root.get("failures")) == ("7", "5")


def test_an_unknown_source_gets_its_own_suite_after_the_known_ones() -> None:
    root = junit([deny(source="zz-custom"), deny()], [])
    assert [s.get("name") for s in root.findall("testsuite")] == ["policy", "zz-custom"]


def test_a_blocking_failure_is_a_failure_named_after_the_resource() -> None:
    (case,) = cases(junit([deny()], []))
    assert case.get("classname") == "main.deny"
    assert case.get("name") == "local.gitcops.io/File/motd"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "File etc/motd must not be world-writable"
    assert failure.get("type") == "main.deny"
    body = failure.text or ""
    assert "base/site.yaml:7" in body
    assert "policies/files.rego" in body
    assert "document 2 (local.gitcops.io/File/motd)" in body


def test_a_warning_passes_with_its_text_in_system_out() -> None:
    root = junit([warn()], [])
    (case,) = cases(root)
    assert case.find("failure") is None
    assert case.find("skipped") is None
    out = case.findtext("system-out") or ""
    assert out.startswith("warning: File etc/motd has no owner label")
    assert root.get("failures") == "0"


def test_a_waived_failure_is_skipped_with_owner_date_and_reason() -> None:
    (case,) = cases(junit([waived()], []))
    skipped = case.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "waived by alice until 2030-01-31: legacy system, migrating"
    assert "missing required label 'team'" in (skipped.text or "")
    assert case.find("failure") is None


def test_a_diagnostic_is_a_failure_in_the_validation_suite() -> None:
    root = junit([], [invalid(path=("spec", "items", 2, "name"))])
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "validation"
    (case,) = suite.findall("testcase")
    assert case.get("classname") == "gitcops.validation"
    assert case.get("name") == (
        "base/site.yaml: document 1 (local.gitcops.io/File/a): field spec.items[2].name"
    )
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("type") == "gitcops.validation"
    assert "field: spec.items[2].name" in (failure.text or "")


def test_a_diagnostic_warning_passes() -> None:
    root = junit([], [invalid(severity="warning")])
    assert root.get("failures") == "0"
    assert (cases(root)[0].findtext("system-out") or "").startswith("warning: ")


@pytest.mark.parametrize(
    ("finding", "name"),
    [
        (secret(), "files/app.env:3"),
        (secret(line=None), "files/app.env"),
        (deny(file=None, line=None, document=None, resource=None), "(no file)"),
        (deny(file=None, line=None, resource=None), "document 2 (local.gitcops.io/File/motd)"),
    ],
)
def test_testcase_names_without_a_resource(finding: Finding, name: str) -> None:
    (case,) = cases(junit([finding], []))
    assert case.get("name") == name


def test_same_rule_and_place_twice_gets_distinct_names() -> None:
    names = [c.get("name") for c in cases(junit([secret(), secret(message="another key")], []))]
    assert names == ["files/app.env:3", "files/app.env:3 [2]"]


def test_junit_escapes_special_characters() -> None:
    message = "<b>\"x\" & 'y'</b>\nline two\ttab ünïcødé ✓ 🚀"
    text = to_junit([deny(message=message)], [], suite_name='a "suite" & <more>')
    assert "<b>" not in text
    root = ET.fromstring(text.encode("utf-8"))
    assert root.get("name") == 'a "suite" & <more>'
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == message  # newlines and tabs survive in the attribute
    assert (failure.text or "").startswith(message)


def test_characters_xml_cannot_hold_become_visible_escapes() -> None:
    message = "bell\x07 nul\x00 esc\x1b[31m lone\ud800 fine\u00e9"
    text = to_junit([deny(message=message, resource="res\x01")], [], suite_name="s")
    text.encode("utf-8")  # no lone surrogate left
    root = ET.fromstring(text.encode("utf-8"))
    failure = root.find("./testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "bell\\x07 nul\\x00 esc\\x1b[31m lone\\ud800 fine\u00e9"
    assert root.find("./testsuite/testcase").get("name") == "res\\x01"  # type: ignore[union-attr]


def test_an_expired_waiver_is_a_failure_that_says_so() -> None:
    expired = Waiver("main.deny", "bob", "temporary", "2020-01-01")
    (case,) = cases(junit([deny(expired_waiver=expired)], []))
    failure = case.find("failure")
    assert failure is not None
    assert "the exception by bob expired on 2020-01-01" in (failure.get("message") or "")


def test_a_waived_warning_is_skipped_too() -> None:
    root = junit([warn(waiver=WAIVER)], [])
    assert cases(root)[0].find("skipped") is not None
    assert root.find("testsuite").get("skipped") == "1"  # type: ignore[union-attr]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    message=st.text(),
    resource=st.none() | st.text(min_size=1),
    file=st.none() | st.text(min_size=1),
    line=st.none() | st.integers(min_value=-1, max_value=10**6),
    severity=st.sampled_from(list(Severity)),
    is_waived=st.booleans(),
)
def test_any_text_gives_well_formed_reports(
    message: str,
    resource: str | None,
    file: str | None,
    line: int | None,
    severity: Severity,
    is_waived: bool,
    sarif_validate: Validate,
) -> None:
    finding = deny(
        message=message,
        resource=resource,
        file=file,
        line=line,
        severity=severity,
        waiver=WAIVER if is_waived else None,
    )
    diagnostic = Diagnostic(message, file=file, line=line, path=("spec", message))
    root = ET.fromstring(to_junit([finding], [diagnostic], suite_name=message).encode("utf-8"))
    assert int(root.get("tests", "0")) == 2
    log = sarif([finding], [diagnostic])
    sarif_validate(log)
    for result in results(log):
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
