"""The Project is cached by gitcops.yaml's content as well as by tree: a commit that changes
only documents does not parse and validate gitcops.yaml again; one that changes it does."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Repo, file_doc

from gitcops.engine import cache
from gitcops.engine.workspace import open_source, project_of, tree_at
from gitcops.model.errors import InvalidInputError
from gitcops.model.project import Project


def test_project_cache_by_content(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITCOPS_CACHE_DIR", str(tmp_path / "cache"))
    parsed: list[bytes] = []
    original = cache.parse_project

    def spy(data: bytes) -> Project:
        parsed.append(data)
        return original(data)

    monkeypatch.setattr(cache, "parse_project", spy)

    def project() -> Project:
        return project_of(tree_at(open_source(str(repo.path)), None)[1])

    first = project()
    assert len(parsed) == 1
    repo.set_resources([file_doc("motd", "etc/motd", "changed\n")])
    assert project() == first
    assert len(parsed) == 1  # a new tree, the same gitcops.yaml

    text = (repo.path / "gitcops.yaml").read_text()
    repo.write("gitcops.yaml", text.replace("name: shop", "name: shop2"))
    repo.commit("rename")
    assert project().name == "shop2"
    assert len(parsed) == 2

    repo.write("gitcops.yaml", text.replace("drift: heal", "drift: sometimes"))
    repo.commit("invalid")
    with pytest.raises(InvalidInputError):
        project()
    with pytest.raises(InvalidInputError):  # a failed parse is not cached
        project()
    assert len(parsed) == 4
