"""Drift modes and ignore rules through the real CLI: plan shows each drifted resource's mode,
`gitcops drift` and the plan never report ignored fields, apply never overwrites them, a warn
environment's apply shows what it overwrites and asks first; bad rules are refused."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from conftest import Cli, Repo, file_doc

RULES = """\
  ignoreDifferences:                      # every environment
    - {kind: File, name: motd, jsonPointers: [/spec/mode]}
"""


def _doc(name: str, content: str, mode: str = "0644", drift: str | None = None) -> Any:
    doc = file_doc(name, f"{name}.txt", content, mode=mode)
    if drift is not None:
        doc["metadata"]["annotations"] = {"gitcops.io/drift": drift}  # type: ignore[index]
    return doc


def _docs() -> list[Any]:
    return [
        _doc("motd", "hello\n"),
        _doc("plain", "plain\n"),
        _doc("warned", "warned\n", drift="warn"),
        _doc("ignored", "ignored\n", drift="ignore"),
    ]


def _with_rules(repo: Repo) -> None:
    repo.write("gitcops.yaml", (repo.path / "gitcops.yaml").read_text() + RULES)
    repo.set_resources(_docs())


def _changes(cli: Cli, repo: Repo, env: str = "dev") -> dict[str, dict[str, Any]]:
    result = cli("plan", "--env", env, "-o", "json", repo=repo.path)
    return {c["name"]: c for c in json.loads(result.stdout)["changes"]}


def _edit(root: Path, name: str, text: str) -> None:
    (root / f"{name}.txt").write_text(text)


def test_plan_shows_each_drifted_resource_with_its_mode(cli: Cli, repo: Repo) -> None:
    _with_rules(repo)
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    for name in ("plain", "warned", "ignored"):
        _edit(repo.root, name, "edited by hand\n")
    (repo.root / "motd.txt").unlink()

    text = cli("plan", "--env", "dev", repo=repo.path).stdout
    assert (
        "# local.gitcops.io/File/plain will be updated in place (drifted: changed outside "
        "gitcops; drift mode heal: apply overwrites it)"
    ) in text
    assert "drift mode warn: apply overwrites it" in text
    assert (
        "# local.gitcops.io/File/motd will be created (deleted outside gitcops; drift mode heal: "
        "apply recreates it)"
    ) in text
    assert "File/ignored" not in text  # its drift is no change at all
    assert "Plan: 1 to create, 2 to update, 0 to delete, 1 unchanged" in text

    changes = _changes(cli, repo)
    assert {n: (c["action"], c["drift"]) for n, c in changes.items()} == {
        "motd": ("create", "heal"),
        "plain": ("update", "heal"),
        "warned": ("update", "warn"),
        "ignored": ("no-op", "ignore"),
    }
    assert changes["ignored"]["reason"] == (
        "drifted: changed outside gitcops; drift mode ignore: left as it is"
    )
    assert changes["motd"]["ignored"] == []  # a create is applied as Git says

    # A change from Git to the ignore-mode resource still applies; it is not drift.
    docs = _docs()
    docs[3]["spec"]["content"] = "ignored v2\n"
    repo.set_resources(docs)
    ignored = _changes(cli, repo)["ignored"]
    assert (ignored["action"], ignored["drift"], ignored["reason"]) == ("update", None, "")
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert (repo.root / "ignored.txt").read_text() == "ignored v2\n"
    assert (repo.root / "plain.txt").read_text() == "plain\n"


def test_ignored_fields_are_never_drift_nor_overwritten(cli: Cli, repo: Repo) -> None:
    _with_rules(repo)
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    motd = repo.root / "motd.txt"
    os.chmod(motd, 0o600)  # only the ignored field changed
    assert cli("drift", "--env", "dev", repo=repo.path).stdout.startswith("No drift: 3 resources")
    assert cli("plan", "--env", "dev", repo=repo.path).stdout.startswith("No changes.")
    ignored = _changes(cli, repo)["motd"]
    assert (ignored["action"], ignored["ignored"]) == ("no-op", ["/spec/mode"])

    motd.write_text("edited\n")
    _edit(repo.root, "ignored", "edited\n")  # gitcops.io/drift: ignore: never reported
    report = json.loads(cli("drift", "--env", "dev", "-o", "json", repo=repo.path, expect=2).stdout)
    assert report["checked"] == 3
    (item,) = report["items"]
    assert (item["id"], item["state"], item["mode"]) == (
        "local.gitcops.io/File/motd",
        "modified",
        "heal",
    )
    assert [d["path"] for d in item["diff"]] == ["content"]
    # Without a cache the modes come from the rendered documents: the same answer.
    uncached = cli("drift", "--env", "dev", "-o", "json", "--no-cache", repo=repo.path, expect=2)
    assert json.loads(uncached.stdout) == report
    text = cli("drift", "--env", "dev", repo=repo.path, expect=2).stdout
    assert "modified: local.gitcops.io/File/motd (drift mode heal)" in text
    assert "mode" not in text.split("(drift mode heal)")[1]

    change = _changes(cli, repo)["motd"]
    assert [d["path"] for d in change["diff"]] == ["content"]
    assert change["after"]["mode"] == "0644" and change["ignored"] == ["/spec/mode"]
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert motd.read_text() == "hello\n"
    assert motd.stat().st_mode & 0o777 == 0o600  # written back as it was
    cli("drift", "--env", "dev", repo=repo.path, expect=0)


def test_applying_a_drifted_warn_environment_shows_what_it_overwrites_and_asks(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    _with_rules(repo)
    cli("apply", "--env", "prod", "--yes", repo=repo.path)
    prod = tmp_path / "out" / "prod"
    (prod / "plain.txt").write_text("edited in prod\n")

    refused = cli("apply", "--env", "prod", repo=repo.path, expect=1)
    assert (
        "# local.gitcops.io/File/plain will be updated in place (drifted: changed outside "
        "gitcops; drift mode warn: apply overwrites it)"
    ) in refused.stdout
    assert '~ content: "edited in prod\\n" -> "plain\\n"' in refused.stdout
    assert "pass --yes" in refused.stderr
    assert (prod / "plain.txt").read_text() == "edited in prod\n"  # nothing written

    cli("apply", "--env", "prod", "--yes", repo=repo.path)
    assert (prod / "plain.txt").read_text() == "plain\n"


def test_a_saved_plan_that_drops_an_ignore_rule_is_refused(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    _with_rules(repo)
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    os.chmod(repo.root / "motd.txt", 0o600)
    (repo.root / "motd.txt").write_text("edited\n")
    plan = tmp_path / "plan.json"
    cli("plan", "--env", "dev", "--out", str(plan), repo=repo.path)
    data = json.loads(plan.read_text())
    motd = next(c for c in data["changes"] if c["name"] == "motd")
    assert motd["ignored"] == ["/spec/mode"]
    motd["ignored"] = []  # would write Git's mode over the live one
    plan.write_text(json.dumps(data))
    refused = cli("apply", "--env", "dev", str(plan), repo=repo.path, expect=1)
    assert "was the plan file edited?" in refused.stderr
    assert (repo.root / "motd.txt").read_text() == "edited\n"


def test_bad_rules_and_annotations_are_refused_with_file_and_field(cli: Cli, repo: Repo) -> None:
    text = (repo.path / "gitcops.yaml").read_text()
    text = text.replace(
        "      drift: heal\n",
        "      drift: heal\n      ignoreDifferences: [{kind: File, jsonPointers: [spec/mode]}]\n",
    )
    repo.write("gitcops.yaml", text + "  ignoreDifferences: [{jsonPointers: [/metadata/labels]}]\n")
    repo.commit("bad rules")
    result = cli("validate", "--env", "dev", repo=repo.path, expect=1)
    assert (
        "gitcops.yaml: document 1 (Project): field spec.environments[0].ignoreDifferences[0]"
        ".jsonPointers[0]: 'spec/mode' is not a JSON pointer"
    ) in result.stderr
    assert "field spec.ignoreDifferences[0].jsonPointers[0]: '/metadata/labels' points outside" in (
        result.stderr
    )
    cli("plan", "--env", "dev", repo=repo.path, expect=1)
    cli("apply", "--env", "dev", "--yes", repo=repo.path, expect=1)
    assert not repo.root.exists()  # nothing written

    repo.git("checkout", "--quiet", "HEAD~1", "--", "gitcops.yaml")
    repo.set_resources([_doc("motd", "hello\n", drift="off")])
    result = cli("validate", "--env", "dev", repo=repo.path, expect=1)
    assert (
        "base/resources.yaml: document 1 (local.gitcops.io/File/motd): field "
        "metadata.annotations.gitcops.io/drift: must be one of detect, warn, heal, ignore, "
        "not 'off'"
    ) in result.stderr


def test_plan_policies_see_each_change_s_drift_mode(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    repo.write(
        "policies/plan.rego",
        "package plan\n\nimport rego.v1\n\n"
        "deny contains msg if {\n"
        "    some change in input.changes\n"
        '    change.drift == "warn"\n'
        '    msg := sprintf("%s drifted: a person looks first", [change.id])\n'
        "}\n",
    )
    _with_rules(repo)
    cli("apply", "--env", "prod", "--yes", repo=repo.path)
    prod = tmp_path / "out" / "prod"
    (prod / "motd.txt").write_text("edited\n")  # prod's mode: warn
    refused = cli("apply", "--env", "prod", "--yes", repo=repo.path, expect=1)
    assert "local.gitcops.io/File/motd drifted: a person looks first" in refused.output
    assert (prod / "motd.txt").read_text() == "edited\n"
