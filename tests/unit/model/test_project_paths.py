"""An environment's path must name a directory inside the repository: checked with the Project."""

from __future__ import annotations

from typing import Any

import pytest

from gitcops.model.errors import InvalidInputError
from gitcops.model.project import DriftMode, Environment, Project
from gitcops.render.pipeline import render_environment
from gitcops.source.tree import DictTree


def _project(*paths: str) -> dict[str, Any]:
    return {
        "apiVersion": "gitcops.io/v1",
        "kind": "Project",
        "metadata": {"name": "demo"},
        "spec": {
            "environments": [{"name": f"e{i}", "path": p} for i, p in enumerate(paths)],
            "providers": {"local": {"root": "/tmp/x"}},
        },
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../../../../etc", "'../../../../etc' leaves the repository"),
        ("environments/../..", "'environments/../..' leaves the repository"),
        ("..\\..\\etc", "leaves the repository"),
        ("/etc", "'/etc' is absolute"),
        ("\\etc", "is absolute"),
        ("C:/etc", "'C:/etc' is absolute"),
    ],
)
def test_a_path_leaving_the_repository_is_refused(path: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        Project.parse(_project("environments/dev", path, "../up"))
    found = [(d.file, d.document, d.path) for d in caught.value.diagnostics]
    assert found == [
        ("gitcops.yaml", "document 1 (Project)", ("spec", "environments", 1, "path")),
        ("gitcops.yaml", "document 1 (Project)", ("spec", "environments", 2, "path")),
    ]
    assert message in caught.value.diagnostics[0].message


@pytest.mark.parametrize("path", [".", "environments/dev", "./environments//dev/", "a/../b"])
def test_paths_inside_the_repository_are_fine(path: str) -> None:
    assert Project.parse(_project(path)).spec.environments[0].path == path


def test_rendering_an_environment_that_leaves_the_repository_is_a_diagnostic() -> None:
    """A Project built from a trusted document (a cache written by an older gitcops)."""
    env = Environment("dev", "../outside", {}, DriftMode.DETECT)
    with pytest.raises(InvalidInputError) as caught:
        render_environment(DictTree({"gitcops.yaml": b""}), env)
    assert "'../outside' leaves the repository" in str(caught.value)
    assert caught.value.diagnostics[0].file == "gitcops.yaml"
