"""Edge cases where gitcops once rendered differently from `kubectl kustomize` (issue 11).

Each case states what kubectl v5.5 prints, value for value and in its order, or that it
refuses the input. The same table runs against gitcops and, where it is installed, against
kubectl itself, so an expectation cannot drift from kustomize's real behaviour unnoticed.
Documented deliberate differences (docs/kustomize.md) have their own cases at the end, with
kubectl's contrary answer checked the same way.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitcops.model.errors import InvalidInputError
from gitcops.render.kustomize import build_kustomization
from gitcops.render.yamldocs import iter_documents
from gitcops.source.tree import DictTree


def file_doc(
    name: str,
    spec: str = "{}",
    *,
    meta: str = "",
    api: str = "local.gitcops.io/v1",
    kind: str = "File",
) -> str:
    extra = f", {meta}" if meta else ""
    return f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}{extra}}}\nspec: {spec}\n"


def doc(
    name: str,
    spec: Any = None,
    *,
    api: str = "local.gitcops.io/v1",
    kind: str = "File",
    **metadata: Any,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "apiVersion": api,
        "kind": kind,
        "metadata": {"name": name, **metadata},
    }
    if spec is not None:
        result["spec"] = spec
    return result


def indent(text: str, by: int = 4) -> str:
    return textwrap.indent(textwrap.dedent(text), " " * by)


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]
    # The documents kubectl prints, in its order; None when it refuses the input.
    expected: list[dict[str, Any]] | None
    # When gitcops refuses: where (file, field path) and what it says.
    refusal: tuple[str, tuple[str | int, ...], str] | None = None
    build: str = "."
    # None: gitcops renders `expected` too. Otherwise a documented deliberate difference:
    # gitcops refuses what kubectl renders as `expected`.
    deliberate: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def typed(docs: list[dict[str, Any]]) -> list[str]:
    """Documents as comparable text that tells 1 from 1.0 and True, and keeps their order."""
    return [json.dumps(d, sort_keys=True) for d in docs]


CASES: list[Case] = [
    Case(
        "order: legacy kind order, then group_version_kind, then namespace|name",
        {
            "kustomization.yaml": "resources: [r.yaml]\n",
            "r.yaml": "---\n".join(
                [
                    file_doc("z"),
                    file_doc("a", meta="namespace: ns"),
                    file_doc("b"),
                    file_doc("y", kind="Directory"),
                    file_doc("c", api="v1", kind="ConfigMap").replace("spec: {}\n", ""),
                    file_doc("q", api="a.gitcops.io/v1"),
                    file_doc("c", meta="namespace: default"),
                    file_doc("n", api="v1", kind="Namespace").replace("spec: {}\n", ""),
                    file_doc("w", kind="ValidatingWebhookConfiguration"),
                    file_doc("a-x", meta="namespace: a"),
                    file_doc("b", meta="namespace: a-x"),
                ]
            ),
        },
        [
            doc("n", api="v1", kind="Namespace"),
            doc("c", api="v1", kind="ConfigMap"),
            doc("q", {}, api="a.gitcops.io/v1"),
            doc("y", {}, kind="Directory"),
            # "a-x|b" < "a|a-x": the joined text is compared, not (namespace, name)
            doc("b", {}, namespace="a-x"),
            doc("a-x", {}, namespace="a"),
            doc("c", {}, namespace="default"),
            doc("a", {}, namespace="ns"),
            doc("b", {}),  # no namespace sorts as "~X", after every namespace
            doc("z", {}),
            doc("w", {}, kind="ValidatingWebhookConfiguration"),
        ],
    ),
    Case(
        "order: only the final set is sorted, after every transformer",
        {
            "base/kustomization.yaml": "resources: [r.yaml]\nnamePrefix: z-\n",
            "base/r.yaml": file_doc("a") + "---\n" + file_doc("b"),
            "kustomization.yaml": "resources: [base, own.yaml]\nnameSuffix: -s\n",
            "own.yaml": file_doc("m"),
        },
        [doc("m-s", {}), doc("z-a-s", {}), doc("z-b-s", {})],
    ),
]


def _tree(files: Mapping[str, str]) -> DictTree:
    return DictTree({path: text.encode() for path, text in files.items()})


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gitcops_renders_what_kubectl_renders(case: Case) -> None:
    if case.deliberate is not None or case.expected is None:
        with pytest.raises(InvalidInputError) as caught:
            build_kustomization(_tree(case.files), case.build)
        assert case.refusal is not None, caught.value.diagnostics
        file, path, message = case.refusal
        located = [d for d in caught.value.diagnostics if (d.file, d.path) == (file, path)]
        assert located, caught.value.diagnostics
        assert any(message in d.message for d in located), located
        return
    rendered = [d.doc for d in build_kustomization(_tree(case.files), case.build)]
    assert typed(rendered) == typed(case.expected)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kubectl_renders_the_expectation(
    case: Case,
    write_tree: Callable[[Mapping[str, str]], Path],
    run_kubectl: Callable[[Path], subprocess.CompletedProcess[str]],
) -> None:
    result = run_kubectl(write_tree(case.files) / case.build)
    if case.expected is None:
        assert result.returncode != 0, result.stdout
        return
    assert result.returncode == 0, result.stderr[-1500:]
    printed = [d for _, d in iter_documents(result.stdout)]
    assert typed(printed) == typed(case.expected)
