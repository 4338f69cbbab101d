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
