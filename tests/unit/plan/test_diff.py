"""Field-level diffs and the Plan's JSON form: properties over random JSON-like values."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitcops.model.identity import ResourceId
from gitcops.plan.diff import DiffItem, DiffOp, diff
from gitcops.plan.model import PLAN_FORMAT, ChangeAction, Plan, PlannedChange

# -- strategies ----------------------------------------------------------------------------------

# Keys the text form of a path ("a.b[2]") can express: no dots, brackets, and not empty.
SAFE_KEYS = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",), blacklist_characters=".[]", min_codepoint=32
    ),
    min_size=1,
    max_size=8,
)
ANY_KEYS = st.text(max_size=6)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)


def json_values(keys: st.SearchStrategy[str] = ANY_KEYS) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALARS,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
        max_leaves=20,
    )


@st.composite
def mutated(draw: st.DrawFn, value: Any, keys: st.SearchStrategy[str] = ANY_KEYS) -> Any:
    """A copy of `value` with a few random edits deep inside, so diffs are small and nested."""
    out = copy.deepcopy(value)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        out = _mutate_once(draw, out, keys)
    return out


def _mutate_once(draw: st.DrawFn, node: Any, keys: st.SearchStrategy[str]) -> Any:
    if isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        choice = draw(st.integers(min_value=0, max_value=2))
        if choice == 0:
            del node[key]
        elif choice == 1:
            node[key] = _mutate_once(draw, node[key], keys)
        else:
            node[draw(keys)] = draw(json_values(keys))
        return node
    if isinstance(node, list) and node and draw(st.booleans()):
        index = draw(st.integers(min_value=0, max_value=len(node) - 1))
        node[index] = _mutate_once(draw, node[index], keys)
        return node
    return draw(json_values(keys))


@st.composite
def value_pairs(draw: st.DrawFn, keys: st.SearchStrategy[str] = ANY_KEYS) -> tuple[Any, Any]:
    a = draw(json_values(keys))
    b = draw(mutated(a, keys)) if draw(st.booleans()) else draw(json_values(keys))
    return a, b


# -- a tiny applier: replays a diff on the old value ---------------------------------------------


def apply_diff(value: Any, items: list[DiffItem]) -> Any:
    """Apply `items` to a copy of `value`; checks every `old` against what is really there."""
    out = copy.deepcopy(value)
    for item in items:
        if not item.path:
            assert item.op is DiffOp.CHANGE
            assert out == item.old
            out = copy.deepcopy(item.new)
            continue
        parent = out
        for part in item.path[:-1]:
            parent = parent[part]
        last = item.path[-1]
        if item.op is DiffOp.ADD:
            assert isinstance(parent, dict) and last not in parent
            parent[last] = copy.deepcopy(item.new)
        elif item.op is DiffOp.REMOVE:
            assert isinstance(parent, dict) and parent[last] == item.old
            del parent[last]
        else:
            assert parent[last] == item.old
            parent[last] = copy.deepcopy(item.new)
    return out


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality, the test's own oracle: unlike ==, true is not 1 and 1 is not 1.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(json_equal(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# -- properties ----------------------------------------------------------------------------------


@given(json_values())
def test_diff_of_a_value_with_itself_is_empty(a: Any) -> None:
    assert diff(a, a) == []
    assert diff(a, copy.deepcopy(a)) == []


@given(value_pairs())
def test_applying_the_diff_turns_old_into_new(pair: tuple[Any, Any]) -> None:
    a, b = pair
    assert json_equal(apply_diff(a, diff(a, b)), b)


@given(value_pairs())
def test_diff_is_empty_exactly_when_json_equal(pair: tuple[Any, Any]) -> None:
    a, b = pair
    assert (diff(a, b) == []) == json_equal(a, b)


@settings(max_examples=50)
@given(value_pairs())
def test_diff_items_are_well_formed(pair: tuple[Any, Any]) -> None:
    a, b = pair
    items = diff(a, b)
    paths = [item.path for item in items]
    assert len(set(paths)) == len(paths), "one item per field"
    for item in items:
        # JSON equality, not Python's: False and 0 are different values in a spec.
        assert not json_equal(item.old, item.new) or item.op is not DiffOp.CHANGE
        if item.op is DiffOp.ADD:
            assert item.old is None
        if item.op is DiffOp.REMOVE:
            assert item.new is None


@given(value_pairs())
def test_diff_items_round_trip_through_json(pair: tuple[Any, Any]) -> None:
    a, b = pair
    for item in diff(a, b):
        data = json.loads(json.dumps(item.as_json()))
        assert DiffItem.from_json(data) == item


@settings(max_examples=50)
@given(value_pairs(SAFE_KEYS))
def test_diff_items_without_segments_parse_their_text_path(pair: tuple[Any, Any]) -> None:
    """Plans saved with only the text `path` still load, for keys without dots or brackets."""
    a, b = pair
    for item in diff(a, b):
        data = {k: v for k, v in item.as_json().items() if k != "segments"}
        assert DiffItem.from_json(data) == item


def shown(items: list[DiffItem]) -> list[dict[str, Any]]:
    """The human-facing fields of each item's JSON form."""
    return [{k: d.as_json()[k] for k in ("op", "path", "old", "new")} for d in items]


# -- examples ------------------------------------------------------------------------------------


def test_nested_paths_and_ops() -> None:
    old = {"spec": {"items": ["a", "b", "c"], "labels": {"x": 1, "y": 2}, "ports": [80]}}
    new = {"spec": {"items": ["a", "B", "c"], "labels": {"y": 2, "z": 3}, "ports": [80, 443]}}
    assert shown(diff(old, new)) == [
        {"op": "change", "path": "spec.items[1]", "old": "b", "new": "B"},
        {"op": "remove", "path": "spec.labels.x", "old": 1, "new": None},
        {"op": "add", "path": "spec.labels.z", "old": None, "new": 3},
        {"op": "change", "path": "spec.ports", "old": [80], "new": [80, 443]},
    ]


def test_type_change_is_one_change_of_the_whole_value() -> None:
    assert diff({"a": {"b": 1}}, {"a": [1]}) == [DiffItem(DiffOp.CHANGE, ("a",), {"b": 1}, [1])]
    assert diff(None, {"a": 1}) == [DiffItem(DiffOp.CHANGE, (), None, {"a": 1})]


def test_list_paths_parse_back() -> None:
    item = DiffItem(DiffOp.CHANGE, ("spec", "containers", 0, "ports", 2, "name"), "a", "b")
    assert item.field == "spec.containers[0].ports[2].name"
    assert DiffItem.from_json(item.as_json()) == item
    top = DiffItem(DiffOp.CHANGE, (3, "x"), 1, 2)
    assert DiffItem.from_json(top.as_json()) == top


def test_bool_and_int_are_different_json_values() -> None:
    # Regression: diff() compared with Python's ==, where True == 1 == 1.0.
    assert shown(diff({"enabled": 1}, {"enabled": True})) == [
        {"op": "change", "path": "enabled", "old": 1, "new": True}
    ]
    assert shown(diff([1], [1.0])) == [{"op": "change", "path": "[0]", "old": 1, "new": 1.0}]
    assert diff({"a": [True, 0.5]}, {"a": [True, 0.5]}) == []


def test_dotted_keys_survive_the_json_round_trip() -> None:
    # Regression: the path used to be re-parsed from "metadata.labels.app.kubernetes.io/name".
    (item,) = diff(
        {"metadata": {"labels": {"app.kubernetes.io/name": "a"}}},
        {"metadata": {"labels": {"app.kubernetes.io/name": "b"}}},
    )
    assert DiffItem.from_json(item.as_json()) == item


# -- Plan JSON round trip ------------------------------------------------------------------------

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)
GROUPS = st.sampled_from(["local.gitcops.io", "apps", "", "example.gitcops.io"])
IDS = st.builds(
    ResourceId,
    group=GROUPS,
    kind=st.sampled_from(["File", "Directory", "Deployment", "HealthCheck"]),
    name=NAMES,
    namespace=st.sampled_from(["", "default", "web"]),
)
SPECS = st.dictionaries(ANY_KEYS, json_values(), max_size=4)


@st.composite
def planned_changes(draw: st.DrawFn) -> PlannedChange:
    rid = draw(IDS)
    action = draw(st.sampled_from(list(ChangeAction)))
    before = draw(st.none() | SPECS)
    after = None if action is ChangeAction.DELETE else draw(SPECS)
    items = tuple(diff(before, after)) if action is ChangeAction.UPDATE else ()
    return PlannedChange(
        action=action,
        id=rid,
        api_version=f"{rid.group}/v1" if rid.group else "v1",
        before=before,
        after=after,
        diff=items,
        depends_on=tuple(draw(st.lists(IDS, max_size=3))),
        reason=draw(st.text(max_size=20)),
        forget_only=draw(st.booleans()),
        origin=draw(st.sampled_from(["", "app/motd.yaml#1"])),
        instance=draw(st.sampled_from(["", "second"])),
    )


PLANS = st.builds(
    Plan,
    project=NAMES,
    environment=NAMES,
    revision=st.sampled_from(["worktree", "0" * 40, "3f2a" * 10]),
    requested_revision=st.sampled_from(["HEAD", "main", "worktree"]),
    tree=st.text(alphabet="0123456789abcdef", max_size=40),
    author=st.text(max_size=20),
    created_at=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    changes=st.lists(planned_changes(), max_size=6).map(tuple),
    inventory_serial=st.integers(min_value=0, max_value=10**9),
    live_fingerprint=st.text(alphabet="0123456789abcdef", max_size=64),
    warnings=st.lists(st.text(max_size=20), max_size=3).map(tuple),
)


@settings(max_examples=100)
@given(PLANS)
def test_plan_json_round_trip(plan: Plan) -> None:
    text = json.dumps(plan.as_json())
    again = Plan.from_json(json.loads(text))
    assert again == plan
    assert again.as_json() == plan.as_json()


@settings(max_examples=40)
@given(PLANS)
def test_plan_summary_counts_actions(plan: Plan) -> None:
    summary = plan.as_json()["summary"]
    for action, key in [
        (ChangeAction.CREATE, "create"),
        (ChangeAction.REPLACE, "replace"),
        (ChangeAction.ADOPT, "adopt"),
        (ChangeAction.UPDATE, "update"),
        (ChangeAction.DELETE, "delete"),
        (ChangeAction.NOOP, "noop"),
        (ChangeAction.CHECK, "check"),
    ]:
        assert summary[key] == sum(1 for c in plan.changes if c.action is action)
    changes = sum(summary[k] for k in ("create", "replace", "adopt", "update", "delete"))
    assert plan.has_changes == (changes > 0)


def test_plan_from_json_rejects_other_formats() -> None:
    data = Plan("p", "e", "worktree", "worktree", "", "", 0.0, (), 0).as_json()
    assert data["format"] == PLAN_FORMAT
    data["format"] = "gitcops.io/plan/v0"
    with pytest.raises(ValueError, match="not a gitcops plan"):
        Plan.from_json(data)
