"""Drift governance through the engine API (what the agent calls): heal_environment heals the
resources whose drift mode is heal, from the last applied revision, and nothing else; every
drifted resource is recorded in the audit log, secrets as their tokens."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli, Repo, encrypt_values, file_doc, secret_ref

from gitcops.engine.applying import apply_environment
from gitcops.engine.drift import HealOutcome, heal_environment
from gitcops.engine.inspect import drift_report
from gitcops.engine.runtime import Runtime
from gitcops.model.errors import GitcopsError
from gitcops.state.sqlite import open_store

IGNORE_MODE = """\
  ignoreDifferences:
    - {kind: File, name: kept-mode, jsonPointers: [/spec/mode]}
"""


def _annotated(name: str, path: str, content: str, mode: str | None = None, **notes: str) -> Any:
    doc = file_doc(name, path, content, mode=mode)
    if notes:
        doc["metadata"]["annotations"] = {  # type: ignore[index]
            f"gitcops.io/{k}": v for k, v in notes.items()
        }
    return doc


def _docs(version: str = "v1") -> list[Any]:
    return [
        _annotated("healed", "healed.txt", f"healed {version}\n"),  # the environment's mode: heal
        _annotated("gone", "gone.txt", "gone\n"),
        _annotated("detected", "detected.txt", "detected\n", drift="detect"),
        _annotated("warned", "warned.txt", "warned\n", drift="warn"),
        _annotated("ignored", "ignored.txt", "ignored\n", drift="ignore"),
        _annotated("kept-mode", "kept-mode.txt", "kept\n", mode="0644"),
    ]


@pytest.fixture
def env(repo: Repo, tmp_path: Path) -> dict[str, Any]:
    """dev (drift: heal) applied with _docs(), an ignore rule on kept-mode's mode."""
    repo.write("gitcops.yaml", repo.path.joinpath("gitcops.yaml").read_text() + IGNORE_MODE)
    repo.set_resources(_docs())
    state = str(tmp_path / "state.db")
    rt = Runtime(cache_dir=tmp_path / "cache")
    outcome = apply_environment(rt, str(repo.path), "dev", actor="tester", state=state)
    assert outcome is not None and outcome.succeeded
    yield {"rt": rt, "state": state, "repo": str(repo.path)}
    rt.close()


def _heal(env: dict[str, Any], **kwargs: Any) -> HealOutcome:
    return heal_environment(
        env["rt"], env["repo"], "dev", actor="agent-1", state=env["state"], **kwargs
    )


def _drift_everything(root: Path) -> None:
    for name in ("healed", "detected", "warned", "ignored"):
        (root / f"{name}.txt").write_text(f"{name} edited by hand\n")
    (root / "gone.txt").unlink()
    (root / "kept-mode.txt").write_text("kept edited by hand\n")
    os.chmod(root / "kept-mode.txt", 0o600)


def _rows(state: str) -> dict[str, tuple[str, int]]:
    store = open_store(state)
    try:
        return {str(k): (e.spec_hash, e.run_id) for k, e in store.inventory("shop/dev").items()}
    finally:
        store.close()


def _audit(state: str, action: str | None = None) -> list[Any]:
    store = open_store(state)
    try:
        return [e for e in store.audit("shop/dev") if action is None or e.action == action]
    finally:
        store.close()


def test_heal_heals_only_heal_mode_resources_and_keeps_ignored_fields(
    env: dict[str, Any], repo: Repo
) -> None:
    root = repo.root
    _drift_everything(root)
    rows_before = _rows(env["state"])
    outcome = _heal(env)

    # Healed: the environment's mode (heal), recreated, and ignored fields kept as they are.
    assert (root / "healed.txt").read_text() == "healed v1\n"
    assert (root / "gone.txt").read_text() == "gone\n"
    assert (root / "kept-mode.txt").read_text() == "kept\n"
    assert (root / "kept-mode.txt").stat().st_mode & 0o777 == 0o600
    # Left alone: detect, warn, ignore.
    for name in ("detected", "warned", "ignored"):
        assert (root / f"{name}.txt").read_text() == f"{name} edited by hand\n"

    by_mode = {
        m.value: [i.id.rsplit("/", 1)[1] for i in items] for m, items in outcome.by_mode.items()
    }
    assert by_mode == {
        "detect": ["detected"],
        "warn": ["warned"],
        "heal": ["gone", "healed", "kept-mode"],
    }
    items = {i.id.rsplit("/", 1)[1]: i for i in outcome.drifted}
    assert items["gone"].state == "missing" and items["gone"].diff == ()
    (field,) = items["kept-mode"].diff  # the mode is ignored: never drift
    assert (field.field, field.old, field.new) == ("content", "kept\n", "kept edited by hand\n")
    assert [(d.field, d.old, d.new) for d in items["warned"].diff] == [
        ("content", "warned\n", "warned edited by hand\n")
    ]

    healed = outcome.healed
    assert healed is not None and healed.succeeded and healed.kind == "heal"
    assert healed.plan.revision == outcome.revision
    counts = healed.changeset.counts
    assert (counts["created"], counts["configured"], counts["unchanged"]) == (1, 2, 3)
    assert outcome.checked == 6 and outcome.recorded == 5

    # The heal run: kind heal, trigger agent; rows of the resources left alone are untouched.
    store = open_store(env["state"])
    try:
        run = store.runs("shop/dev", 1)[0]
    finally:
        store.close()
    assert (run.kind, run.trigger, run.actor, run.status) == (
        "heal",
        "agent",
        "agent-1",
        "succeeded",
    )
    rows_after = _rows(env["state"])
    for name in ("detected", "warned", "ignored"):
        rid = f"local.gitcops.io/File/{name}"
        assert rows_after[rid] == rows_before[rid]
    assert rows_after["local.gitcops.io/File/gone"][1] == run.id

    # drift.detected: one per drifted resource (not the ignored one), before/after, outside runs.
    events = {e.subject.rsplit("/", 1)[1]: e for e in _audit(env["state"], "drift.detected")}
    assert set(events) == {"healed", "gone", "detected", "warned", "kept-mode"}
    warned = events["warned"]
    assert warned.run_id is None and warned.actor == "agent-1"
    assert warned.detail == {
        "mode": "warn",
        "state": "modified",
        "revision": outcome.revision,
        "fields": [
            {"op": "change", "path": "content", "old": "warned\n", "new": "warned edited by hand\n"}
        ],
    }
    assert events["gone"].detail["state"] == "missing" and events["gone"].detail["fields"] == []
    assert [f["path"] for f in events["kept-mode"].detail["fields"]] == ["content"]
    store = open_store(env["state"])
    try:
        assert store.verify_audit().ok
    finally:
        store.close()

    # Still drifted, as `gitcops drift` says: detect and warn; ignore is never reported.
    report = drift_report(env["rt"], env["repo"], "dev", env["state"])
    assert [(i.id.rsplit("/", 1)[1], i.mode.value) for i in report.items] == [
        ("detected", "detect"),
        ("warned", "warn"),
    ]


def test_drift_found_again_unchanged_is_not_recorded_twice(env: dict[str, Any], repo: Repo) -> None:
    (repo.root / "warned.txt").write_text("by hand\n")
    first = _heal(env)
    assert first.recorded == 1 and first.healed is None
    runs = len(open_store(env["state"]).runs("shop/dev"))
    again = _heal(env, recorded=first.fingerprints)
    assert again.drifted == first.drifted and again.recorded == 0 and again.healed is None
    (repo.root / "warned.txt").write_text("by hand, twice\n")
    changed = _heal(env, recorded=again.fingerprints)
    assert changed.recorded == 1
    assert len(_audit(env["state"], "drift.detected")) == 2
    assert len(open_store(env["state"]).runs("shop/dev")) == runs  # nothing healed: no run


def test_a_second_heal_with_nothing_drifted_is_a_no_op(env: dict[str, Any], repo: Repo) -> None:
    (repo.root / "healed.txt").write_text("edited\n")
    first = _heal(env)
    assert first.healed is not None and first.healed.succeeded
    entries = len(_audit(env["state"]))
    rows = _rows(env["state"])
    second = _heal(env)
    assert second.drifted == () and second.healed is None and second.recorded == 0
    assert len(_audit(env["state"])) == entries and _rows(env["state"]) == rows
    assert second.as_json()["heal"] is None
    assert second.as_json()["drifted"] == {"detect": [], "warn": [], "heal": []}


def test_heal_applies_the_last_applied_revision_not_head(env: dict[str, Any], repo: Repo) -> None:
    repo.set_resources(_docs("v2"))  # committed, never applied
    (repo.root / "healed.txt").write_text("edited\n")
    outcome = _heal(env)
    assert (repo.root / "healed.txt").read_text() == "healed v1\n"
    assert outcome.healed is not None and outcome.healed.plan.revision == outcome.revision
    assert outcome.revision != repo.git("rev-parse", "HEAD")


def test_heal_of_an_environment_never_applied_says_so(env: dict[str, Any]) -> None:
    with pytest.raises(GitcopsError, match="never been applied"):
        heal_environment(env["rt"], env["repo"], "prod", actor="agent", state=env["state"])


def test_heal_never_shows_or_records_a_secret(
    keyed: tuple[Cli, str], repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli, recipient = keyed
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", cli.env["SOPS_AGE_KEY_FILE"])
    password = f"pw-{secrets.token_hex(12)}"
    encrypt_values(cli, repo, "secrets/db.sops.yaml", {"password": password}, recipient)
    warned = file_doc("db-warned", "db-warned.pass", "x", mode="0600")
    warned["spec"]["content"] = secret_ref("../secrets/db.sops.yaml", "password")  # type: ignore[index]
    warned["metadata"]["annotations"] = {"gitcops.io/drift": "warn"}  # type: ignore[index]
    healed = file_doc("db", "db.pass", "x", mode="0600")
    healed["spec"]["content"] = secret_ref("../secrets/db.sops.yaml", "password")  # type: ignore[index]
    repo.set_resources([healed, warned])
    state = str(tmp_path / "state" / "state.db")
    with Runtime(cache_dir=tmp_path / "cache") as rt:
        assert apply_environment(rt, str(repo.path), "dev", actor="t", state=state) is not None
        assert (repo.root / "db.pass").read_text() == password
        leaked = f"leaked-{secrets.token_hex(8)}"
        (repo.root / "db.pass").write_text(leaked)
        (repo.root / "db-warned.pass").write_text(leaked)
        outcome = heal_environment(rt, str(repo.path), "dev", actor="agent", state=state)
    assert (repo.root / "db.pass").read_text() == password  # healed
    assert (repo.root / "db-warned.pass").read_text() == leaked  # left alone
    shown = json.dumps(outcome.as_json())
    assert password not in shown and leaked not in shown
    assert "(sensitive value, hmac-sha256:" in shown
    events = _audit(state, "drift.detected")
    assert {e.subject for e in events} == {
        "local.gitcops.io/File/db",
        "local.gitcops.io/File/db-warned",
    }
    for event in events:
        (field,) = event.detail["fields"]
        assert field["path"] == "content"
        assert str(field["old"]).startswith("(sensitive value, hmac-sha256:")
        assert str(field["new"]).startswith("(sensitive value, hmac-sha256:")
        assert field["old"] != field["new"]
    for path in [*Path(state).parent.rglob("*"), *(tmp_path / "cache").rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            assert password.encode() not in data and leaked.encode() not in data, path


def test_a_large_drifted_value_is_recorded_by_size_and_hash(
    env: dict[str, Any], repo: Repo
) -> None:
    (repo.root / "warned.txt").write_text("x" * 5000)
    _heal(env)
    (event,) = _audit(env["state"], "drift.detected")
    (field,) = event.detail["fields"]
    assert field["old"] == "warned\n"
    assert field["new"].startswith("(5002 bytes, sha256 ")


def test_heal_leaves_changes_from_git_alone_and_their_rows_untouched(
    env: dict[str, Any], repo: Repo
) -> None:
    """A later apply failed (a health check): healed's object and row hold that revision's spec,
    while the last applied revision is still the first. The heal plans the first revision: the
    difference is Git's, not drift, so it is left alone, object and inventory row alike."""
    failing = {
        "apiVersion": "local.gitcops.io/v1",
        "kind": "HealthCheck",
        "metadata": {"name": "broken"},
        "spec": {"command": {"argv": ["false"]}, "retries": 0},
    }
    repo.set_resources([*_docs("v2"), failing])
    outcome = apply_environment(env["rt"], env["repo"], "dev", actor="t", state=env["state"])
    assert outcome is not None and not outcome.succeeded
    assert (repo.root / "healed.txt").read_text() == "healed v2\n"
    (repo.root / "warned.txt").write_text("edited\n")
    rows = _rows(env["state"])
    healed = _heal(env)
    assert [i.id.rsplit("/", 1)[1] for i in healed.drifted] == ["warned"]
    assert healed.healed is None
    assert (repo.root / "healed.txt").read_text() == "healed v2\n"
    assert _rows(env["state"]) == rows

    (repo.root / "gone.txt").unlink()  # now something to heal: healed's row stays as it is
    healed = _heal(env)
    assert healed.healed is not None and healed.healed.succeeded
    after = _rows(env["state"])
    assert after["local.gitcops.io/File/healed"] == rows["local.gitcops.io/File/healed"]
    assert after["local.gitcops.io/File/gone"] != rows["local.gitcops.io/File/gone"]
    assert (repo.root / "healed.txt").read_text() == "healed v2\n"


def test_what_a_heal_records_matches_the_published_schemas(
    env: dict[str, Any], repo: Repo, cli: Cli
) -> None:
    from gitcops.schemas import output_validator

    _drift_everything(repo.root)
    outcome = _heal(env)
    assert outcome.healed is not None
    documents = {
        "ApplyResult": outcome.healed.as_json(),
        "AuditLog": json.loads(
            cli("audit", "log", "--env", "shop/dev", "-o", "json", "--state", env["state"]).stdout
        ),
        "History": json.loads(
            cli("history", "-o", "json", "--state", env["state"], repo=repo.path).stdout
        ),
        "DriftReport": json.loads(
            cli(
                "drift",
                "--env",
                "dev",
                "-o",
                "json",
                "--state",
                env["state"],
                repo=repo.path,
                expect=2,
            ).stdout
        ),
    }
    documents["ApplyResult"] = {
        "apiVersion": "gitcops.io/cli/v1",
        "kind": "ApplyResult",
        **documents["ApplyResult"],
    }
    for kind, document in documents.items():
        errors = [e.message for e in output_validator(kind).iter_errors(document)]
        assert errors == [], kind
    assert documents["ApplyResult"]["runKind"] == "heal"
    actions = [e["action"] for e in documents["AuditLog"]["entries"]]
    assert actions.count("drift.detected") == 5
    assert documents["History"]["runs"][0]["kind"] == "heal"
    assert documents["History"]["runs"][0]["trigger"] == "agent"


def test_an_apply_can_select_the_changes_it_makes(env: dict[str, Any], repo: Repo) -> None:
    from gitcops.engine.applying import apply_workspace
    from gitcops.engine.workspace import open_workspace

    repo.set_resources(_docs("v2"))  # healed changes in Git
    (repo.root / "warned.txt").write_text("edited\n")
    rows = _rows(env["state"])
    rt = env["rt"]
    ws = open_workspace(rt, rt.source(env["repo"]), "dev")
    try:
        outcome = apply_workspace(
            ws,
            rt.store(env["state"]),
            actor="t",
            select=lambda change: change.id.name == "warned",
        )
    finally:
        ws.close()
    assert outcome is not None and outcome.succeeded
    assert outcome.changeset.counts["configured"] == 1
    assert (repo.root / "warned.txt").read_text() == "warned\n"
    assert (repo.root / "healed.txt").read_text() == "healed v1\n"  # refused: left alone
    after = _rows(env["state"])
    assert after["local.gitcops.io/File/healed"] == rows["local.gitcops.io/File/healed"]
    assert after["local.gitcops.io/File/warned"] != rows["local.gitcops.io/File/warned"]
