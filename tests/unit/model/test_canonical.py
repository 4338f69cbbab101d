"""canonical_json: the exact bytes stored hashes depend on, shortcuts included."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gitcops.model.canonical import canonical_json


def reference(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_equals_sorted_compact_json(value: Any) -> None:
    assert canonical_json(value) == reference(value)


def test_empty_and_falsy_values_keep_their_json_text() -> None:
    for value in ((), [], {}, 0, 0.0, "", None, False):
        assert canonical_json(value) == reference(value)


def test_value_bytes_tell_values_apart_whatever_objects_they_share() -> None:
    from gitcops.model.canonical import value_bytes

    name = "".join(["pa", "th"])  # equal to the interned literal, not the same object
    shared = {"path": "a"}
    assert value_bytes({"path": "a"}) == value_bytes({name: "a"})
    assert value_bytes([shared, shared]) == value_bytes([{"path": "a"}, {"path": "a"}])
    distinct = [1, True, 1.0, "1", [1], (1,), {"1": 1}, None, 0, -0.0, 0.0]
    encoded = [value_bytes(v) for v in distinct]
    assert None not in encoded
    assert len(set(encoded)) == len(distinct)
    assert value_bytes(object()) is None


@given(json_values, json_values)
def test_value_bytes_are_equal_exactly_for_equal_values(a: Any, b: Any) -> None:
    from gitcops.model.canonical import value_bytes

    if value_bytes(a) == value_bytes(b):  # never for different values
        assert a == b and canonical_json(a) == canonical_json(b)
    if a == b and type(a) is type(b) and canonical_json(a) == canonical_json(b):
        assert value_bytes(a) == value_bytes(b) or _orders_differ(a, b)


def _orders_differ(a: Any, b: Any) -> bool:
    """Whether equal values hold their mapping keys in different orders (marshal keeps it)."""
    if isinstance(a, dict):
        return list(a) != list(b) or any(_orders_differ(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return any(_orders_differ(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is not type(b)
