"""Taking over an existing object is a change the plan names (adopt), and a document marked
`gitcops.io/prune: disabled` leaves its object in place when it leaves Git."""

from __future__ import annotations

import json

from conftest import Cli, Repo, file_doc


def _kept(name: str, path: str) -> dict[str, object]:
    doc = file_doc(name, path, "keep me\n")
    doc["metadata"]["annotations"] = {"gitcops.io/prune": "disabled"}  # type: ignore[index]
    return doc


def test_an_existing_object_is_adopted_and_the_plan_says_so(cli: Cli, repo: Repo) -> None:
    repo.root.mkdir(parents=True)
    (repo.root / "legacy.txt").write_text("made by hand\n")
    (repo.root / "same.txt").write_text("as in git\n")
    repo.set_resources(
        [
            file_doc("legacy", "legacy.txt", "managed now\n"),
            file_doc("same", "same.txt", "as in git\n"),
        ]
    )
    text = cli("plan", "--env", "dev", repo=repo.path).stdout
    assert "local.gitcops.io/File/legacy will be adopted" in text
    assert "local.gitcops.io/File/same will be adopted" in text
    assert 'content: "made by hand\\n" -> "managed now\\n"' in text
    assert "2 to adopt" in text

    plan = json.loads(cli("plan", "--env", "dev", "-o", "json", repo=repo.path).stdout)
    actions = {c["name"]: c["action"] for c in plan["changes"]}
    assert actions == {"legacy": "adopt", "same": "adopt"}
    assert plan["summary"]["adopt"] == 2
    legacy = next(c for c in plan["changes"] if c["name"] == "legacy")
    assert [d["path"] for d in legacy["diff"]] == ["content"]
    cli("plan", "--env", "dev", "--detailed-exitcode", repo=repo.path, expect=2)

    applied = json.loads(cli("apply", "--env", "dev", "--yes", "-o", "json", repo=repo.path).stdout)
    assert applied["summary"]["adopted"] == 2
    assert (repo.root / "legacy.txt").read_text() == "managed now\n"
    cli("plan", "--env", "dev", "--detailed-exitcode", repo=repo.path)  # nothing left to do

    # Adopted objects are managed like any other: pruned when their document leaves Git.
    repo.set_resources([file_doc("same", "same.txt", "as in git\n")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert not (repo.root / "legacy.txt").exists()


def test_prune_disabled_leaves_the_object_in_place_and_forgets_it(cli: Cli, repo: Repo) -> None:
    repo.set_resources([_kept("kept", "kept.txt"), file_doc("gone", "gone.txt")])
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources([file_doc("other", "other.txt")])

    text = cli("plan", "--env", "dev", repo=repo.path).stdout
    assert "local.gitcops.io/File/kept will be deleted (left in place and forgotten" in text
    assert "gitcops.io/prune: disabled" in text
    assert "local.gitcops.io/File/gone will be deleted (pruned: no longer in Git)" in text
    plan = json.loads(cli("plan", "--env", "dev", "-o", "json", repo=repo.path).stdout)
    kept = next(c for c in plan["changes"] if c["name"] == "kept")
    assert kept["forgetOnly"] is True
    assert kept["prune"] is False  # what the inventory recorded of its document

    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    assert (repo.root / "kept.txt").read_text() == "keep me\n"
    assert not (repo.root / "gone.txt").exists()
    # Forgotten: no longer in the inventory, so no longer compared for drift.
    (repo.root / "kept.txt").write_text("changed by hand\n")
    drift = json.loads(cli("drift", "--env", "dev", "-o", "json", repo=repo.path).stdout)
    assert drift["checked"] == 1 and drift["drifted"] == 0

    # Back in Git, it is an existing object again: adopted, not created.
    repo.set_resources([file_doc("other", "other.txt"), _kept("kept", "kept.txt")])
    plan = json.loads(cli("plan", "--env", "dev", "-o", "json", repo=repo.path).stdout)
    assert {c["name"]: c["action"] for c in plan["changes"]}["kept"] == "adopt"


def test_a_prune_annotation_must_say_disabled_or_enabled(cli: Cli, repo: Repo) -> None:
    doc = file_doc("odd", "odd.txt")
    doc["metadata"]["annotations"] = {"gitcops.io/prune": "never"}  # type: ignore[index]
    repo.set_resources([doc])
    done = cli("validate", repo=repo.path, expect=1)
    assert "base/resources.yaml" in done.stderr
    assert "metadata.annotations.gitcops.io/prune" in done.stderr
    assert "must be one of disabled, enabled" in done.stderr
