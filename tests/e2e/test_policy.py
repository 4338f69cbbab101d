"""Policy as code end to end: Rego policies, exceptions, built-ins, secret scanning, CI reports."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import Cli, Repo, file_doc

LABELS_POLICY = """package main

import rego.v1

deny contains msg if {
    input.kind == "File"
    not input.metadata.labels.team
    msg := sprintf("%s has no team label", [input.metadata.name])
}

warn contains {"msg": "world-readable motd", "severity": "low"} if {
    input.metadata.name == "motd"
}
"""

PLAN_POLICY = """package plan

import rego.v1

deny contains msg if {
    some change in input.changes
    change.action == "delete"
    input.environment == "dev"
    msg := sprintf("deleting %s is not allowed in dev", [change.id])
}
"""

AWS_KEY = "AKIAZ4TQ7HKP3XV5WQ2N"
AWS_SECRET = "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"


def _with_policy(repo: Repo, text: str = LABELS_POLICY, name: str = "labels.rego") -> None:
    repo.write(f"policies/{name}", text)


def test_validate_reports_failures_and_warnings_with_file(cli: Cli, repo: Repo) -> None:
    _with_policy(repo)
    repo.set_resources([file_doc("motd", "etc/motd"), file_doc("ok", "ok", labels={"team": "a"})])
    result = cli("validate", repo=repo.path, expect=1)
    assert "FAIL" in result.stdout and "motd has no team label [main.deny]" in result.stdout
    assert "base/resources.yaml: document 1 (local.gitcops.io/File/motd)" in result.stdout
    assert "(policies/labels.rego)" in result.stdout
    assert "WARN" in result.stdout and "world-readable motd [main.warn]" in result.stdout
    data = json.loads(cli("validate", "-o", "json", repo=repo.path, expect=1).stdout)
    assert data["valid"] is False
    assert {f["rule"] for f in data["findings"]} >= {"main.deny", "main.warn"}


def test_warnings_alone_pass(cli: Cli, repo: Repo) -> None:
    _with_policy(repo)
    repo.set_resources([file_doc("motd", "etc/motd", labels={"team": "a"})])
    result = cli("validate", repo=repo.path, expect=0)
    assert "0 failed, 1 warnings" in result.stdout


def test_exception_waives_until_it_expires(cli: Cli, repo: Repo) -> None:
    _with_policy(repo)
    project = (repo.path / "gitcops.yaml").read_text()
    waiver = (
        "  policy:\n    exceptions:\n      - rule: main.deny\n"
        "        resources: {kind: File, name: motd}\n        owner: sre-lead\n"
        "        reason: legacy file\n        expires: '{date}'\n"
    )
    repo.write("gitcops.yaml", project + waiver.replace("{date}", "2999-01-01"))
    repo.set_resources([file_doc("motd", "etc/motd")])
    result = cli("validate", repo=repo.path, expect=0)
    assert "WAIVED" in result.stdout and "waived by sre-lead until 2999-01-01" in result.stdout
    repo.write("gitcops.yaml", project + waiver.replace("{date}", "2001-01-01"))
    repo.commit("expire the exception")
    expired = cli("validate", repo=repo.path, expect=1)
    assert "expired on 2001-01-01 and no longer waives it" in expired.stdout


def test_exception_without_owner_is_invalid(cli: Cli, repo: Repo) -> None:
    project = (repo.path / "gitcops.yaml").read_text()
    repo.write(
        "gitcops.yaml",
        project + "  policy:\n    exceptions:\n      - rule: main.deny\n"
        "        reason: r\n        expires: '2999-01-01'\n        colour: red\n",
    )
    repo.commit()
    result = cli("validate", repo=repo.path, expect=1)
    assert "gitcops.yaml" in result.stderr
    assert "spec.policy.exceptions[0]: 'owner' is required" in result.stderr
    assert "spec.policy.exceptions[0].colour: unknown field" in result.stderr


def test_v0_policy_and_compile_errors_name_file_and_line(cli: Cli, repo: Repo) -> None:
    _with_policy(repo, 'package main\n\ndeny[msg] {\n  msg := "x"\n}\n', "old.rego")
    _with_policy(
        repo,
        "package main\n\nimport rego.v1\n\ndeny contains msg if {\n  msg := \n}\n",
        "broken.rego",
    )
    repo.commit()
    result = cli("validate", repo=repo.path, expect=1)
    assert "policies/old.rego:3" in result.stderr
    assert "v1" in result.stderr
    assert "policies/broken.rego" in result.stderr


def test_apply_refuses_failures_and_records_warnings(cli: Cli, repo: Repo) -> None:
    _with_policy(repo)
    repo.set_resources([file_doc("motd", "etc/motd")])
    refused = cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert "main.deny" in refused.stdout + refused.stderr
    assert not (repo.root / "etc" / "motd").exists()
    repo.set_resources([file_doc("motd", "etc/motd", labels={"team": "a"})])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    runs = json.loads(cli("history", "-o", "json", repo=repo.path).stdout)["runs"]
    assert any("world-readable motd" in w for w in runs[0]["warnings"])


def test_plan_policy_guards_deletions(cli: Cli, repo: Repo) -> None:
    _with_policy(repo, PLAN_POLICY, "plan.rego")
    repo.set_resources([file_doc("a", "a.txt"), file_doc("b", "b.txt")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("a", "a.txt")])
    planned = cli("plan", "--env", "dev", repo=repo.path, expect=1)
    assert "deleting local.gitcops.io/File/b is not allowed in dev [plan.deny]" in planned.stdout
    cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert (repo.root / "b.txt").exists()


def test_secret_scanning_finds_keys_with_file_and_line(cli: Cli, repo: Repo) -> None:
    repo.write("notes/setup.md", f"# setup\n\naws_access_key_id = {AWS_KEY}\n")
    repo.commit()
    result = cli("validate", repo=repo.path, expect=1)
    assert "notes/setup.md:3" in result.stdout and "secrets." in result.stdout
    assert AWS_KEY not in result.stdout + result.stderr
    repo.write(
        "notes/setup.md",
        f"# setup\n\naws_access_key_id = {AWS_KEY}  # pragma: allowlist secret\n",
    )
    repo.commit()
    cli("validate", repo=repo.path, expect=0)


def test_plaintext_secret_in_a_resource_spec(cli: Cli, repo: Repo) -> None:
    repo.set_resources(
        [file_doc("creds", "creds.ini", f"[default]\naws_secret_access_key = {AWS_SECRET}\n")]
    )
    result = cli("validate", repo=repo.path, expect=1)
    assert "builtin.plaintext_secrets" in result.stdout or "secrets." in result.stdout
    assert AWS_SECRET not in result.stdout + result.stderr


def test_sarif_and_junit_reports(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    _with_policy(repo)
    repo.set_resources([file_doc("motd", "etc/motd")])
    sarif = json.loads(cli("validate", "--format", "sarif", repo=repo.path, expect=1).stdout)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert any(r["ruleId"] == "main.deny" and r["level"] == "error" for r in results)
    junit = cli("validate", "--format", "junit", repo=repo.path, expect=1).stdout
    root = ET.fromstring(junit)
    assert root.tag == "testsuites"
    assert int(root.get("failures", "0")) >= 1 or any(
        int(s.get("failures", "0")) >= 1 for s in root.iter("testsuite")
    )


def test_policy_dir_and_namespace_options(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    extra = tmp_path / "org-policies"
    extra.mkdir()
    (extra / "naming.rego").write_text(
        "package org\n\nimport rego.v1\n\ndeny contains msg if {\n"
        '    startswith(input.metadata.name, "tmp")\n    msg := "no tmp names"\n}\n'
    )
    repo.set_resources([file_doc("tmpfile", "t.txt")])
    cli("validate", repo=repo.path, expect=0)
    cli("validate", "--policy", str(extra), repo=repo.path, expect=0)
    result = cli("validate", "--policy", str(extra), "--namespace", "org", repo=repo.path, expect=1)
    assert "no tmp names [org.deny]" in result.stdout
    assert f"({extra / 'naming.rego'})" in result.stdout


def test_builtin_rules_and_switching_them_off(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("open", "open.txt", mode="0666")])
    result = cli("validate", repo=repo.path, expect=1)
    assert "builtin.world_writable" in result.stdout
    project = (repo.path / "gitcops.yaml").read_text()
    repo.write(
        "gitcops.yaml", project + "  policy:\n    builtin:\n      worldWritable: {enabled: false}\n"
    )
    repo.commit()
    cli("validate", repo=repo.path, expect=0)


def test_a_rule_failing_at_run_time_names_the_policy(cli: Cli, repo: Repo) -> None:
    _with_policy(
        repo,
        "package main\n\nimport rego.v1\n\ndeny contains msg if {\n"
        '    x := count(input.metadata.name) / 0\n    msg := sprintf("%v", [x])\n}\n',
        "ratio.rego",
    )
    repo.set_resources([file_doc("motd", "etc/motd")])
    result = cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert "policies/ratio.rego" in result.stderr
    assert not (repo.root / "etc" / "motd").exists()


def test_blast_radius_guard_refuses_mass_deletion(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc(f"f{i}", f"f{i}.txt") for i in range(12)])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("f0", "f0.txt")], "drop most files")
    refused = cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert "builtin.blast_radius" in refused.stdout
    assert (repo.root / "f5.txt").exists()
