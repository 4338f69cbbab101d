"""Every `-o json` output, run through the real CLI on real repositories, matches its published
schema (gitcops.schemas); each scenario also checks that it reached the branch it is there for,
so that the schemas are held to every shape the outputs take."""

from __future__ import annotations

import functools
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml
from conftest import (
    GITCOPS,
    Cli,
    Repo,
    dir_doc,
    encrypt_values,
    file_doc,
    secret_ref,
)
from jsonschema.protocols import Validator

from gitcops.schemas import output_validator, plan_file_validator

Json = dict[str, Any]


@functools.cache
def _validator(kind: str) -> Validator:
    return output_validator(kind)


def _problems(validator: Validator, document: object) -> str:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return "\n".join(
        f"/{'/'.join(map(str, e.absolute_path))}: {e.message} (schema {e.json_path})"
        for e in errors
    )


def emitted(cli: Cli, kind: str, *args: str, repo: Path | None = None, expect: int = 0) -> Json:
    """Run a command with `-o json`; its output, checked against the schema of `kind`."""
    result = cli(*args, "-o", "json", repo=repo, expect=expect)
    document = json.loads(result.stdout)
    assert document["kind"] == kind
    problems = _problems(_validator(kind), document)
    assert not problems, f"{' '.join(args)}: output does not match {kind}:\n{problems}"
    return dict(document)


def _check(name: str, argv: list[str], depends_on: list[str] | None = None) -> Json:
    metadata: Json = {"name": name}
    if depends_on:
        metadata["annotations"] = {"config.kubernetes.io/depends-on": ",".join(depends_on)}
    return {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "HealthCheck",
        "metadata": metadata,
        "spec": {"command": {"argv": argv}, "retries": 0, "timeoutSeconds": 120},
    }


def _kept(name: str, path: str) -> Json:
    doc = file_doc(name, path, "keep me\n")
    doc["metadata"]["annotations"] = {"gitcops.io/prune": "disabled"}  # type: ignore[index]
    return doc


def _named(changes: list[Json], name: str, action: str) -> Json:
    return next(c for c in changes if c["name"] == name and c["action"] == action)


# -- plan and apply -----------------------------------------------------------------------------


def test_plan_and_saved_plan_with_every_action(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    repo.set_resources(
        [
            dir_doc("etc", "etc"),
            file_doc("motd", "etc/motd", "v1\n"),
            file_doc("drifting", "drifting.txt", "as in git\n"),
            file_doc("vanishing", "vanishing.txt"),
            file_doc("gone", "gone.txt"),
            file_doc("moving", "old-place.txt"),
            _kept("kept", "kept.txt"),
        ]
    )
    first = emitted(cli, "ApplyResult", "apply", "--env", "dev", "--yes", repo=repo.path)
    assert first["runKind"] == "apply" and first["succeeded"] is True
    assert first["summary"]["created"] == 7

    (repo.root / "drifting.txt").write_text("edited by hand\n")
    (repo.root / "vanishing.txt").unlink()
    (repo.root / "legacy.txt").write_text("made by hand\n")
    (repo.root / "matching.txt").write_text("as in git\n")
    repo.set_resources(
        [
            dir_doc("etc", "etc"),
            file_doc("motd", "etc/motd", "v2\n"),
            file_doc("drifting", "drifting.txt", "as in git\n"),
            file_doc("vanishing", "vanishing.txt"),
            file_doc("moving", "new-place.txt"),
            file_doc("legacy", "legacy.txt", "managed now\n"),
            file_doc("matching", "matching.txt", "as in git\n"),
            file_doc("new", "new.txt", depends_on=["local.gitcops.io/File/motd"]),
            _check("ready", ["true"], ["local.gitcops.io/File/new"]),
        ]
    )
    plan_file = tmp_path / "plan.json"
    plan = emitted(cli, "Plan", "plan", "--env", "dev", "--out", str(plan_file), repo=repo.path)
    changes = plan["changes"]
    assert {c["action"] for c in changes} == {
        "create",
        "adopt",
        "update",
        "delete",
        "no-op",
        "check",
    }
    assert plan["summary"] == {
        "create": 3,
        "replace": 0,
        "adopt": 2,
        "update": 2,
        "delete": 3,
        "noop": 1,
        "check": 1,
    }
    assert _named(changes, "etc", "no-op")["diff"] == []
    assert _named(changes, "motd", "update")["reason"] == ""
    drifting = _named(changes, "drifting", "update")
    assert (
        drifting["reason"]
        == "drifted: changed outside gitcops; drift mode heal: apply overwrites it"
    )
    assert drifting["drift"] == "heal" and _named(changes, "motd", "update")["drift"] is None
    vanishing = _named(changes, "vanishing", "create")
    assert vanishing["reason"] == "deleted outside gitcops; drift mode heal: apply recreates it"
    assert vanishing["drift"] == "heal"
    assert [d["op"] for d in _named(changes, "legacy", "adopt")["diff"]] == ["change"]
    assert _named(changes, "matching", "adopt")["diff"] == []
    assert _named(changes, "new", "create")["dependsOn"] == ["local.gitcops.io/File/motd"]
    assert _named(changes, "ready", "check")["before"] is None
    gone = _named(changes, "gone", "delete")
    assert gone["reason"] == "pruned: no longer in Git" and gone["forgetOnly"] is False
    kept = _named(changes, "kept", "delete")
    assert kept["forgetOnly"] is True and kept["origin"] is None and kept["after"] is None
    moved = _named(changes, "moving", "delete")
    assert moved["superseded"] is True and moved["reason"].startswith("moved: ")
    assert plan["policy"] == {"passed": True, "findings": []}

    assert {f["name"] for f in plan["risk"]["factors"]} >= {"deletions"}
    # The saved plan is the same object, without the envelope, the policy verdict and the risk.
    saved = json.loads(plan_file.read_text())
    problems = _problems(plan_file_validator(), saved)
    assert not problems, f"saved plan does not match plan/v1:\n{problems}"
    envelope = ("apiVersion", "kind", "policy", "risk")
    assert saved == {k: v for k, v in plan.items() if k not in envelope}

    applied = emitted(cli, "ApplyResult", "apply", "--env", "dev", str(plan_file), repo=repo.path)
    assert applied["succeeded"] is True and applied["healthy"] is True
    counts = applied["summary"]
    assert counts["created"] == 3 and counts["adopted"] == 2 and counts["configured"] == 2
    assert counts["deleted"] == 3 and counts["unchanged"] == 1 and counts["verified"] == 1
    assert counts["failed"] == counts["skipped"] == 0

    # A plan of the files on disk names no commit.
    repo.write("base/resources.yaml", yaml.safe_dump(file_doc("motd", "etc/motd", "v3\n")))
    worktree = emitted(cli, "Plan", "plan", "--env", "dev", "--worktree", repo=repo.path)
    assert worktree["revision"] == worktree["tree"] == worktree["requestedRevision"] == "worktree"
    assert worktree["author"] == ""
    checked = emitted(cli, "ValidationResult", "validate", "--worktree", repo=repo.path)
    assert checked["revision"] == "worktree" and checked["valid"] is True


def test_secrets_show_as_tokens_in_plan_and_drift(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path
) -> None:
    cli, recipient = keyed
    first, second = f"first-{secrets.token_hex(8)}", f"second-{secrets.token_hex(8)}"
    outputs: list[str] = []

    def run(kind: str, *args: str, expect: int = 0) -> Json:
        document = emitted(cli, kind, *args, repo=repo.path, expect=expect)
        outputs.append(json.dumps(document))
        return document

    def with_content(content: object) -> str:
        doc = file_doc("db-password", "etc/db.pass")
        doc["spec"] = {"path": "etc/db.pass", "content": content, "mode": "0600"}
        return repo.set_resources([doc])

    encrypt_values(cli, repo, "secrets/db.sops.yaml", {"password": first}, recipient)
    with_content(secret_ref("../secrets/db.sops.yaml", "password"))
    created = run("Plan", "plan", "--env", "dev")["changes"][0]
    assert created["sensitive"] == [["content"]]
    assert created["after"]["content"].startswith("(sensitive value, hmac-sha256:")
    run("ApplyResult", "apply", "--env", "dev", "--yes")

    encrypt_values(cli, repo, "secrets/db.sops.yaml", {"password": second}, recipient)
    repo.commit("rotate the password")
    rotated = run("Plan", "plan", "--env", "dev")["changes"][0]
    assert rotated["action"] == "update"
    [change] = rotated["diff"]
    assert change["segments"] == ["content"] and change["old"] != change["new"]
    assert change["new"].startswith("(sensitive value, hmac-sha256:")
    run("ApplyResult", "apply", "--env", "dev", "--yes")

    (repo.root / "etc" / "db.pass").write_text(first)
    drift = run("DriftReport", "drift", "--env", "dev", expect=2)
    [item] = drift["items"]
    assert item["state"] == "modified" and item["diff"][0]["old"].startswith("(sensitive value")

    # The field turns literal: the live object still holds the secret, so `before` shows a token.
    with_content("not a secret any more\n")
    literal = run("Plan", "plan", "--env", "dev")["changes"][0]
    assert literal["sensitive"] == [] and literal["wasSensitive"] == [["content"]]
    assert literal["before"]["content"].startswith("(sensitive value, hmac-sha256:")
    assert literal["diff"][0]["new"] == "not a secret any more\n"
    for text in outputs:
        assert first not in text and second not in text


# -- policies and validation --------------------------------------------------------------------

POLICY = """package main

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
    msg := sprintf("deleting %s is not allowed", [change.id])
}
"""

EXCEPTIONS = """  policy:
    exceptions:
      - rule: main.deny
        resources: {kind: File, name: waived}
        owner: sre-lead
        reason: legacy file
        expires: '2999-01-01'
      - rule: main.deny
        resources: {kind: File, name: expired}
        owner: sre-lead
        reason: was legacy
        expires: '2001-01-01'
"""

AWS_KEY = "AKIAZ4TQ7HKP3XV5WQ2N"
AWS_SECRET = "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"


def _labelled(name: str, path: str, content: str = "x\n", **extra: object) -> Json:
    return file_doc(name, path, content, labels={"team": "a"}, **extra)


def test_validate_lists_diagnostics_and_every_kind_of_finding(cli: Cli, repo: Repo) -> None:
    repo.write("gitcops.yaml", (repo.path / "gitcops.yaml").read_text() + EXCEPTIONS)
    repo.write("policies/labels.rego", POLICY)
    repo.write("notes/setup.md", f"# setup\n\naws_access_key_id = {AWS_KEY}\n")
    repo.set_resources(
        [
            _labelled("motd", "etc/motd"),
            file_doc("waived", "waived.txt"),
            file_doc("expired", "expired.txt"),
            _labelled("creds", "creds.ini", f"[default]\naws_secret_access_key = {AWS_SECRET}\n"),
            _labelled("bad", "bad.txt", mode="rwx"),
        ]
    )
    result = emitted(cli, "ValidationResult", "validate", repo=repo.path, expect=1)
    assert result["valid"] is False and set(result["environments"]) == {"dev", "prod"}
    assert any(d["path"] == "spec.mode" and d["document"] for d in result["diagnostics"])
    findings = result["findings"]
    assert {f["source"] for f in findings} == {"policy", "builtin", "secrets"}
    waived = next(f for f in findings if f["waived"])
    assert waived["waiver"]["owner"] == "sre-lead" and waived["resource"].endswith("/waived")
    expired = next(f for f in findings if f["expiredWaiver"] is not None)
    assert expired["expiredWaiver"]["expires"] == "2001-01-01" and not expired["waived"]
    warning = next(f for f in findings if f["severity"] == "warning")
    assert warning["details"] == {"severity": "low"}
    assert warning["policyFile"] == "policies/labels.rego"
    scanned = next(f for f in findings if f["file"] == "notes/setup.md")
    assert scanned["source"] == "secrets" and scanned["line"] == 3
    assert set(scanned["details"]) == {"detector", "secretType", "hashPrefix"}
    plaintext = next(f for f in findings if f["rule"] == "builtin.plaintext_secrets")
    assert plaintext["resource"] == "local.gitcops.io/File/creds"
    text = json.dumps(result)
    assert AWS_KEY not in text and AWS_SECRET not in text

    repo.write("policies/broken.rego", "package main\n\nimport rego.v1\n\ndeny contains m if {\n")
    repo.commit("a policy that does not compile")
    broken = emitted(cli, "ValidationResult", "validate", "--env", "dev", repo=repo.path, expect=1)
    assert any(d["file"] == "policies/broken.rego" for d in broken["diagnostics"])


def test_a_policy_line_number_is_reported(cli: Cli, repo: Repo) -> None:
    repo.write("policies/old.rego", 'package main\n\ndeny[msg] {\n  msg := "x"\n}\n')
    repo.commit("a v0 policy")
    result = emitted(cli, "ValidationResult", "validate", repo=repo.path, expect=1)
    assert any(d["line"] == 3 for d in result["diagnostics"])


def test_policy_notes_and_plan_policy_failures(cli: Cli, repo: Repo) -> None:
    repo.write("gitcops.yaml", (repo.path / "gitcops.yaml").read_text() + EXCEPTIONS)
    repo.write("policies/labels.rego", POLICY)
    repo.set_resources([_labelled("motd", "etc/motd"), file_doc("waived", "waived.txt")])
    plan = emitted(cli, "Plan", "plan", "--env", "dev", repo=repo.path)
    assert plan["policy"]["passed"] is True
    assert {w.split(":")[0] for w in plan["warnings"]} == {"warning", "waived"}
    applied = emitted(cli, "ApplyResult", "apply", "--env", "dev", "--yes", repo=repo.path)
    assert applied["warnings"] == plan["warnings"]
    [run] = emitted(cli, "History", "history", repo=repo.path)["runs"]
    assert run["warnings"] == plan["warnings"]
    log = emitted(cli, "AuditLog", "audit", "log")["entries"]
    assert sum(e["action"] == "policy.note" for e in log) == 2

    repo.write("policies/plan.rego", PLAN_POLICY)
    repo.set_resources([_labelled("motd", "etc/motd")])
    blocked = emitted(cli, "Plan", "plan", "--env", "dev", repo=repo.path, expect=1)
    assert blocked["policy"]["passed"] is False
    failure = next(f for f in blocked["policy"]["findings"] if f["rule"] == "plan.deny")
    assert failure["resource"] is None and failure["file"] is None
    assert failure["policyFile"] == "policies/plan.rego"


# -- apply failures, rollback, drift, status, history ------------------------------------------


def test_a_failed_apply_and_what_status_history_and_drift_say(cli: Cli, repo: Repo) -> None:
    repo.root.mkdir(parents=True)
    (repo.root / "blocker").write_text("an unmanaged file where a directory is needed")
    repo.set_resources(
        [
            file_doc("broken", "blocker/inside.txt"),
            file_doc("after-broken", "after.txt", depends_on=["local.gitcops.io/File/broken"]),
            _check("never", ["false"]),
            file_doc(
                "after-check", "checked.txt", depends_on=["local.gitcops.io/HealthCheck/never"]
            ),
            file_doc("fine", "fine.txt"),
        ]
    )
    result = emitted(cli, "ApplyResult", "apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert result["succeeded"] is False and result["healthy"] is False
    actions = {e["id"].rsplit("/", 1)[1]: e for e in result["entries"]}
    assert actions["broken"]["action"] == "failed"
    assert actions["never"]["action"] == "failed" and "(attempt 1)" in actions["never"]["message"]
    assert actions["after-broken"]["action"] == "skipped"
    assert (
        actions["after-check"]["message"] == "dependency failed: local.gitcops.io/HealthCheck/never"
    )
    assert actions["fine"]["action"] == "created"

    dev, prod = emitted(cli, "Status", "status", repo=repo.path)["environments"]
    assert dev["lastRun"] == {"id": 1, "status": "failed"} and dev["healthy"] is False
    assert dev["appliedRevision"] is None and dev["attemptedRevision"] == result["revision"]
    assert dev["reason"] == "the last run (1) failed" and dev["pendingChanges"] is None
    assert prod["lastRun"] is None and prod["reason"] == "never applied"
    [run] = emitted(cli, "History", "history", "--env", "dev", repo=repo.path)["runs"]
    assert run["status"] == "failed" and run["summary"]["failed"] == 2

    # What a failed first apply left behind is still compared.
    drift = emitted(cli, "DriftReport", "drift", "--env", "dev", repo=repo.path)
    assert drift["appliedRevision"] == result["revision"] and drift["items"] == []
    assert drift["checked"] == 1


def test_rollback_drift_and_status_in_and_out_of_sync(cli: Cli, repo: Repo) -> None:
    first = repo.set_resources([file_doc("motd", "motd", "v1\n"), file_doc("old", "old.txt")])
    emitted(cli, "ApplyResult", "apply", "--env", "dev", "--yes", repo=repo.path)
    second = repo.set_resources([file_doc("motd", "motd", "v2\n"), file_doc("new", "new.txt")])
    emitted(cli, "ApplyResult", "apply", "--env", "dev", "--yes", repo=repo.path)
    dev = emitted(cli, "Status", "status", repo=repo.path)["environments"][0]
    assert dev["inSync"] is True and dev["reason"] == "" and dev["pendingChanges"] == 0
    assert dev["latestRevision"] == dev["appliedRevision"] == second

    rolled = emitted(cli, "ApplyResult", "rollback", "--env", "dev", "--yes", repo=repo.path)
    assert rolled["runKind"] == "rollback" and rolled["revision"] == first
    deleted = next(e for e in rolled["entries"] if e["action"] == "deleted")
    assert deleted["message"].startswith("rolled back: not in revision ")
    runs = emitted(cli, "History", "history", repo=repo.path)["runs"]
    assert [r["kind"] for r in runs] == ["rollback", "apply", "apply"]
    dev = emitted(cli, "Status", "status", repo=repo.path)["environments"][0]
    assert dev["inSync"] is False and dev["pendingChanges"] == 3
    assert dev["reason"].endswith("would make 3 change(s)")

    (repo.root / "motd").write_text("edited by hand\n")
    (repo.root / "old.txt").unlink()
    drift = emitted(cli, "DriftReport", "drift", "--env", "dev", repo=repo.path, expect=2)
    assert drift["appliedRevision"] == first and drift["drifted"] == 2
    assert {i["state"] for i in drift["items"]} == {"modified", "missing"}
    missing = next(i for i in drift["items"] if i["state"] == "missing")
    assert missing["diff"] == []

    # A commit that renders the same is in sync without being applied; one that cannot be
    # planned is not, and says why.
    emitted(cli, "ApplyResult", "apply", "--env", "dev", "--yes", repo=repo.path)
    repo.write("README.md", "docs only\n")
    repo.commit("docs")
    dev = emitted(cli, "Status", "status", repo=repo.path)["environments"][0]
    assert dev["inSync"] is True and dev["reason"].endswith("renders what was applied")
    repo.set_resources([file_doc("motd", "motd", "v3\n", mode="rwx")])
    dev = emitted(cli, "Status", "status", repo=repo.path)["environments"][0]
    assert dev["inSync"] is False and dev["pendingChanges"] is None
    assert dev["reason"].startswith("the latest revision cannot be planned: ")


def test_status_of_a_repository_without_commits(cli: Cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    subprocess.run(["git", "init", "--quiet", str(empty)], check=True)
    status = emitted(cli, "Status", "status", repo=empty)
    assert status["environments"] == [] and "has no commits yet" in status["note"]


def test_a_killed_run_is_running_then_interrupted(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    started = tmp_path / "check-started"
    repo.set_resources(
        [file_doc("motd", "etc/motd"), _check("slow", ["sh", "-c", f"touch {started}; sleep 60"])]
    )
    argv = [GITCOPS, "apply", "--env", "dev", "--yes", "--repo", str(repo.path)]
    proc = subprocess.Popen(
        [*argv, "--state", str(cli.state)],
        env=cli.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the check never started"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the apply and its health check, nothing else
        proc.wait()

    dev = emitted(cli, "Status", "status", repo=repo.path)["environments"][0]
    assert dev["lastRun"] == {"id": 1, "status": "running"} and dev["healthy"] is None
    assert dev["appliedRevision"] is None and dev["pendingChanges"] is None
    [run] = emitted(cli, "History", "history", repo=repo.path)["runs"]
    assert run["status"] == "running" and run["finishedAt"] is None and run["summary"] == {}

    repo.set_resources([file_doc("motd", "etc/motd")])
    emitted(cli, "ApplyResult", "apply", "--env", "dev", "--yes", repo=repo.path)
    latest, killed = emitted(cli, "History", "history", repo=repo.path)["runs"]
    assert latest["status"] == "succeeded"
    assert killed["status"] == "interrupted" and killed["finishedAt"] is not None
    assert killed["summary"] == {}


# -- the audit log -------------------------------------------------------------------------------


def _copy_state(state: Path, target: Path) -> Path:
    with sqlite3.connect(state) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return target


def _tampered(state: Path, target: Path, statement: str) -> Path:
    copy = _copy_state(state, target)
    with sqlite3.connect(copy) as db:
        db.execute(statement)
    return copy


TAMPERING = [
    ("UPDATE audit SET actor='mallory' WHERE seq=2", "content does not match its hash", 2),
    ("UPDATE audit SET prev_hash=hash WHERE seq=2", "does not link to the entry before it", 2),
    ("DELETE FROM audit WHERE seq=2", "entry 2 is missing", 3),
    ("UPDATE audit SET detail='{not json' WHERE seq=2", "content does not match its hash", 2),
]


def test_audit_log_and_its_verification(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    repo.set_resources(
        [file_doc("motd", "etc/motd"), file_doc("gone", "gone.txt"), _check("ok", ["true"])]
    )
    emitted(cli, "ApplyResult", "apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("motd", "etc/motd", "changed\n"), _check("ok", ["true"])])
    emitted(cli, "ApplyResult", "apply", "--env", "dev", "--yes", repo=repo.path)
    verdict = emitted(cli, "AuditVerification", "audit", "verify")
    assert verdict["ok"] is True and verdict["entries"] == 10
    entries = emitted(cli, "AuditLog", "audit", "log")["entries"]
    assert [e["seq"] for e in entries] == list(range(1, 11))
    assert {e["action"] for e in entries} == {
        "run.started",
        "run.finished",
        "resource.created",
        "resource.configured",
        "resource.deleted",
        "resource.verified",
    }
    configured = next(e for e in entries if e["action"] == "resource.configured")
    assert configured["detail"]["fields"] == ["content"]
    only_dev = emitted(cli, "AuditLog", "audit", "log", "--env", "dev", "--repo", str(repo.path))
    assert only_dev["entries"] == entries
    assert emitted(cli, "AuditLog", "audit", "log", "--env", "shop/prod")["entries"] == []

    for number, (statement, problem, first_bad) in enumerate(TAMPERING):
        state = _tampered(cli.state, tmp_path / f"tampered-{number}.db", statement)
        bad = emitted(cli, "AuditVerification", "audit", "verify", "--state", str(state), expect=1)
        assert (bad["ok"], bad["problem"], bad["firstBadSeq"]) == (False, problem, first_bad)
        log = emitted(cli, "AuditLog", "audit", "log", "--state", str(state))["entries"]
        if "not json" in statement:
            assert log[1]["detail"] == {"undecodable": "{not json"}
