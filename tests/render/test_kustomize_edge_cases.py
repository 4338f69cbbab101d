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
from dataclasses import dataclass
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
    # A deliberate difference where gitcops renders, but otherwise than kubectl.
    gitcops_renders: list[dict[str, Any]] | None = None


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


K = "kustomization.yaml"
ONE = file_doc("z", "{list: [a, b], m: {x: 1}}")


def patched(
    patch: str, *, target: str = "{name: z}", field_name: str = "patches", resources: str = ONE
) -> dict[str, str]:
    return {
        "r.yaml": resources,
        K: f"resources: [r.yaml]\n{field_name}:\n- target: {target}\n  patch: |\n{indent(patch)}",
    }


def smp(patch: str, *, target: str | None = None, resources: str = ONE) -> dict[str, str]:
    header = f"- target: {target}\n  patch: |\n" if target else "- patch: |\n"
    return {"r.yaml": resources, K: f"resources: [r.yaml]\npatches:\n{header}{indent(patch)}"}


CASES += [
    # --- values ---------------------------------------------------------------------------
    Case(
        "values: whole floats print as integers when they fit 64 bits",
        {
            K: "resources: [r.yaml]\n",
            "r.yaml": file_doc(
                "z",
                "{a: 1e1, b: 1.0, c: 1e20, d: 9223372036854775807.0, e: 1.5, f: -0.0, "
                "g: 1e19, h: [1.0, 2.5], i: !!float 3}",
            ),
        },
        [
            doc(
                "z",
                {
                    "a": 10,
                    "b": 1,
                    "c": 1e20,
                    "d": 9223372036854776000,
                    "e": 1.5,
                    "f": 0,
                    "g": 10**19,
                    "h": [1, 2.5],
                    "i": 3,
                },
            )
        ],
    ),
    Case(
        "values: infinity is refused (JSON has no such number)",
        {K: "resources: [r.yaml]\n", "r.yaml": file_doc("z", "{a: .inf}")},
        None,
        ("r.yaml", (), "is not a number JSON can hold"),
    ),
    Case(
        "values: a JSON 6902 patch sends the whole document through float64",
        patched(
            "- {op: add, path: /spec/x, value: 1}",
            resources=file_doc("z", "{big: 9007199254740993, huge: 18446744073709551615, n: 12}"),
        ),
        [doc("z", {"big": 9007199254740992, "huge": 1.8446744073709552e19, "n": 12, "x": 1})],
    ),
    Case(
        "values: dates are rewritten, except with a time inside {...} or [...] and in JSON 6902",
        {
            "r.yaml": "apiVersion: local.gitcops.io/v1\nkind: File\nmetadata:\n  name: z\n"
            "spec:\n  m:\n    x: 1\n",
            K: "resources: [r.yaml]\npatches:\n- patch: |\n"
            + indent(
                """\
                apiVersion: local.gitcops.io/v1
                kind: File
                metadata: {name: z}
                spec:
                  s1: 2001-12-14t21:59:43.10-05:00
                  s2: 2024-01-01
                  s3: on
                  flow: {f1: 2001-12-14t21:59:43.10-05:00, f2: 2024-1-2}
                  list: [2001-12-14 21:59:43.10, 2001-12-14]
                """
            )
            + "- target: {name: z}\n  patch: |\n"
            + indent(
                "- {op: add, path: /spec/j1, value: 2001-12-14t21:59:43.10-05:00}\n"
                "- {op: add, path: /spec/j2, value: 2024-01-01}\n"
            ),
        },
        [
            doc(
                "z",
                {
                    "list": ["2001-12-14 21:59:43.10", "2001-12-14T00:00:00Z"],
                    "m": {"x": 1},  # a block-style map, unlike the other cases' resource
                    "s1": "2001-12-14T21:59:43.1-05:00",
                    "s2": "2024-01-01T00:00:00Z",
                    "s3": "on",
                    "flow": {"f1": "2001-12-14t21:59:43.10-05:00", "f2": "2024-01-02T00:00:00Z"},
                    "j1": "2001-12-14t21:59:43.10-05:00",
                    "j2": "2024-01-01",
                },
            )
        ],
    ),
    Case(
        "values: JSON 6902 values in YAML are YAML 1.1 (on, y, Off are booleans)",
        patched(
            "- {op: add, path: /spec/a, value: on}\n- {op: add, path: /spec/b, value: y}\n"
            "- {op: add, path: /spec/c, value: Off}\n- {op: add, path: /spec/d, value: 1.0}\n"
            "- {op: add, path: /spec/e, value: [NO, 'on', 0644]}\n"
        ),
        [
            doc(
                "z",
                {
                    "list": ["a", "b"],
                    "m": {"x": 1},
                    "a": True,
                    "b": True,
                    "c": False,
                    "d": 1,
                    "e": [False, "on", 420],
                },
            )
        ],
    ),
    Case(
        "values: numbers in a JSON-text patch",
        patched(
            '[{"op": "add", "path": "/spec/a", "value": 1E2},'
            ' {"op": "add", "path": "/spec/b", "value": -0}]'
        ),
        [doc("z", {"list": ["a", "b"], "m": {"x": 1}, "a": 100, "b": 0})],
    ),
    Case(
        "values: a JSON-text number too large for a float64 is refused",
        patched('[{"op": "add", "path": "/spec/a", "value": 1e400}]'),
        None,
        (K, ("patches", 0, "patch", 0, "value"), "too large for a float64"),
    ),
    # --- nulls in strategic merge patches -------------------------------------------------
    Case(
        "nulls: a patch without a target deletes, and an emptied labels map stays",
        smp(
            file_doc("z", "{gone: null, m: {x: null}}", meta="labels: {k: null, new: null}"),
            resources=file_doc("z", "{gone: 1, m: {x: 1}}", meta="labels: {k: v}"),
        ),
        [doc("z", {"m": {}}, labels={})],
    ),
    Case(
        "nulls: with a target, label and annotation values are written as text",
        smp(
            file_doc(
                "z",
                "{s: 1}",
                meta="labels: {n: 1, t: true, d: 2024-01-01, s: x, f: 1.0}, annotations: {}",
            ),
            target="{kind: File}",
            resources=file_doc("z", meta="annotations: {a: b}"),
        ),
        [
            doc(
                "z",
                {"s": 1},
                annotations={"a": "b"},
                labels={"n": "1", "t": "true", "d": "2024-01-01", "s": "x", "f": "1.0"},
            )
        ],
    ),
    Case(
        "nulls: with a target, a null labels map changes nothing",
        smp(
            file_doc("z", meta="labels: null, annotations: null"),
            target="{kind: File}",
            resources=file_doc("z", meta="labels: {a: b}, annotations: {c: d}"),
        ),
        [doc("z", {}, labels={"a": "b"}, annotations={"c": "d"})],
    ),
    # --- JSON 6902 ------------------------------------------------------------------------
    Case(
        "json6902: replace of a missing member adds it",
        patched("- {op: replace, path: /spec/missing, value: 1}"),
        [doc("z", {"list": ["a", "b"], "m": {"x": 1}, "missing": 1})],
    ),
    Case(
        "json6902: remove of a missing member is refused, by kubectl too",
        patched("- {op: remove, path: /spec/missing}"),
        None,
        (K, ("patches", 0, "patch", 0), "operation 1 (remove '/spec/missing') failed"),
    ),
    Case(
        "json6902: negative and zero-padded indexes, copy from a missing member",
        patched(
            "- {op: add, path: /spec/list/-1, value: x}\n"
            "- {op: replace, path: /spec/list/01, value: w}\n"
            "- {op: copy, from: /spec/missing, path: /spec/c}\n"
            "- {op: remove, path: /spec/list/-1}\n"
            "- {op: test, path: /spec/absent, value: null}\n"
        ),
        [doc("z", {"list": ["a", "w"], "m": {"x": 1}, "c": None})],
    ),
    Case(
        "json6902: a test in YAML compares values (1.0 is 1)",
        patched(
            "- {op: test, path: /spec/n, value: [1.0, 2.5]}",
            resources=file_doc("z", "{n: [1, 2.50]}"),
        ),
        [doc("z", {"n": [1, 2.5]})],
    ),
    Case(
        "json6902: a test in JSON text compares number text ([1] against 1.0 written)",
        patched(
            '[{"op": "test", "path": "/spec/n", "value": [1]}]',
            resources=file_doc("z", "{n: [1.0]}"),
        ),
        [doc("z", {"n": [1]})],
    ),
    Case(
        "json6902: a test in JSON text of [1.0] matches nothing",
        patched(
            '[{"op": "test", "path": "/spec/n", "value": [1.0]}]',
            resources=file_doc("z", "{n: [1]}"),
        ),
        None,
        (K, ("patches", 0, "patch", 0), "operation 1 (test '/spec/n') failed"),
    ),
    Case(
        "json6902: a value added then tested by one JSON-text patch compares as written",
        patched(
            '[{"op": "add", "path": "/spec/c", "value": 1.0},'
            ' {"op": "test", "path": "/spec/c", "value": 1.0}]'
        ),
        [doc("z", {"list": ["a", "b"], "m": {"x": 1}, "c": 1})],
    ),
    Case(
        "json6902: a test of an array holding null crashes kubectl",
        patched(
            "- {op: test, path: /spec/n, value: [1, null]}",
            resources=file_doc("z", "{n: [1, null]}"),
        ),
        None,
        (K, ("patches", 0, "patch", 0), "crashes on a null inside a tested array"),
    ),
    Case(
        "json6902: patchesJson6902 needs a target name",
        patched(
            "- {op: add, path: /spec/x, value: 1}",
            target="{kind: File}",
            field_name="patchesJson6902",
        ),
        None,
        (K, ("patchesJson6902", 0, "target"), "need a target with a name"),
    ),
    # --- targets --------------------------------------------------------------------------
    Case(
        "targets: names are RE2 ([[:alpha:]] is a class)",
        patched(
            "- {op: add, path: /spec/hit, value: true}",
            target="{name: '[[:alpha:]]+'}",
            resources=file_doc("abc") + "---\n" + file_doc("a1"),
        ),
        [doc("a1", {}), doc("abc", {"hit": True})],
    ),
    Case(
        "targets: lookahead is not RE2 and is refused",
        patched("- {op: add, path: /spec/x, value: 1}", target="{name: '(?=z)z'}"),
        None,
        (K, ("patches", 0, "target", "name"), "invalid regular expression"),
    ),
    Case(
        "targets: the pattern is anchored as kustomize anchors it, ^(?:...)$",
        patched(
            "- {op: add, path: /spec/hit, value: true}",
            target="{name: 'a)|(b'}",
            resources=file_doc("ax") + "---\n" + file_doc("xb") + "---\n" + file_doc("xa"),
        ),
        [doc("ax", {"hit": True}), doc("xa", {}), doc("xb", {"hit": True})],
    ),
    # --- the kustomization file is YAML 1.1 -----------------------------------------------
    Case(
        "kustomization: an unquoted yes is a boolean, not a label value",
        {K: "resources: [r.yaml]\ncommonLabels: {managed: yes}\n", "r.yaml": ONE},
        None,
        (K, ("commonLabels", "managed"), "must be a string, not bool True"),
    ),
    Case(
        "kustomization: a null label value is empty, a date stays as written, yes is true",
        {
            K: "resources: [r.yaml]\ncommonLabels: {v: null, d: 2024-01-01}\n"
            "labels: [{pairs: {p: ~}, includeSelectors: yes}]\n",
            "r.yaml": file_doc("z"),
        },
        [doc("z", {}, labels={"p": "", "v": "", "d": "2024-01-01"})],
    ),
]

DELIBERATE = [
    Case(
        "nulls: with a target, a null label value (kubectl writes the string null)",
        smp(
            file_doc("z", meta="labels: {k: null}"),
            target="{name: z}",
            resources=file_doc("z", meta="labels: {k: v}"),
        ),
        [doc("z", {}, labels={"k": "null"})],
        (K, ("patches", 0, "patch", "metadata", "labels", "k"), "null becomes the string"),
        deliberate="with a target, a null label or annotation value is refused",
    ),
    Case(
        "nulls: in patchesStrategicMerge, a null annotation value",
        {
            "r.yaml": file_doc("z"),
            "p.yaml": file_doc("z", meta="annotations: {k: ~}"),
            K: "resources: [r.yaml]\npatchesStrategicMerge: [p.yaml]\n",
        },
        [doc("z", {}, annotations={"k": "~"})],
        ("p.yaml", ("metadata", "annotations", "k"), "null becomes the string"),
        deliberate="with a target, a null label or annotation value is refused",
    ),
]
DELIBERATE += [
    Case(
        "keys: on and 1 in a JSON 6902 value (kubectl makes them the strings true and 1)",
        patched("- {op: add, path: /spec/x, value: {on: 1}}"),
        [doc("z", {"list": ["a", "b"], "m": {"x": 1}, "x": {"true": 1}})],
        (K, ("patches", 0, "patch"), "mapping key 'on' is not a string"),
        deliberate="keys YAML 1.1 reads as booleans or numbers are refused",
    ),
    Case(
        "pointers: a JSON pointer without its leading / (kubectl reads it from the root)",
        patched("- {op: add, path: spec/x, value: 1}"),
        [{**doc("z", {"list": ["a", "b"], "m": {"x": 1}}), "x": 1}],
        (K, ("patches", 0, "patch", 0, "path"), "invalid JSON pointer"),
        deliberate="stricter input",
    ),
    Case(
        "merging over a string: kubectl keeps the string and writes the patch's text",
        smp(
            file_doc("z", "{a: 1e1, b: 1e1}"),
            resources="apiVersion: local.gitcops.io/v1\nkind: File\nmetadata: {name: z}\n"
            "spec:\n  a: 'quoted'\n  b: plain\n",
        ),
        [doc("z", {"a": "1e1", "b": 10})],
        deliberate="merging over a string",
        gitcops_renders=[doc("z", {"a": 10, "b": 10})],
    ),
    Case(
        "dates merged into {...}: kubectl prints a date with a time as written",
        smp(
            "apiVersion: local.gitcops.io/v1\nkind: File\nmetadata: {name: z}\n"
            "spec:\n  t: 2001-12-14t21:59:43.10-05:00\n",
            resources=file_doc("z", "{a: 1}"),
        ),
        [doc("z", {"a": 1, "t": "2001-12-14t21:59:43.10-05:00"})],
        deliberate="dates merged into {...}",
        gitcops_renders=[doc("z", {"a": 1, "t": "2001-12-14T21:59:43.1-05:00"})],
    ),
]
CASES += DELIBERATE


def _tree(files: Mapping[str, str]) -> DictTree:
    return DictTree({path: text.encode() for path, text in files.items()})


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gitcops_renders_what_kubectl_renders(case: Case) -> None:
    if case.gitcops_renders is not None:
        rendered = [d.doc for d in build_kustomization(_tree(case.files), case.build)]
        assert typed(rendered) == typed(case.gitcops_renders)
        assert typed(rendered) != typed(case.expected or [])
        return
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
