"""Inventory and convergence: state must match disk, and prune must follow what left Git."""

from __future__ import annotations

import base64

from conftest import Cli, Repo, file_doc

APPLY = ("apply", "--env", "dev", "--yes")


def test_renamed_resource_keeps_its_object(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("motd", "etc/motd", "hello\n")])
    cli(*APPLY, repo=repo.path)
    repo.set_resources([file_doc("greeting", "etc/motd", "hello\n")])
    cli(*APPLY, repo=repo.path)
    assert (repo.root / "etc" / "motd").read_text() == "hello\n"
    cli("drift", "--env", "dev", repo=repo.path, expect=0)


def test_changed_path_removes_the_old_file(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("motd", "old.txt", "hi\n")])
    cli(*APPLY, repo=repo.path)
    repo.set_resources([file_doc("motd", "new.txt", "hi\n")])
    plan = cli("plan", "--env", "dev", repo=repo.path)
    assert "deleted outside gitcops" not in plan.stdout
    cli(*APPLY, repo=repo.path)
    assert (repo.root / "new.txt").exists()
    assert not (repo.root / "old.txt").exists()


def test_content_base64_of_text_converges(cli: Cli, repo: Repo) -> None:
    doc = file_doc("f", "f.txt")
    spec = doc["spec"]
    assert isinstance(spec, dict)
    del spec["content"]
    spec["contentBase64"] = base64.b64encode(b"hello\n").decode()
    repo.set_resources([doc])
    cli(*APPLY, repo=repo.path)
    cli("plan", "--env", "dev", "--detailed-exitcode", repo=repo.path, expect=0)


def test_name_with_slash_does_not_poison_state(cli: Cli, repo: Repo) -> None:
    repo.set_resources([file_doc("a/b", "f.txt")])
    validated = cli("validate", repo=repo.path, expect=None)
    if validated.code == 1:  # rejecting the name up front is a fine fix
        assert "metadata.name" in validated.stderr
        return
    cli(*APPLY, repo=repo.path)
    plan = cli("plan", "--env", "dev", repo=repo.path, expect=None)
    assert "Traceback" not in plan.stderr
    assert plan.code == 0
