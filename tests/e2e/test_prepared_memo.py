"""Prepared specs are remembered by document: a commit that edits one document prepares that
one, the live checks still run on every document, and what is planned is the same."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import Cli, Repo, desired_of, file_doc

from gitcops.model.errors import InvalidInputError

PREPARED = "documents prepared"

DOCS = 40


def _docs(changed: dict[int, str] | None = None) -> list[dict[str, object]]:
    changed = changed or {}
    return [
        file_doc(f"f{i}", f"files/f{i}.txt", changed.get(i, f"content {i}\n"), mode="644")
        for i in range(DOCS)
    ]


def test_an_edit_prepares_only_the_edited_document(repo: Repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    repo.set_resources(_docs())
    first, stats = desired_of(repo, cache)
    assert stats[PREPARED] == DOCS
    assert first["f3"] == {"path": "files/f3.txt", "content": "content 3\n", "mode": "0644"}

    repo.set_resources(_docs({3: "edited\n"}))
    second, stats = desired_of(repo, cache)
    assert stats[PREPARED] == 1
    # The same as with nothing remembered.
    assert second == desired_of(repo, None)[0]
    assert second["f3"]["content"] == "edited\n" and second["f3"]["mode"] == "0644"


def test_the_live_check_runs_on_remembered_documents(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    """A symlink that leaves the root, made after the documents were remembered, is found."""
    repo.set_resources(_docs())
    cli("plan", "--env", "dev", "--detailed-exitcode", repo=repo.path, expect=2)  # remembers all
    outside = tmp_path / "outside"
    outside.mkdir()
    repo.root.mkdir(parents=True, exist_ok=True)
    os.symlink(outside, repo.root / "files")
    repo.set_resources(_docs({0: "edited\n"}))  # f1..f39 come from the memo
    result = cli("plan", "--env", "dev", repo=repo.path, expect=1)
    assert "f1.txt" in result.stderr or "document 2" in result.stderr
    assert "points outside the provider root" in result.stderr
    assert not any(outside.iterdir())


def test_documents_with_secrets_or_sources_are_never_remembered(repo: Repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    repo.write("base/motd.txt", "from a file\n")
    docs = [*_docs(), file_doc("sourced", "sourced.txt", source="motd.txt")]
    docs[-1]["spec"].pop("content")  # type: ignore[attr-defined]
    repo.set_resources(docs)
    desired_of(repo, cache)
    entries = json.loads(next((cache / "prepared").iterdir()).read_text())
    assert len(entries) == DOCS  # not the sourced document
    assert not any("from a file" in text for text in entries.values())

    # The sourced file changes without the document changing: the new content is read.
    repo.write("base/motd.txt", "changed\n")
    repo.commit("motd")
    specs, stats = desired_of(repo, cache)
    assert specs["sourced"]["content"] == "changed\n"
    assert stats[PREPARED] == 1


def test_a_damaged_memo_is_ignored_and_bad_input_is_still_refused(
    repo: Repo, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"

    def _specs(repo: Repo) -> dict[str, Any]:
        return desired_of(repo, cache)[0]

    repo.set_resources(_docs())
    expected = _specs(repo)
    for path in (cache / "prepared").iterdir():
        entries = json.loads(path.read_text())
        path.write_text(json.dumps({k: "{not json" for k in entries}))
    repo.set_resources(_docs({5: "other\n"}))
    assert _specs(repo)["f5"]["content"] == "other\n"
    repo.set_resources(_docs())
    assert _specs(repo) == expected

    shutil.rmtree(cache / "prepared")
    bad = _docs()
    bad[7]["spec"]["mode"] = "999"  # type: ignore[index]
    repo.set_resources(bad)
    with pytest.raises(InvalidInputError) as caught:
        _specs(repo)
    assert any("spec.mode" in str(d) for d in caught.value.diagnostics)
    assert not (cache / "prepared").exists() or not any((cache / "prepared").iterdir())


def test_worktree_runs_keep_nothing(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    repo.set_resources(_docs())
    repo.write("base/extra.yaml", "")  # uncommitted
    cli("validate", "--env", "dev", "--worktree", repo=repo.path)
    assert not (tmp_path / "cache" / "prepared").exists()
    cli("validate", "--env", "dev", repo=repo.path)
    assert any((tmp_path / "cache" / "prepared").iterdir())
