"""Read the Project and render one environment's documents from a source tree."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gitcops.model.diagnostics import Diagnostic, Diagnostics
from gitcops.model.errors import InvalidInputError
from gitcops.model.paths import path_problem
from gitcops.model.project import PROJECT_FILE, Environment, Project
from gitcops.source.tree import SourceTree

if TYPE_CHECKING:
    from gitcops.render.docmemo import DocumentMemo
    from gitcops.render.kustomize import RenderedDocument


def read_project_file(tree: SourceTree) -> bytes:
    try:
        return tree.read(PROJECT_FILE)
    except FileNotFoundError:
        raise InvalidInputError(
            [Diagnostic(f"no {PROJECT_FILE} at the repository root", PROJECT_FILE)]
        ) from None


def parse_project(data: bytes) -> Project:
    """The Project of gitcops.yaml's bytes: a function of them alone."""
    from gitcops.render.yamldocs import load_documents  # YAML is only needed on a cache miss

    diags = Diagnostics()
    documents = load_documents(data, PROJECT_FILE, diags)
    diags.raise_if_errors()
    if len(documents) != 1:
        raise InvalidInputError(
            [Diagnostic(f"must hold exactly one document, found {len(documents)}", PROJECT_FILE)]
        )
    return Project.parse(documents[0][1])


def render_environment(
    tree: SourceTree,
    env: Environment,
    diags: Diagnostics | None = None,
    memo: DocumentMemo | None = None,
) -> list[RenderedDocument]:
    """Render one environment. With `diags`, problems are collected there, not raised.
    `memo` holds resource documents parsed before (see render.docmemo)."""
    where = ("spec", "environments", env.name, "path")
    # Project.parse refuses such a path; a Project read back from a cache was not parsed here.
    problem = path_problem(env.path)
    if problem is not None or tree.kind(env.path) != "dir":
        message = problem or f"{env.path!r} is not a directory in the repository"
        raise InvalidInputError(
            [
                Diagnostic(
                    f"environment {env.name}: {message}",
                    PROJECT_FILE,
                    "document 1 (Project)",
                    where,
                )
            ]
        )
    # Imported here: a cached plan never renders, and the overlay engine is costly to import.
    from gitcops.render.kustomize import build_kustomization, render_kustomization

    if diags is None:
        return build_kustomization(tree, env.path)
    return render_kustomization(tree, env.path, diags, memo)
