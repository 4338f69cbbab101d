"""Approvals as git notes: several per commit, idempotent, carried to a bare clone by refspec."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitcops.approvals import store
from gitcops.approvals.model import Approval, ApprovalError
from gitcops.approvals.ssh import sign, verify

from .conftest import IDENTITY, commits, git, payload


def _approve(keys: dict[str, Path], who: str, commit: str, environment: str = "prod") -> Approval:
    signed = payload(commit, environment)
    return Approval(signed, sign(signed.canonical(), keys[who]), commit)


def _verified(approvals: list[Approval], allowed_signers: Path) -> set[tuple[str, str, str]]:
    """(commit, environment, approver) of every approval that verifies."""
    found = set()
    for approval in approvals:
        who = verify(approval.payload.canonical(), approval.signature, allowed_signers)
        assert who is not None
        found.add((approval.commit, approval.payload.environment, who))
    return found


def test_approvals_of_two_commits_by_two_approvers_round_trip(
    repo: Path, keys: dict[str, Path], allowed_signers: Path
) -> None:
    first, second = commits(repo)
    for approval in (
        _approve(keys, "alice", second),
        _approve(keys, "bob", second),
        _approve(keys, "alice", first, "staging"),
    ):
        store.add(repo, approval)
    approvals, problems = store.load_all(repo)
    assert problems == []
    assert _verified(approvals, allowed_signers) == {
        (second, "prod", "alice@example"),
        (second, "prod", "bob@example"),
        (first, "staging", "alice@example"),
    }
    assert git(repo, "status", "--porcelain") == ""  # notes never touch the work tree


def test_adding_the_same_approval_twice_stores_it_once(repo: Path, keys: dict[str, Path]) -> None:
    approval = _approve(keys, "alice", commits(repo)[-1])
    store.add(repo, approval)
    store.add(repo, approval)
    approvals, _ = store.load_all(repo)
    assert approvals == [approval]
    assert len(git(repo, "notes", "--ref", store.REF, "show", "HEAD").splitlines()) == 1


def test_a_ref_name_or_tag_is_stored_against_its_commit(repo: Path, keys: dict[str, Path]) -> None:
    git(repo, *IDENTITY, "tag", "-a", "-m", "release", "v1", "HEAD~1")
    approval = _approve(keys, "alice", commits(repo)[0])
    store.add(repo, Approval(approval.payload, approval.signature, "v1"))
    [loaded], _ = store.load_all(repo)
    assert loaded.commit == commits(repo)[0]


def test_no_notes_is_no_approvals(repo: Path) -> None:
    assert store.load_all(repo) == ([], [])


def test_an_unknown_commit_or_a_non_repository_is_an_error(
    repo: Path, keys: dict[str, Path], tmp_path: Path
) -> None:
    approval = _approve(keys, "alice", "f" * 40)
    with pytest.raises(ApprovalError, match="no commit"):
        store.add(repo, approval)
    (tmp_path / "plain").mkdir()
    with pytest.raises(ApprovalError, match="cannot list approvals"):
        store.load_all(tmp_path / "plain")


def test_a_bad_note_line_is_reported_and_the_rest_still_load(
    repo: Path, keys: dict[str, Path]
) -> None:
    head = commits(repo)[-1]
    store.add(repo, _approve(keys, "alice", head))
    for line in ("not json", '{"payload": "{}", "signature": "x"}'):
        git(repo, *IDENTITY, "notes", "--ref", store.REF, "append", "-m", line, head)
    store.add(repo, _approve(keys, "bob", head))
    approvals, problems = store.load_all(repo)
    assert len(approvals) == 2
    assert len(problems) == 2
    assert problems[0].startswith(f"note of {head[:12]}, line 3: not JSON")
    assert "not an armored SSH signature" in problems[1]


def test_a_bare_clone_reads_approvals_once_the_notes_ref_is_fetched(
    repo: Path, keys: dict[str, Path], allowed_signers: Path, tmp_path: Path
) -> None:
    first, second = commits(repo)
    store.add(repo, _approve(keys, "alice", first))
    store.add(repo, _approve(keys, "bob", second))
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    assert store.load_all(bare) == ([], [])  # clone does not bring notes
    git(bare, "fetch", "-q", "origin", f"{store.REF}:{store.REF}")
    approvals, problems = store.load_all(bare)
    assert problems == []
    assert _verified(approvals, allowed_signers) == {
        (first, "prod", "alice@example"),
        (second, "prod", "bob@example"),
    }


def test_add_works_in_a_bare_repository_without_a_configured_identity(
    repo: Path, keys: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    strict = tmp_path / "strict.gitconfig"
    strict.write_text("[user]\n\tuseConfigOnly = true\n")  # no guessing from the host name
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(strict))
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    approval = _approve(keys, "alice", commits(repo)[-1])
    store.add(bare, approval)
    assert store.load_all(bare) == ([approval], [])
    assert git(bare, "log", "-1", "--format=%cn <%ce>", store.REF) == "gitcops <gitcops@localhost>"
    git(bare, "config", "user.name", "Repo Owner")
    git(bare, "config", "user.email", "owner@example")
    store.add(bare, _approve(keys, "bob", commits(repo)[-1]))
    assert git(bare, "log", "-1", "--format=%cn", store.REF) == "Repo Owner"


def test_diverged_notes_merge_keeping_both_sides(
    repo: Path, keys: dict[str, Path], allowed_signers: Path, tmp_path: Path
) -> None:
    head = commits(repo)[-1]
    hub = tmp_path / "hub.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(hub)], check=True)
    store.add(hub, _approve(keys, "alice", head))  # alice pushed first
    store.add(repo, _approve(keys, "bob", head))  # bob approved meanwhile
    refused = subprocess.run(
        ["git", "-C", str(repo), "push", "-q", str(hub), store.REF], capture_output=True
    )
    assert refused.returncode != 0  # non-fast-forward
    incoming = "refs/notes/gitcops-approvals-incoming"
    git(repo, "fetch", "-q", str(hub), f"+{store.REF}:{incoming}")
    store.merge(repo, incoming)
    git(repo, "push", "-q", str(hub), store.REF)
    approvals, problems = store.load_all(hub)
    assert problems == []
    assert _verified(approvals, allowed_signers) == {
        (head, "prod", "alice@example"),
        (head, "prod", "bob@example"),
    }
