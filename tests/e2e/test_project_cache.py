"""The Project is cached by gitcops.yaml's content as well as by tree: a commit that changes
only documents does not parse and validate gitcops.yaml again; one that changes it does."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Repo, file_doc

from gitcops.engine.runtime import Runtime
from gitcops.engine.workspace import project_of, tree_at
from gitcops.model.errors import InvalidInputError
from gitcops.model.project import Project


def test_project_cache_by_content(repo: Repo, tmp_path: Path) -> None:
    parsed: list[int] = []

    def project() -> Project:
        with Runtime(cache_dir=tmp_path / "cache") as rt:
            try:
                return project_of(rt, tree_at(rt.source(str(repo.path)), None)[1])
            finally:
                parsed.extend([0] * rt.stats["project files parsed"])

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
