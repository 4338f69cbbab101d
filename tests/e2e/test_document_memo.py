"""Parsed documents are remembered by their text: a commit that edits one document of a large
file parses that one document, and plans, renders and errors are the same as without a memo."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import Cli, Repo, desired_of, dump, file_doc

DOCS = 60


def _docs(changed: dict[int, str] | None = None) -> list[dict[str, object]]:
    changed = changed or {}
    return [
        file_doc(f"f{i}", f"files/f{i}.txt", changed.get(i, f"content {i}\n")) for i in range(DOCS)
    ]


def test_an_edit_parses_only_the_edited_document(repo: Repo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"

    def contents() -> tuple[dict[str, object], int]:
        specs, stats = desired_of(repo, cache)
        return {name: spec["content"] for name, spec in specs.items()}, stats["documents parsed"]

    repo.set_resources(_docs())
    first, parsed = contents()
    assert parsed == DOCS
    assert first["f7"] == "content 7\n"

    repo.set_resources(_docs({7: "edited\n"}))
    second, parsed = contents()
    assert second["f7"] == "edited\n"
    assert {k: v for k, v in second.items() if k != "f7"} == {
        k: v for k, v in first.items() if k != "f7"
    }
    assert parsed == 1

    repo.set_resources(_docs({7: "edited\n", 8: "also\n"}))
    third, parsed = contents()
    assert third["f8"] == "also\n"
    assert parsed == 1  # f7's new text was remembered


def test_plans_and_errors_are_the_same_with_and_without_the_memo(
    cli: Cli, repo: Repo, tmp_path: Path
) -> None:
    repo.set_resources(_docs())
    cli("apply", "--env", "dev", "--yes", repo=repo.path)
    repo.set_resources(_docs({3: "three\n"}))
    warm = cli("plan", "--env", "dev", "-o", "json", repo=repo.path, expect=None)
    changes = [c for c in json.loads(warm.stdout)["changes"] if c["action"] != "no-op"]
    assert [(c["id"], c["action"]) for c in changes] == [("local.gitcops.io/File/f3", "update")]

    # A syntax error in the 5th document: the same message, line and document as a cold run.
    text = dump(_docs({3: "three\n"}))
    pieces = text.split("\n---\n")
    assert "name: f4\n" in pieces[4]
    pieces[4] = pieces[4].replace("name: f4\n", "name: [f4\n")
    repo.write("base/resources.yaml", "\n---\n".join(pieces))
    repo.commit("broken")
    warm_error = cli("validate", "--env", "dev", repo=repo.path, expect=1)
    shutil.rmtree(tmp_path / "cache")
    cold_error = cli("validate", "--env", "dev", repo=repo.path, expect=1)
    assert warm_error.stderr == cold_error.stderr
    assert not (tmp_path / "cache" / "documents").exists()  # invalid input writes no cache
    assert "document 5" in cold_error.stderr
    assert "line" in cold_error.stderr


def test_a_damaged_memo_is_ignored(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    repo.set_resources(_docs())
    cli("plan", "--env", "dev", repo=repo.path, expect=None)
    memos = list((tmp_path / "cache" / "documents").glob("*.json"))
    assert len(memos) == 1
    for n, damage in enumerate((b"\x00garbage", b"[1, 2]", json.dumps({"ab": 1}).encode())):
        memos[0].write_bytes(damage)
        repo.set_resources(_docs({1: f"after damage {n}"}))
        out = cli("render", "--env", "dev", repo=repo.path)
        assert f"content: after damage {n}\n" in out.stdout
        assert out.stdout.count("kind: File") == DOCS


def test_uncommitted_files_never_reach_the_memo(cli: Cli, repo: Repo, tmp_path: Path) -> None:
    """--worktree reads files Git has not seen (perhaps a secret being tried out): like the
    render cache, the memo keeps nothing of them."""
    repo.write("base/resources.yaml", dump(_docs({2: "uncommitted draft"})))
    cli("plan", "--env", "dev", "--worktree", repo=repo.path, expect=None)
    memos = tmp_path / "cache" / "documents"
    held = [p for p in memos.glob("*.json") if "uncommitted draft" in p.read_text()]
    assert held == []
