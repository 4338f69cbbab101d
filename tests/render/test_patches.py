"""Patch semantics: property tests against RFC 7386, the shared RFC vectors, selectors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitcops.render.patches import (
    PatchError,
    apply_json_patch,
    compile_selector,
    merge_patch,
    parse_json_patch,
    parse_label_selector,
    strategic_merge,
)

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors"


def same(a: Any, b: Any) -> bool:
    """JSON equality: unlike ==, True is not 1."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# --- RFC 7386 reference and kustomize's one deviation ----------------------------------


def rfc7386(target: Any, patch: Any) -> Any:
    """MergePatch from RFC 7396 section 2, transcribed literally (it mutates a copy)."""
    if isinstance(patch, dict):
        if not isinstance(target, dict):
            target = {}
        for name, value in patch.items():
            if value is None:
                target.pop(name, None)
            else:
                target[name] = rfc7386(target.get(name), value)
        return target
    return patch


def shape(value: Any) -> str:
    return "map" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


def kind_conflict(target: dict[str, Any], patch: dict[str, Any]) -> bool:
    """Where kustomize refuses to merge: a non-null value of another shape is in the way."""
    for name, value in patch.items():
        current = target.get(name)
        if value is None or current is None:
            continue  # deleting, or merging into nothing, never conflicts
        if shape(current) != shape(value):
            return True
        if isinstance(value, dict) and kind_conflict(current, value):
            return True
    return False


keys = st.sampled_from(["a", "b", "c", "d"])
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(["", "x", "y"])
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=4),
    max_leaves=16,
)
documents = st.dictionaries(keys, values, max_size=4)


@settings(max_examples=500)
@given(target=documents, patch=documents)
def test_strategic_merge_is_rfc7386_unless_kinds_conflict(
    target: dict[str, Any], patch: dict[str, Any]
) -> None:
    before = copy.deepcopy((target, patch))
    if kind_conflict(target, patch):
        with pytest.raises(PatchError):
            strategic_merge(target, patch)
    else:
        assert same(strategic_merge(target, patch), rfc7386(copy.deepcopy(target), patch))
    assert same((target, patch), before), "inputs were modified"


@settings(max_examples=300)
@given(target=values, patch=values)
def test_merge_patch_is_rfc7386(target: Any, patch: Any) -> None:
    before = copy.deepcopy((target, patch))
    assert same(merge_patch(target, patch), rfc7386(copy.deepcopy(target), patch))
    assert same((target, patch), before)


@settings(max_examples=300)
@given(source=documents, goal=documents)
def test_json_patch_reaches_the_document_it_was_made_for(source: Any, goal: Any) -> None:
    ops = jsonpatch.make_patch(source, goal).patch
    before = copy.deepcopy(source)
    assert same(apply_json_patch(source, parse_json_patch(ops)), goal)
    assert same(source, before)


# --- shared vectors --------------------------------------------------------------------


def _vector_file(relative: str) -> Any:
    path = VECTORS / relative
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _absent(relative: str) -> list[Any]:
    reason = f"the shared vectors are absent ({VECTORS / relative} not found)"
    return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]


def merge_vectors() -> list[Any]:
    params = []
    flat = _vector_file("json-merge-patch/rfc7386-appendix-a.json")
    nested = _vector_file("json-merge-patch/rfc7396-test-cases.json")
    if flat is None or nested is None:
        return _absent("json-merge-patch")
    for index, case in enumerate(flat):
        params.append(pytest.param(case, id=f"rfc7386-appendix-a-{index}"))
    for index, group in enumerate(nested):
        for number, case in enumerate(group["cases"]):
            vector = {"target": group["given"], "patch": case["patch"], "expected": case["result"]}
            params.append(pytest.param(vector, id=f"rfc7396-{index}-{number}"))
    return params


@pytest.mark.parametrize("vector", merge_vectors())
def test_merge_patch_vectors(vector: dict[str, Any]) -> None:
    target, patch, expected = vector["target"], vector["patch"], vector["expected"]
    assert same(merge_patch(target, patch), expected)
    if isinstance(target, dict) and isinstance(patch, dict):
        if kind_conflict(target, patch):
            with pytest.raises(PatchError):
                strategic_merge(target, patch)
        else:
            assert same(strategic_merge(target, patch), expected)


def json_patch_vectors() -> list[Any]:
    params = []
    for name in ("tests.json", "spec_tests.json"):
        records = _vector_file(f"json-patch/{name}")
        if records is None:
            return _absent("json-patch")
        for index, record in enumerate(records):
            if "doc" not in record:
                continue  # a comment-only record
            label = f"{name}-{index}: {record.get('comment', '')}"[:90]
            marks = [pytest.mark.skip(reason="disabled upstream")] if record.get("disabled") else []
            params.append(pytest.param(record, id=label, marks=marks))
    return params


# Where kustomize's json-patch (evanphx/json-patch v5) departs from RFC 6902, with what
# it does instead; tests/render/test_kustomize_edge_cases.py checks each against kubectl.
KUSTOMIZE_DEPARTS: dict[str, Any] = {
    # a negative index counts from the end
    "tests.json-19": {"bar": [1, 2, "5"]},
    # an empty last token reads the container itself, so "/" is the whole document
    "tests.json-57": "error",
    "tests.json-58": "error",
    # a missing "from" copies as null
    "tests.json-82": {"foo": None},
    # indexes are read by strconv.Atoi: leading zeros are allowed
    "tests.json-87": ["foo", "bar"],
    "tests.json-88": ["foo", "bar"],
}


@pytest.mark.parametrize("record", json_patch_vectors())
def test_json_patch_vectors(record: dict[str, Any], request: pytest.FixtureRequest) -> None:
    before = copy.deepcopy(record["doc"])
    vector = request.node.callspec.id.split(":")[0]
    if vector in KUSTOMIZE_DEPARTS:
        expected = KUSTOMIZE_DEPARTS[vector]
        record = {key: value for key, value in record.items() if key not in ("error", "expected")}
        record["error" if expected == "error" else "expected"] = expected
    if "error" in record:
        with pytest.raises(PatchError):
            apply_json_patch(record["doc"], parse_json_patch(record["patch"]))
    else:
        result = apply_json_patch(record["doc"], parse_json_patch(record["patch"]))
        assert same(result, record.get("expected", record["doc"]))
    assert same(record["doc"], before)


# --- strategic merge directives (each checked with kubectl kustomize v5.5) ------------

TARGET: dict[str, Any] = {
    "s": "scalar",
    "l": [1, 2],
    "m": {"k": "v", "z": {"q": 1, "r": 2}},
    "n": None,
}


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"m": {"$patch": "delete"}}, {"s": "scalar", "l": [1, 2], "n": None}),
        ({"m": {"z": {"$patch": "delete", "q": 5}}}, {**TARGET, "m": {"k": "v"}}),
        ({"x": {"$patch": "delete"}}, TARGET),
        ({"n": {"$patch": "delete"}}, {"s": "scalar", "l": [1, 2], "m": TARGET["m"]}),
        (
            {"m": {"$patch": "replace", "x": None, "y": {"z": None}, "w": {"$patch": "delete"}}},
            {**TARGET, "m": {"y": {}}},
        ),
        ({"m": {"z": {"$patch": "replace"}}}, {**TARGET, "m": {"k": "v", "z": {}}}),
        ({"x": {"$patch": "replace", "a": None, "b": 1}}, {**TARGET, "x": {"b": 1}}),
        ({"m": {"$patch": "merge", "k": "w"}}, {**TARGET, "m": {"k": "w", "z": {"q": 1, "r": 2}}}),
        # Lists are replaced as written, nulls and directive-like keys included.
        (
            {"l": [{"name": "a", "$patch": "delete"}, None]},
            {**TARGET, "l": [{"name": "a", "$patch": "delete"}, None]},
        ),
        # Other $-keys are ordinary keys for a kind without a schema.
        ({"m": {"$retainKeys": ["k"]}}, {**TARGET, "m": {**TARGET["m"], "$retainKeys": ["k"]}}),
        ({"n": {"a": 1, "b": None}}, {**TARGET, "n": {"a": 1}}),
        ({"s": None, "absent": None}, {"l": [1, 2], "m": TARGET["m"], "n": None}),
    ],
)
def test_directives(patch: dict[str, Any], expected: dict[str, Any]) -> None:
    assert same(strategic_merge(copy.deepcopy(TARGET), patch), expected)


def test_whole_document_directives() -> None:
    assert strategic_merge(copy.deepcopy(TARGET), {"$patch": "delete", "s": 1}) is None
    with pytest.raises(PatchError) as caught:
        strategic_merge(copy.deepcopy(TARGET), {"$patch": "replace"})
    assert caught.value.path == ("$patch",)


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"s": {"now": "map"}}, ("s",)),
        ({"s": [1]}, ("s",)),
        ({"l": {"a": 1}}, ("l",)),
        ({"l": "scalar"}, ("l",)),
        ({"m": [1]}, ("m",)),
        ({"m": {"k": {}}}, ("m", "k")),
        ({"m": {"z": {"q": {"$patch": "delete"}}}}, ("m", "z", "q")),
        ({"m": {"$patch": "bogus"}}, ("m", "$patch")),
    ],
)
def test_refused_patches_name_the_field(patch: dict[str, Any], path: tuple[str, ...]) -> None:
    with pytest.raises(PatchError) as caught:
        strategic_merge(copy.deepcopy(TARGET), patch)
    assert caught.value.path == path


def test_merged_values_are_copies() -> None:
    patch = {"new": {"list": [1]}}
    first = strategic_merge({}, patch)
    second = strategic_merge({}, patch)
    assert first is not None and second is not None
    first["new"]["list"].append(2)
    assert second["new"]["list"] == [1]
    assert patch == {"new": {"list": [1]}}


# --- JSON patch ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ops", "path", "message"),
    [
        ({"op": "add"}, (), "a JSON patch is a list of operations"),
        (["add"], (0,), "operation 1 must be a map"),
        ([{"op": "add", "path": "/a", "value": 1}, {"op": "bogus"}], (1, "op"), "unknown op"),
        ([{"path": "/a"}], (0, "op"), "unknown op None"),
        ([{"op": ["add"], "path": "/a"}], (0, "op"), "unknown op ['add']"),
        ([{"op": "remove"}], (0,), "needs 'path'"),
        ([{"op": "move", "path": "/a"}], (0,), "needs 'from'"),
        ([{"op": "test", "path": "/a"}], (0,), "needs 'value'"),
        ([{"op": "remove", "path": "a/b"}], (0, "path"), "invalid JSON pointer"),
        ([{"op": "copy", "from": 3, "path": "/a"}], (0, "from"), "a JSON pointer is a string"),
    ],
)
def test_malformed_json_patches(ops: Any, path: tuple[Any, ...], message: str) -> None:
    with pytest.raises(PatchError) as caught:
        parse_json_patch(ops)
    assert caught.value.path == path
    assert message in caught.value.message


def test_failed_operation_is_named_and_nothing_changes() -> None:
    doc = {"a": {"b": 1}}
    ops = parse_json_patch(
        [{"op": "add", "path": "/a/c", "value": 2}, {"op": "remove", "path": "/a/missing"}]
    )
    with pytest.raises(PatchError) as caught:
        apply_json_patch(doc, ops)
    assert caught.value.path == (1,)
    assert "operation 2 (remove '/a/missing')" in caught.value.message
    assert doc == {"a": {"b": 1}}


def test_added_values_are_not_shared_between_documents() -> None:
    ops = parse_json_patch([{"op": "add", "path": "/x", "value": {"l": [1]}}])
    first, second = apply_json_patch({}, ops), apply_json_patch({}, ops)
    first["x"]["l"].append(2)
    assert second == {"x": {"l": [1]}}
    assert ops[0]["value"] == {"l": [1]}


# --- selectors -------------------------------------------------------------------------

LABELS = {"tier": "web", "env": "dev", "count": "5", "empty": ""}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("tier", True),
        ("!tier", False),
        ("!absent", True),
        ("tier=web", True),
        ("tier==web", True),
        ("tier = web", True),
        ("tier!=web", False),
        ("absent!=web", True),
        ("tier in (web, db)", True),
        ("tier in (db)", False),
        ("tier notin (db)", True),
        ("absent notin (db)", True),
        ("absent in (db)", False),
        ("tier=web,env=prod", False),
        ("tier in (web,db) , env", True),
        ("count>3", True),
        ("count<3", False),
        ("tier>3", False),
        ("empty=", True),
        ("tier in ()", False),
        ("empty in ()", True),
        ("example.com/team", False),
    ],
)
def test_label_selectors(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


@pytest.mark.parametrize(
    "selector",
    ["tier in (web", "a b", "tier=w*", "=web", "count>x", "tier in web", "a,", "-bad=1", "a=b=c"],
)
def test_invalid_label_selectors(selector: str) -> None:
    with pytest.raises(PatchError):
        parse_label_selector(selector)


def _matches(target: dict[str, Any], **overrides: Any) -> bool:
    subject: dict[str, Any] = {
        "group": "local.gitcops.io",
        "version": "v1",
        "kind": "File",
        "names": ("motd", "prod-motd"),
        "namespaces": ("default", "default"),
        "labels": {"tier": "web"},
        "annotations": {"owner": "alice"},
    }
    subject.update(overrides)
    return compile_selector(target).matches(**subject)


@pytest.mark.parametrize(
    ("target", "matches"),
    [
        ({}, True),
        ({"name": "motd"}, True),
        ({"name": "prod-motd"}, True),
        ({"name": "mot"}, False),
        ({"name": "otd"}, False),
        ({"name": "mo.*"}, True),
        ({"name": "motd|issue"}, True),
        ({"name": ""}, True),
        ({"kind": "File|Directory", "version": "v1"}, True),
        ({"kind": "Fil"}, False),
        ({"group": "local"}, False),
        ({"group": "local\\..*"}, True),
        ({"namespace": "default"}, True),
        ({"namespace": "prod"}, False),
        ({"labelSelector": "tier=web", "annotationSelector": "owner"}, True),
        ({"labelSelector": "tier=db"}, False),
        ({"annotationSelector": "owner=bob"}, False),
    ],
)
def test_targets(target: dict[str, Any], matches: bool) -> None:
    assert _matches(target) is matches


def test_exact_names_allow_index_lookups() -> None:
    assert compile_selector({"name": "web-1", "kind": "File"}).exact_name == "web-1"
    assert compile_selector({"kind": "File"}).exact_kind == "File"
    assert compile_selector({"name": "web.1"}).exact_name is None
    assert compile_selector({"name": "a|b"}).exact_name is None
    assert compile_selector({}).exact_name is None


@pytest.mark.parametrize(
    ("target", "path", "message"),
    [
        ({"names": "a"}, ("names",), "field names is not supported by gitcops"),
        ({"name": 3}, ("name",), "must be a string"),
        ({"kind": "(File"}, ("kind",), "invalid regular expression"),
        ({"labelSelector": "a in (b"}, ("labelSelector",), "invalid selector"),
        ("File", (), "a target is a map"),
    ],
)
def test_invalid_targets(target: Any, path: tuple[str, ...], message: str) -> None:
    with pytest.raises(PatchError) as caught:
        compile_selector(target)
    assert caught.value.path == path
    assert message in caught.value.message
