"""build_kustomization against the real `kubectl kustomize`, plus bad input and YAML loading.

Conformance cases live in fixtures/conformance/<case>/ (a small repository each); every one
is copied to a temporary directory and rendered by both kubectl and gitcops.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gitcops.model.diagnostics import Diagnostic, Diagnostics
from gitcops.model.errors import InvalidInputError
from gitcops.model.resource import Origin
from gitcops.render.kustomize import RenderedDocument, build_kustomization
from gitcops.render.yamldocs import Yaml11Loader, iter_documents, load_documents
from gitcops.source.tree import DictTree, WorkTree

CONFORMANCE = Path(__file__).parent / "fixtures" / "conformance"

# (fixture directory, kustomization directory inside it)
CASES = [
    ("resources", "base"),
    ("resources", "overlay"),
    ("nested", "mid"),
    ("nested", "top"),
    ("smp-merge", "."),
    ("smp-delete", "overlay"),
    ("json6902", "."),
    ("regex-targets", "."),
    ("selectors", "overlay"),
    ("namespace", "overlay"),
    ("labels-annotations", "overlay"),
    ("deprecated", "overlay"),
    ("transformer-order", "."),
    ("options", "."),
    ("diamond", "all"),
    ("yaml-typing", "."),
    ("core-kinds", "."),
]


def render(root: Path, path: str) -> list[RenderedDocument]:
    return build_kustomization(WorkTree(root), path)


def copy_case(case: str, tmp_path: Path) -> Path:
    root = tmp_path / case
    shutil.copytree(CONFORMANCE / case, root)
    return root


# --- conformance -----------------------------------------------------------------------


@pytest.mark.parametrize(("case", "path"), CASES, ids=[f"{c}/{p}" for c, p in CASES])
def test_renders_like_kubectl(
    case: str,
    path: str,
    tmp_path: Path,
    kubectl_documents: Callable[[Path], list[str]],
    canonical: Callable[[Any], str],
) -> None:
    root = copy_case(case, tmp_path)
    expected = kubectl_documents(root / path)
    rendered = sorted(canonical(doc.doc) for doc in render(root, path))
    assert rendered == expected


def test_every_fixture_is_a_case() -> None:
    on_disk = {entry.name for entry in CONFORMANCE.iterdir() if entry.is_dir()}
    assert on_disk == {case for case, _ in CASES}


def test_fixtures_exercise_what_they_claim(tmp_path: Path) -> None:
    """Guards the fixtures themselves: kubectl agreeing on a no-op would prove nothing."""
    nested = {
        d.doc["metadata"]["name"]: d.doc for d in render(copy_case("nested", tmp_path), "top")
    }
    assert nested["t-m-b-motd-m-t"]["spec"]["content"] == "mid\n"
    assert nested["t-m-b-issue-m-t"]["spec"]["content"] == "top\n"
    assert nested["t-m-b-app-m-t"]["spec"]["mode"] == "0700"
    assert all(doc["spec"]["owner"] == "root" for doc in nested.values())

    names = [
        d.doc["metadata"]["name"] for d in render(copy_case("smp-delete", tmp_path), "overlay")
    ]
    assert names == ["dev-keep", "dev-tweaked"]

    merged = {
        d.doc["metadata"]["name"]: d.doc for d in render(copy_case("smp-merge", tmp_path), ".")
    }
    assert merged["motd"]["spec"]["tags"] == ["z"]
    assert merged["motd"]["spec"]["options"] == {"backup": True, "diff": {"color": True}}
    assert merged["config"]["spec"]["settings"] == {"only": "kept"}
    assert "owner" not in merged["config"]["spec"]


def test_origin_is_where_the_document_was_written(tmp_path: Path) -> None:
    rendered = render(copy_case("resources", tmp_path), "overlay")
    origins = {d.doc["metadata"]["name"]: d.origin for d in rendered}
    # files.yaml opens with an empty document, which still counts.
    assert origins["motd"] == Origin("base/files.yaml", 1)
    assert origins["issue"] == Origin("base/files.yaml", 2)
    assert origins["current"] == Origin("base/dirs.yaml", 1)
    assert origins["cron"] == Origin("base/extra/cron.yaml", 0)
    assert origins["local"] == Origin("overlay/local.yaml", 0)


def test_origin_survives_renames_and_patches(tmp_path: Path) -> None:
    rendered = render(copy_case("nested", tmp_path), "top")
    origins = {d.doc["metadata"]["name"]: d.origin for d in rendered}
    assert origins == {
        "t-m-b-motd-m-t": Origin("base/files.yaml", 0),
        "t-m-b-issue-m-t": Origin("base/files.yaml", 1),
        "t-m-b-app-m-t": Origin("base/files.yaml", 2),
    }


def test_order_is_kubectls_by_kind_then_name(tmp_path: Path) -> None:
    """Written depth first as listed (motd, issue, app, current, cron, logrotate, local);
    printed in kustomize's legacy order, as kubectl prints them."""
    rendered = render(copy_case("resources", tmp_path), "overlay")
    names = [(d.doc["kind"], d.doc["metadata"]["name"]) for d in rendered]
    assert names == [
        ("Directory", "app"),
        ("File", "cron"),
        ("File", "issue"),
        ("File", "local"),
        ("File", "logrotate"),
        ("File", "motd"),
        ("Symlink", "current"),
    ]


def test_disk_and_memory_trees_render_alike(tmp_path: Path) -> None:
    root = copy_case("diamond", tmp_path)
    files = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert build_kustomization(DictTree(files), "all") == render(root, "all")


# --- documents are independent ---------------------------------------------------------

SHARED_VALUES = {
    "base/kustomization.yaml": "resources: [files.yaml]\n",
    "base/files.yaml": """\
        apiVersion: local.gitcops.io/v1
        kind: File
        metadata: {name: a}
        spec: {path: /a}
        ---
        apiVersion: local.gitcops.io/v1
        kind: File
        metadata: {name: b}
        spec: {path: /b}
        """,
    "overlay/kustomization.yaml": """\
        resources: [../base]
        patches:
          - target: {kind: File}
            patch: |
              - {op: add, path: /spec/opts, value: {shared: [1]}}
          - target: {kind: File}
            patch: |
              apiVersion: local.gitcops.io/v1
              kind: File
              metadata: {name: x}
              spec: {more: {deep: {list: [1]}}}
          - target: {name: a}
            patch: |
              - {op: add, path: /spec/opts/onlyA, value: true}
              - {op: add, path: /spec/opts/shared/-, value: 2}
              - {op: add, path: /spec/more/deep/onlyA, value: true}
        """,
}


def _tree(files: Mapping[str, str]) -> DictTree:
    return DictTree({path: textwrap.dedent(text).encode() for path, text in files.items()})


def test_patch_values_are_not_shared_between_targets() -> None:
    a, b = (d.doc for d in build_kustomization(_tree(SHARED_VALUES), "overlay"))
    assert a["spec"]["opts"] == {"shared": [1, 2], "onlyA": True}
    assert b["spec"]["opts"] == {"shared": [1]}
    assert b["spec"]["more"] == {"deep": {"list": [1]}}


def _containers(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [id(value), *(i for item in value.values() for i in _containers(item))]
    if isinstance(value, list):
        return [id(value), *(i for item in value for i in _containers(item))]
    return []


def test_builds_share_nothing_and_mutate_nothing() -> None:
    tree = _tree(SHARED_VALUES)
    first = build_kustomization(tree, "overlay")
    ids = [i for doc in first for i in _containers(doc.doc)]
    assert len(ids) == len(set(ids)), "documents share containers"
    snapshot = [doc.doc.copy() for doc in first]
    first[0].doc["spec"]["opts"]["shared"].append("mutated")
    second = build_kustomization(tree, "overlay")
    assert second[0].doc["spec"]["opts"]["shared"] == [1, 2]
    assert [doc.doc.keys() for doc in second] == [doc.keys() for doc in snapshot]


def test_large_overlay_with_many_patches() -> None:
    count = 2000
    docs = "".join(
        f"---\napiVersion: local.gitcops.io/v1\nkind: File\nmetadata: {{name: f{i}}}\n"
        f"spec: {{path: /f{i}}}\n"
        for i in range(count)
    )
    patches = "".join(
        f"  - patch: |\n      apiVersion: local.gitcops.io/v1\n      kind: File\n"
        f"      metadata: {{name: f{i}}}\n      spec: {{n: {i}}}\n"
        for i in range(0, count, 2)
    )
    tree = DictTree(
        {
            "base/kustomization.yaml": b"resources: [files.yaml]\n",
            "base/files.yaml": docs.encode(),
            "overlay/kustomization.yaml": (
                f"resources: [../base]\nnamePrefix: p-\ncommonLabels: {{a: b}}\npatches:\n{patches}"
            ).encode(),
        }
    )
    rendered = {d.doc["metadata"]["name"]: d.doc for d in build_kustomization(tree, "overlay")}
    assert len(rendered) == count
    assert rendered["p-f10"]["spec"] == {"path": "/f10", "n": 10}
    assert rendered["p-f11"]["spec"] == {"path": "/f11"}
    assert rendered["p-f11"]["metadata"] == {"name": "p-f11", "labels": {"a": "b"}}


# --- bad input -------------------------------------------------------------------------

FILE_A = """\
apiVersion: local.gitcops.io/v1
kind: File
metadata:
  name: motd
spec:
  path: /etc/motd
  content: hello
"""
FILE_B = """\
apiVersion: local.gitcops.io/v1
kind: File
metadata:
  name: issue
spec:
  path: /etc/issue
  content: hi
"""
BASE = {
    "base/kustomization.yaml": "resources: [files.yaml]\n",
    "base/files.yaml": FILE_A + "---\n" + FILE_B,
}
K = "overlay/kustomization.yaml"
DOC1 = "document 1"


def overlay(text: str, **extra: str) -> dict[str, str]:
    return {**BASE, K: text, **extra}


@dataclass(frozen=True)
class Bad:
    id: str
    files: dict[str, str]
    file: str
    document: str | None
    path: tuple[str | int, ...]
    message: str
    build: str = "overlay"
    # True: kubectl rejects it too; False: only gitcops does; None: do not ask kubectl.
    kubectl_rejects: bool | None = True


BAD = [
    Bad(
        "referenced dir without kustomization",
        {"base/files.yaml": FILE_A, K: "resources:\n- ../base\n"},
        K,
        DOC1,
        ("resources", 0),
        "directory base has no kustomization",
    ),
    Bad(
        "resource that does not exist",
        overlay("resources:\n- ../base\n- missing.yaml\n"),
        K,
        DOC1,
        ("resources", 1),
        "'missing.yaml' does not exist",
    ),
    Bad(
        "path escaping the repository",
        overlay("resources:\n- ../../elsewhere\n"),
        K,
        DOC1,
        ("resources", 0),
        "leaves the repository",
    ),
    Bad(
        "absolute path",
        overlay("resources:\n- /etc/hostname\n"),
        K,
        DOC1,
        ("resources", 0),
        "absolute path",
    ),
    Bad(
        "YAML syntax error",
        {
            **BASE,
            "base/files.yaml": FILE_A + "---\n" + FILE_B + "  mode: a: b\n",
            K: "resources: [../base]\n",
        },
        "base/files.yaml",
        "document 2",
        (),
        "invalid YAML at line 16, column 10",
    ),
    Bad(
        "duplicate YAML key",
        {**BASE, "base/files.yaml": FILE_A + "  content: again\n", K: "resources: [../base]\n"},
        "base/files.yaml",
        DOC1,
        (),
        "mapping key 'content' already defined at line 7",
    ),
    Bad(
        "document that is not a mapping",
        {**BASE, "base/files.yaml": FILE_A + "---\n- a\n- b\n", K: "resources: [../base]\n"},
        "base/files.yaml",
        "document 2",
        (),
        "expected a mapping, found a list",
    ),
    Bad(
        "document without kind",
        {
            **BASE,
            "base/files.yaml": FILE_A.replace("kind: File\n", ""),
            K: "resources: [../base]\n",
        },
        "base/files.yaml",
        DOC1,
        ("kind",),
        "kind is missing",
    ),
    Bad(
        "document without metadata.name",
        {
            **BASE,
            "base/files.yaml": FILE_A.replace("name: motd", "labels: {}"),
            K: "resources: [../base]\n",
        },
        "base/files.yaml",
        DOC1,
        ("metadata", "name"),
        "metadata.name is missing",
    ),
    Bad(
        "document without apiVersion",
        {
            **BASE,
            "base/files.yaml": FILE_A.replace("apiVersion: local.gitcops.io/v1\n", ""),
            K: "resources: [../base]\n",
        },
        "base/files.yaml",
        "document 1 (/File/motd)",
        ("apiVersion",),
        "apiVersion is missing",
        kubectl_rejects=False,
    ),
    Bad(
        "field kustomize has but gitcops does not",
        overlay("resources: [../base]\nimages: []\n"),
        K,
        DOC1,
        ("images",),
        "field images is not supported by gitcops",
        kubectl_rejects=False,
    ),
    Bad(
        "misspelt field",
        overlay("resource: [../base]\n"),
        K,
        DOC1,
        ("resource",),
        "field resource is not supported by gitcops",
    ),
    Bad(
        "empty kustomization",
        overlay("# nothing here\n"),
        K,
        None,
        (),
        "the kustomization is empty",
    ),
    Bad(
        "two kustomization files",
        {**BASE, "base/kustomization.yml": "resources: []\n", K: "resources: [../base]\n"},
        K,
        DOC1,
        ("resources", 0),
        "holds more than one of",
    ),
    Bad(
        "kustomization with two documents",
        overlay("resources: [../base]\n---\nnamePrefix: x-\n"),
        K,
        "document 2",
        (),
        "a kustomization file holds one document",
        kubectl_rejects=False,
    ),
    Bad(
        "label value that is not a string",
        overlay("resources: [../base]\ncommonLabels:\n  version: 2\n"),
        K,
        DOC1,
        ("commonLabels", "version"),
        "must be a string",
    ),
    Bad(
        "remote resource",
        overlay("resources:\n- https://github.com/example/repo//deploy?ref=v1\n"),
        K,
        DOC1,
        ("resources", 0),
        "is remote",
        kubectl_rejects=None,
    ),
    Bad(
        "cycle between two kustomizations",
        {
            "a/kustomization.yaml": "resources: [../b]\n",
            "b/kustomization.yaml": "resources:\n- ../a\n",
        },
        "b/kustomization.yaml",
        DOC1,
        ("resources", 0),
        "a cycle (a -> b -> a)",
        build="a",
    ),
    Bad(
        "kustomization including its parent directory",
        overlay("resources: [../base, ..]\n"),
        K,
        DOC1,
        ("resources", 1),
        "a cycle",
    ),
    Bad(
        "the same resource twice",
        overlay("resources: [../base, extra.yaml]\n", **{"overlay/extra.yaml": FILE_A}),
        "overlay/extra.yaml",
        "document 1 (local.gitcops.io/File/motd)",
        ("metadata", "name"),
        "duplicate resource local.gitcops.io/v1 File motd: overlay/kustomization.yaml "
        "accumulates both; it is also defined in base/files.yaml document 1",
    ),
    Bad(
        "two resources with one id after a rename",
        overlay(
            "resources: [../base]\npatches:\n- target: {name: issue}\n  patch: |\n"
            "    - {op: replace, path: /metadata/name, value: motd}\n"
        ),
        "base/files.yaml",
        "document 2 (local.gitcops.io/File/issue)",
        ("metadata", "name"),
        "after the transformations of overlay/kustomization.yaml",
    ),
    Bad(
        "patch target that matches nothing",
        overlay(
            "resources: [../base]\npatches:\n- target: {kind: Directory}\n  patch: |\n"
            "    - {op: add, path: /spec/x, value: 1}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "target"),
        "the target matches no resource",
        kubectl_rejects=False,
    ),
    Bad(
        "target naming an intermediate name",
        {
            **BASE,
            "base/kustomization.yaml": "resources: [files.yaml]\nnamePrefix: b-\n",
            "mid/kustomization.yaml": "resources: [../base]\nnamePrefix: m-\n",
            K: "resources: [../mid]\npatches:\n- target: {name: b-motd}\n  patch: |\n"
            "    - {op: add, path: /spec/x, value: 1}\n",
        },
        K,
        DOC1,
        ("patches", 0, "target"),
        "the target matches no resource",
        kubectl_rejects=False,
    ),
    Bad(
        "target on labels the same kustomization adds later",
        overlay(
            "resources: [../base]\ncommonLabels: {env: prod}\npatches:\n"
            "- target: {labelSelector: env=prod}\n  patch: |\n"
            "    - {op: add, path: /spec/x, value: 1}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "target"),
        "the target matches no resource",
        kubectl_rejects=False,
    ),
    Bad(
        "strategic merge patch that matches nothing",
        overlay(
            "resources: [../base]\npatches:\n- patch: |\n    apiVersion: local.gitcops.io/v1\n"
            "    kind: File\n    metadata: {name: nope}\n    spec: {x: 1}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "patch", "metadata", "name"),
        "no resource matches this patch's id local.gitcops.io/v1 File nope",
    ),
    Bad(
        "strategic merge patch file that matches nothing",
        overlay(
            "resources: [../base]\npatches:\n- path: patch.yaml\n",
            **{
                "overlay/patch.yaml": "apiVersion: local.gitcops.io/v2\nkind: File\n"
                "metadata: {name: motd}\nspec: {x: 1}\n"
            },
        ),
        "overlay/patch.yaml",
        "document 1 (local.gitcops.io/File/motd)",
        ("metadata", "name"),
        "no resource matches this patch's id local.gitcops.io/v2 File motd",
    ),
    Bad(
        "strategic merge patch that matches two resources",
        {
            **BASE,
            "base/kustomization.yaml": "resources: [files.yaml]\nnamePrefix: b-\n",
            K: "resources: [../base, own.yaml]\npatches:\n- patch: |\n"
            "    apiVersion: local.gitcops.io/v1\n    kind: File\n    metadata: {name: motd}\n",
            "overlay/own.yaml": FILE_A,
        },
        K,
        DOC1,
        ("patches", 0, "patch", "metadata", "name"),
        "the patch matches several resources",
    ),
    Bad(
        "patch replacing a scalar by a map",
        overlay(
            "resources: [../base]\npatches:\n- patch: |\n    apiVersion: local.gitcops.io/v1\n"
            "    kind: File\n    metadata: {name: motd}\n    spec: {content: {text: hi}}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "patch", "spec", "content"),
        "the patch has a map where the target has a scalar",
    ),
    Bad(
        "unknown patch strategy",
        overlay(
            "resources: [../base]\npatches:\n- patch: |\n    apiVersion: local.gitcops.io/v1\n"
            "    kind: File\n    metadata: {name: motd}\n    spec: {$patch: overwrite}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "patch", "spec", "$patch"),
        "unknown patch strategy 'overwrite'",
    ),
    Bad(
        "whole-document $patch: replace",
        overlay(
            "resources: [../base]\npatches:\n- patch: |\n    apiVersion: local.gitcops.io/v1\n"
            "    kind: File\n    metadata: {name: motd}\n    $patch: replace\n"
        ),
        K,
        DOC1,
        ("patches", 0, "patch", "$patch"),
        "is not supported (kustomize ignores it)",
        kubectl_rejects=False,
    ),
    Bad(
        "strategic merge patch without metadata.name",
        overlay(
            "resources: [../base]\npatches:\n- target: {name: motd}\n  patch: |\n"
            "    kind: File\n    spec: {x: 1}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "patch"),
        "needs kind and metadata.name",
    ),
    Bad(
        "several documents in a patch with a target",
        overlay(
            "resources: [../base]\npatches:\n- target: {kind: File}\n  patch: |\n"
            "    kind: File\n    metadata: {name: a}\n    ---\n"
            "    kind: File\n    metadata: {name: b}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "target"),
        "a patch with a target holds one document",
    ),
    Bad(
        "empty patch",
        overlay("resources: [../base]\npatches:\n- target: {kind: File}\n  patch: ''\n"),
        K,
        DOC1,
        ("patches", 0, "patch"),
        "the patch is empty",
    ),
    Bad(
        "JSON patch removing a path that does not exist",
        overlay(
            "resources: [../base]\npatches:\n- target: {name: motd}\n  patch: |\n"
            "    - {op: add, path: /spec/ok, value: 1}\n    - {op: remove, path: /spec/nothing}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "patch", 1),
        "operation 2 (remove '/spec/nothing') failed",
    ),
    Bad(
        "JSON patch with an unknown op",
        overlay(
            "resources: [../base]\npatches:\n- target: {name: motd}\n  patch: |\n"
            "    - {op: merge, path: /spec}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "patch", 0, "op"),
        "unknown op 'merge'",
    ),
    Bad(
        "JSON patch op without its value",
        overlay(
            "resources: [../base]\npatches:\n- target: {name: motd}\n  patch: |\n"
            "    - {op: add, path: /spec/x}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "patch", 0),
        "the 'add' operation needs 'value'",
        kubectl_rejects=False,  # kubectl adds null; RFC 6902 requires "value"
    ),
    Bad(
        "JSON patch test that fails",
        overlay(
            "resources: [../base]\npatches:\n- target: {name: motd}\n  path: ops.json\n",
            **{"overlay/ops.json": '[{"op": "test", "path": "/spec/content", "value": "bye"}]'},
        ),
        "overlay/ops.json",
        DOC1,
        (0,),
        "operation 1 (test '/spec/content') failed",
    ),
    Bad(
        "JSON patch without a target",
        overlay(
            "resources: [../base]\npatches:\n- patch: |\n    - {op: add, path: /spec/x, value: 1}\n"
        ),
        K,
        DOC1,
        ("patches", 0),
        "a JSON 6902 patch needs a target",
    ),
    Bad(
        "flow-style YAML list read as JSON",
        overlay(
            "resources: [../base]\npatches:\n- target: {name: motd}\n"
            "  patch: '[{op: add, path: /spec/x, value: 1}]'\n"
        ),
        K,
        DOC1,
        ("patches", 0, "patch"),
        "a patch starting with '[' is read as JSON",
    ),
    Bad(
        "invalid regular expression in a target",
        overlay(
            "resources: [../base]\npatches:\n- target: {name: '(motd'}\n  patch: |\n"
            "    - {op: add, path: /spec/x, value: 1}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "target", "name"),
        "invalid regular expression",
    ),
    Bad(
        "invalid label selector",
        overlay(
            "resources: [../base]\npatches:\n- target: {labelSelector: 'tier in (web'}\n"
            "  patch: |\n    - {op: add, path: /spec/x, value: 1}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "target", "labelSelector"),
        "invalid selector 'tier in (web'",
    ),
    Bad(
        "unknown patch option",
        overlay(
            "resources: [../base]\npatches:\n- target: {name: motd}\n  options: {force: true}\n"
            "  patch: |\n    - {op: add, path: /spec/x, value: 1}\n"
        ),
        K,
        DOC1,
        ("patches", 0, "options", "force"),
        "field force is not supported by gitcops",
        kubectl_rejects=False,
    ),
    Bad(
        "patch file outside the kustomization directory",
        overlay(
            "resources: [../base]\npatches:\n- path: ../shared/patch.yaml\n",
            **{"shared/patch.yaml": "kind: File\nmetadata: {name: motd}\n"},
        ),
        K,
        DOC1,
        ("patches", 0, "path"),
        "kustomize only loads files in or below",
    ),
    Bad(
        "resource file outside the kustomization directory",
        overlay("resources: [../base/files.yaml]\n"),
        K,
        DOC1,
        ("resources", 0),
        "kustomize only loads files in or below",
    ),
    Bad(
        "patchesJson6902 given a strategic merge patch",
        overlay(
            "resources: [../base]\npatchesJson6902:\n- target: {name: motd}\n  patch: |\n"
            "    kind: File\n    metadata: {name: motd}\n"
        ),
        K,
        DOC1,
        ("patchesJson6902", 0, "patch"),
        "takes a list of JSON 6902 operations",
    ),
]


def _expect_invalid(files: Mapping[str, str], build: str) -> list[Diagnostic]:
    with pytest.raises(InvalidInputError) as caught:
        build_kustomization(_tree(files), build)
    return caught.value.diagnostics


@pytest.mark.parametrize("case", BAD, ids=[case.id for case in BAD])
def test_bad_input_is_reported_with_file_document_and_field(case: Bad) -> None:
    diagnostics = _expect_invalid(case.files, case.build)
    assert all(isinstance(d, Diagnostic) and d.file for d in diagnostics)
    located = [
        d
        for d in diagnostics
        if (d.file, d.document, d.path) == (case.file, case.document, case.path)
    ]
    assert located, f"nothing at {case.file} / {case.document} / {case.path}: {diagnostics}"
    assert any(case.message in d.message for d in located), located


@pytest.mark.parametrize(
    "case", [c for c in BAD if c.kubectl_rejects is not None], ids=lambda c: c.id
)
def test_kubectl_agrees_about_bad_input(
    case: Bad,
    write_tree: Callable[[Mapping[str, str]], Path],
    run_kubectl: Callable[[Path], subprocess.CompletedProcess[str]],
) -> None:
    """kubectl rejects the same input, or accepts it where gitcops is deliberately stricter."""
    root = write_tree(case.files)
    result = run_kubectl(root / case.build)
    assert (result.returncode != 0) == case.kubectl_rejects, result.stderr[-1500:]


def test_all_problems_are_reported_at_once() -> None:
    files = {
        **BASE,
        "base/files.yaml": FILE_A.replace("kind: File\n", "") + "---\n" + FILE_B,
        K: (
            "resources: [../base, missing.yaml]\nimages: []\ncommonLabels: {num: 1}\n"
            "patches:\n- target: {name: issue}\n  patch: |\n    - {op: bogus, path: /x}\n"
        ),
        "other/kustomization.yaml": "resources: [../nowhere]\n",
        "top/kustomization.yaml": "resources: [../overlay, ../other]\n",
    }
    found = {(d.file, d.path) for d in _expect_invalid(files, "top")}
    assert found >= {
        ("base/files.yaml", ("kind",)),
        (K, ("resources", 1)),
        (K, ("images",)),
        (K, ("commonLabels", "num")),
        (K, ("patches", 0, "patch", 0, "op")),
        ("other/kustomization.yaml", ("resources", 0)),
    }


def test_a_failed_base_does_not_cascade_into_its_overlay() -> None:
    """Patches are not tried against a base that failed, so no 'matches nothing' noise."""
    files = overlay(
        "resources: [../base]\npatches:\n- target: {name: motd}\n  patch: |\n"
        "    - {op: add, path: /spec/x, value: 1}\n"
    )
    files["base/files.yaml"] = FILE_A.replace("kind: File\n", "")
    diagnostics = _expect_invalid(files, "overlay")
    assert [(d.file, d.path) for d in diagnostics] == [("base/files.yaml", ("kind",))]


def test_root_must_be_a_kustomization_directory() -> None:
    diagnostics = _expect_invalid(BASE, "nowhere")
    assert diagnostics[0].file == "nowhere"
    diagnostics = _expect_invalid({"a/x.yaml": FILE_A}, "a")
    assert "has no kustomization" in diagnostics[0].message
    diagnostics = _expect_invalid(BASE, "../up")
    assert "leaves the repository" in diagnostics[0].message


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "real.yaml").write_text(FILE_A)
    (tmp_path / "base" / "link.yaml").symlink_to("real.yaml")
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [link.yaml]\n")
    with pytest.raises(InvalidInputError) as caught:
        build_kustomization(WorkTree(tmp_path), "base")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.file, diagnostic.path) == ("base/kustomization.yaml", ("resources", 0))
    assert "symlink" in diagnostic.message


# --- YAML loading ----------------------------------------------------------------------


def test_documents_keep_their_position_and_skip_empty_ones() -> None:
    diags = Diagnostics()
    data = b"# comment\n---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n---\n"
    assert load_documents(data, "f.yaml", diags) == [(1, {"a": 1}), (3, {"b": 2})]
    assert not diags


@pytest.mark.parametrize(
    ("data", "document", "message"),
    [
        (b"a: 1\n---\n- x\n", "document 2", "expected a mapping, found a list"),
        (b"just text\n", "document 1", "expected a mapping, found a string"),
        (b"a: 1\n---\nb: [1,\n", "document 2", "invalid YAML at line 4, column 1"),
        (b"a:\n  b: 1\n  b: 2\n", "document 1", "mapping key 'b' already defined at line 2"),
        (b"a:\n  1: x\n", "document 1", "mapping key '1' is not a string"),
        (b"a: \xff\n", "document 1", "the file must be UTF-8 text"),
    ],
)
def test_unreadable_documents_are_diagnostics(data: bytes, document: str, message: str) -> None:
    diags = Diagnostics()
    load_documents(data, "dir/f.yaml", diags)
    (diagnostic,) = diags.items
    assert (diagnostic.file, diagnostic.document) == ("dir/f.yaml", document)
    assert message in diagnostic.message


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", "yes"),
        ("on", "on"),
        ("True", True),
        ("FALSE", False),
        ("~", None),
        ("", None),
        ("0644", 420),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", 5),
        ("-0x10", -16),
        ("1_000", 1000),
        ("09", 9),  # a float for go-yaml, whole, so kubectl prints 9
        ("1e3", 1000),
        ("1.5e3", 1500),
        ("-0.0", 0),
        ("1e19", 10**19),
        ("9223372036854775807.0", 9223372036854776000),  # the float's shortest digits
        ("1e20", 1e20),  # beyond 64 bits: stays a float
        ("1.25", 1.25),
        (".5", 0.5),
        ("+1.5", 1.5),
        ("1:20", "1:20"),
        ("2024-01-01", "2024-01-01T00:00:00Z"),
        ("2024-1-2", "2024-01-02T00:00:00Z"),
        ("2001-12-14t21:59:43.10-05:00", "2001-12-14T21:59:43.1-05:00"),
        ("2001-12-14T21:59:43+00:00", "2001-12-14T21:59:43Z"),
        ("2001-12-14 21:59:43.10", "2001-12-14T21:59:43.1Z"),
        ("2024-13-01", "2024-13-01"),
        ("123456789012345678901", 1.2345678901234568e20),
        ("!!str 12", "12"),
        ("!!float 3", 3),
        ("!custom 5", "5"),
        ("!!binary aGVsbG8=", "hello"),
        ("'0644'", "0644"),
    ],
)
def test_scalars_are_typed_like_go_yaml(text: str, value: Any) -> None:
    """go-yaml v3's types, then the JSON round trip kustomize prints after (whole floats)."""
    ((_, doc),) = iter_documents(f"v: {text}\n")
    assert doc["v"] == value
    assert type(doc["v"]) is type(value)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", True),
        ("Off", False),
        ("y", True),
        ("N", False),
        ("true", True),
        ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
        ("2024-01-01", "2024-01-01"),
        ("!!timestamp 2024-01-01", "2024-01-01"),
        ("1e1", 10),
        ("0644", 420),
        ("yES", "yES"),
        ("1:20", "1:20"),
    ],
)
def test_yaml11_scalars_are_typed_like_go_yaml_v2(text: str, value: Any) -> None:
    ((_, doc),) = iter_documents(f"v: {text}\n", Yaml11Loader)
    assert doc["v"] == value
    assert type(doc["v"]) is type(value)


@pytest.mark.parametrize("text", [".inf", "-.Inf", ".nan", "!!float .NaN"])
def test_numbers_json_cannot_hold_are_refused(text: str) -> None:
    diags = Diagnostics()
    load_documents(f"a: 1\nv: {text}\n".encode(), "f.yaml", diags)
    (diagnostic,) = diags.items
    assert "invalid YAML at line 2" in diagnostic.message
    assert "is not a number JSON can hold; kustomize refuses it" in diagnostic.message


def test_merge_keys_and_anchors() -> None:
    ((_, doc),) = iter_documents("d: &d {a: 1, b: [2]}\nm:\n  <<: *d\n  a: 3\nalias: *d\n")
    assert doc == {"d": {"a": 1, "b": [2]}, "m": {"a": 3, "b": [2]}, "alias": {"a": 1, "b": [2]}}
    # PyYAML would hand out one object for all three; documents must not share any.
    assert doc["alias"] is not doc["d"]
    assert doc["m"]["b"] is not doc["d"]["b"]


def test_self_referencing_alias_is_a_diagnostic() -> None:
    diags = Diagnostics()
    load_documents(b"a: &x\n  b: *x\n", "f.yaml", diags)
    (diagnostic,) = diags.items
    assert "alias refers to itself" in diagnostic.message
