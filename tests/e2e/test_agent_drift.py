"""Drift as a governed workflow, through the agent: per environment mode and per resource
annotation, ignore rules never reported nor overwritten, drift recorded once with its fields."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import PROJECT, Cli, Repo, file_doc


def _annotated(name: str, path: str, mode: str) -> dict[str, object]:
    doc = file_doc(name, path, f"{name}\n", mode="0644")
    doc["metadata"]["annotations"] = {"gitcops.io/drift": mode}  # type: ignore[index]
    return doc


def _once(cli: Cli, repo: Repo) -> dict[str, object]:
    cli("agent", "--once", "--env", "dev", "--log-format", "json", repo=repo.path)
    data = json.loads(cli("status", "-o", "json", repo=repo.path).stdout)
    dev = next(e for e in data["environments"] if e["environment"] == "dev")
    reconcile = dev["lastReconcile"]
    assert isinstance(reconcile, dict)
    return reconcile


def _drift_events(cli: Cli) -> list[dict[str, object]]:
    log = json.loads(cli("audit", "log", "-o", "json").stdout)["entries"]
    return [e for e in log if e["action"] == "drift.detected"]


def test_each_resource_is_corrected_or_left_as_its_mode_says(cli: Cli, repo: Repo) -> None:
    # dev's mode is heal (conftest's project); two resources say otherwise.
    repo.set_resources(
        [
            file_doc("healed", "healed.txt", "healed\n", mode="0644"),
            _annotated("watched", "watched.txt", "detect"),
            _annotated("left", "left.txt", "ignore"),
        ]
    )
    assert _once(cli, repo)["outcome"] == "applied"
    for name in ("healed", "watched", "left"):
        (repo.root / f"{name}.txt").write_text("edited by hand\n")
    reconcile = _once(cli, repo)
    assert reconcile["outcome"] == "healed"
    assert (repo.root / "healed.txt").read_text() == "healed\n"
    assert (repo.root / "watched.txt").read_text() == "edited by hand\n"  # detect: reported
    assert (repo.root / "left.txt").read_text() == "edited by hand\n"  # ignore: not even that
    events = _drift_events(cli)
    subjects = sorted(str(e["subject"]) for e in events)
    assert subjects == ["local.gitcops.io/File/healed", "local.gitcops.io/File/watched"]
    watched = next(e for e in events if str(e["subject"]).endswith("watched"))
    assert watched["detail"]["mode"] == "detect"  # type: ignore[index]
    runs = json.loads(cli("history", "--env", "dev", "-o", "json", repo=repo.path).stdout)
    assert runs["runs"][0]["kind"] == "heal" and runs["runs"][0]["trigger"] == "agent"

    # What is still drifted is reported again, not recorded again.
    reconcile = _once(cli, repo)
    assert reconcile["outcome"] == "drifted"
    assert len(_drift_events(cli)) == 3  # a new process remembers nothing: once more


def test_ignored_fields_are_never_reported_nor_overwritten(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    project = PROJECT.format(root=repo.root, prod_root=tmp_path / "out" / "prod")
    project += "  ignoreDifferences:\n    - {kind: File, name: motd, jsonPointers: [/spec/mode]}\n"
    repo.write("gitcops.yaml", project)
    repo.set_resources([file_doc("motd", "etc/motd", "hello\n", mode="0644")])
    assert _once(cli, repo)["outcome"] == "applied"
    (repo.root / "etc" / "motd").chmod(0o600)
    reconcile = _once(cli, repo)
    assert reconcile["outcome"] == "unchanged"
    assert (repo.root / "etc" / "motd").stat().st_mode & 0o777 == 0o600  # kept
    assert _drift_events(cli) == []
    (repo.root / "etc" / "motd").write_text("changed\n")
    assert _once(cli, repo)["outcome"] == "healed"
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"
    assert (repo.root / "etc" / "motd").stat().st_mode & 0o777 == 0o600  # still kept


def test_warn_notifies_drift_once_with_its_fields(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    from test_agent_service import Receiver

    receiver = Receiver()
    try:
        project = PROJECT.format(root=tmp_path / "out" / "dev", prod_root=repo.root)
        project += (
            f"  notifications:\n    - {{type: webhook, url: '{receiver.url}', "
            "events: [driftDetected], environments: [prod]}\n"
        )
        repo.write("gitcops.yaml", project)
        repo.set_resources([file_doc("motd", "etc/motd", "hello\n", mode="0644")])
        cli("agent", "--once", "--env", "prod", repo=repo.path)
        (repo.root / "etc" / "motd").write_text("edited by hand\n")
        cli("agent", "--once", "--env", "prod", repo=repo.path)
        assert (repo.root / "etc" / "motd").read_text() == "edited by hand\n"  # warn: kept
        [event] = receiver.received
        assert event["event"] == "driftDetected" and event["environment"] == "prod"
        [detail] = event["details"]
        assert detail["resource"] == "local.gitcops.io/File/motd"
        assert detail["fields"] == ["content"]
        assert "edited by hand" not in json.dumps(event)  # field names, never values
    finally:
        receiver.close()
