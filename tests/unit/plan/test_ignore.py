"""Ignored fields (ignoreDifferences): the desired spec takes the live values at the pointers."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitcops.model.drift import DriftMode
from gitcops.model.identity import ResourceId
from gitcops.model.sensitive import lookup
from gitcops.plan.ignore import respect
from gitcops.plan.model import ChangeAction, PlannedChange

MOTD = ResourceId("local.gitcops.io", "File", "motd")


@pytest.mark.parametrize(
    ("desired", "live", "pointers", "expected"),
    [
        ({"a": 1, "m": "0644"}, {"a": 2, "m": "0600"}, ["/spec/m"], {"a": 1, "m": "0600"}),
        # live lacks the field: the desired value stays
        ({"a": 1, "m": "0644"}, {"a": 1}, ["/spec/m"], {"a": 1, "m": "0644"}),
        # Git lacks it: live's is kept
        ({"a": 1}, {"a": 1, "m": "0600"}, ["/spec/m"], {"a": 1, "m": "0600"}),
        # escapes
        (
            {"l": {"a/b": 1, "c~d": 2}},
            {"l": {"a/b": 3, "c~d": 4}},
            ["/spec/l/a~1b"],
            {"l": {"a/b": 3, "c~d": 2}},
        ),
        (
            {"l": {"a/b": 1, "c~d": 2}},
            {"l": {"a/b": 3, "c~d": 4}},
            ["/spec/l/c~0d"],
            {"l": {"a/b": 1, "c~d": 4}},
        ),
        # list indexes, and what is not one
        ({"x": [1, 2, 3]}, {"x": [1, 9, 3]}, ["/spec/x/1"], {"x": [1, 9, 3]}),
        ({"x": [1, 2]}, {"x": [1, 9, 3]}, ["/spec/x/2"], {"x": [1, 2]}),
        ({"x": [1, 2]}, {"x": [1, 9]}, ["/spec/x/01"], {"x": [1, 2]}),
        ({"x": [1, 2]}, {"x": [1, 9]}, ["/spec/x/-"], {"x": [1, 2]}),
        ({"x": {"1": "a"}}, {"x": {"1": "b"}}, ["/spec/x/1"], {"x": {"1": "b"}}),
        # a mapping Git leaves out is made for the ignored field only
        ({"a": 1}, {"a": 1, "e": {"n": 1, "o": 2}}, ["/spec/e/n"], {"a": 1, "e": {"n": 1}}),
        # types differ on the way: nothing to take
        ({"a": "text"}, {"a": {"b": 1}}, ["/spec/a/b"], {"a": "text"}),
        # several pointers, one inside another
        (
            {"a": {"b": 1, "c": 2}},
            {"a": {"b": 5, "c": 6}},
            ["/spec/a/b", "/spec/a"],
            {"a": {"b": 5, "c": 6}},
        ),
    ],
)
def test_respect(
    desired: dict[str, Any], live: dict[str, Any], pointers: list[str], expected: dict[str, Any]
) -> None:
    before = copy.deepcopy((desired, live))
    assert respect(desired, live, pointers) == expected
    assert (desired, live) == before  # neither input is modified


def test_nothing_live_or_no_pointers_leaves_the_desired_spec_as_it_is() -> None:
    desired = {"a": 1}
    assert respect(desired, None, ["/spec/a"]) is desired
    assert respect(desired, {"a": 2}, []) is desired
    assert respect(desired, {"a": 1}, ["/spec/a"]) is desired  # already equal: not copied


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=12,
)
SPECS = st.dictionaries(st.sampled_from("abc"), JSON, max_size=3)
POINTERS = st.lists(
    st.lists(st.sampled_from(["a", "b", "c", "0", "1"]), min_size=1, max_size=3).map(
        lambda tokens: "/spec/" + "/".join(tokens)
    ),
    max_size=3,
)


def _at(tree: Any, pointer: str) -> tuple[bool, Any]:
    path: list[str | int] = []
    node = tree
    for token in pointer.split("/")[2:]:
        part: str | int = int(token) if isinstance(node, list) and token.isdigit() else token
        path.append(part)
        found, node = lookup(tree, tuple(path))
        if not found:
            return False, None
    return True, node


@settings(max_examples=300, deadline=None)
@given(SPECS, SPECS, POINTERS)
def test_respect_properties(
    desired: dict[str, Any], live: dict[str, Any], pointers: list[str]
) -> None:
    before = copy.deepcopy((desired, live))
    out = respect(desired, live, pointers)
    assert (desired, live) == before
    # Idempotent: taking the live values again changes nothing.
    assert respect(out, live, pointers) == out
    # A pointer nothing else contains ends up with live's value wherever it lands.
    for pointer in pointers:
        inside = any(p != pointer and pointer.startswith(p + "/") for p in pointers)
        holds, value = _at(out, pointer)
        if holds and not inside and _at(live, pointer)[0]:
            assert value == _at(live, pointer)[1]


def test_a_change_writes_its_target_and_carries_its_drift_and_pointers_in_json() -> None:
    change = PlannedChange(
        ChangeAction.UPDATE,
        MOTD,
        "local.gitcops.io/v1",
        before={"path": "motd", "content": "edited\n", "mode": "0600"},
        after={"path": "motd", "content": "git\n", "mode": "0644"},
        drift=DriftMode.WARN,
        ignored=("/spec/mode",),
    )
    assert change.target == {"path": "motd", "content": "git\n", "mode": "0600"}
    data = change.as_json()
    assert data["drift"] == "warn" and data["ignored"] == ["/spec/mode"]
    assert data["after"]["mode"] == "0644"  # `after` stays what Git says
    again = PlannedChange.from_json(data)
    assert again.drift is DriftMode.WARN and again.ignored == ("/spec/mode",)
    plain = PlannedChange(ChangeAction.CREATE, MOTD, "local.gitcops.io/v1", None, {"path": "x"})
    assert plain.as_json()["drift"] is None and plain.as_json()["ignored"] == []
    assert plain.target is plain.after
    assert PlannedChange.from_json(plain.as_json()).drift is None
