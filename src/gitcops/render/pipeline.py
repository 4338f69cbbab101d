"""Read the Project and render one environment's documents from a source tree."""

from __future__ import annotations

from gitcops.model.diagnostics import Diagnostic, Diagnostics
from gitcops.model.errors import InvalidInputError
from gitcops.model.project import PROJECT_FILE, Environment, Project
from gitcops.render.kustomize import RenderedDocument, build_kustomization
from gitcops.render.yamldocs import load_documents
from gitcops.source.tree import SourceTree


def load_project(tree: SourceTree) -> Project:
    try:
        data = tree.read(PROJECT_FILE)
    except FileNotFoundError:
        raise InvalidInputError(
            [Diagnostic(f"no {PROJECT_FILE} at the repository root", PROJECT_FILE)]
        ) from None
    diags = Diagnostics()
    documents = load_documents(data, PROJECT_FILE, diags)
    diags.raise_if_errors()
    if len(documents) != 1:
        raise InvalidInputError(
            [Diagnostic(f"must hold exactly one document, found {len(documents)}", PROJECT_FILE)]
        )
    return Project.parse(documents[0][1])


def render_environment(tree: SourceTree, env: Environment) -> list[RenderedDocument]:
    where = ("spec", "environments", env.name, "path")
    if tree.kind(env.path) != "dir":
        raise InvalidInputError(
            [
                Diagnostic(
                    f"environment {env.name}: {env.path!r} is not a directory in the repository",
                    PROJECT_FILE,
                    "document 1 (Project)",
                    where,
                )
            ]
        )
    return build_kustomization(tree, env.path)
