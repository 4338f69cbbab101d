"""The direct construction route for plain documents gives exactly what PyYAML's general
construction gives, and leaves everything else (aliases, merge keys, errors) to it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitcops.render import yamldocs


def _general(data: str) -> list[tuple[int, Any]] | str:
    original = yamldocs.GoYamlLoader.construct_document
    try:
        yamldocs.GoYamlLoader.construct_document = yaml.CSafeLoader.construct_document  # type: ignore[method-assign]
        return list(yamldocs.iter_documents(data))
    except yamldocs.YamlSyntaxError as exc:
        return exc.describe()
    finally:
        yamldocs.GoYamlLoader.construct_document = original  # type: ignore[method-assign]


def _fast(data: str) -> list[tuple[int, Any]] | str:
    try:
        return list(yamldocs.iter_documents(data))
    except yamldocs.YamlSyntaxError as exc:
        return exc.describe()


CASES = [
    "a: 1\nb: [x, 2, 3.5, true, null, ~, 0644, 0o17, 0x1F, 1e3, .inf, -.INF, .nan]\n",
    "mode: 0644\nyes: yes\non: on\ntime: 1:20\ndate: 2024-01-02\n",
    "ts: 2024-01-02 10:20:30.50+02:00\n",
    "quoted: '0644'\nblock: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
    "---\n---\na: 1\n---\n- 1\n- 2\n---\njust a string\n...\n",
    "base: &b {x: 1, y: [1, 2]}\nother: *b\n",  # an alias: the general route
    "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",  # a merge key
    "a: 1\na: 2\n",  # duplicate key: an error
    "1: one\n",  # a non-string key: an error
    "? [a, b]\n: c\n",
    "a: !!binary aGVsbG8=\nb: !custom {x: 1}\nc: !!str 12\nd: !!int '7'\n",
    "a: !!int x\n",  # invalid tagged scalar: an error
    "a: !!float 1_000\nb: !!bool True\nc: !!null ''\n",
    "nested: {a: {b: {c: [[1, [2, {d: e}]]]}}}\nempty: {}\nnone: []\n",
    "laughs: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n",
    "a: b: c\n",  # a syntax error
]


@pytest.mark.parametrize("data", CASES)
def test_cases_match_the_general_construction(data: str) -> None:
    assert repr(_fast(data)) == repr(_general(data))


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(["0644", "yes", "on", "1e3", "1:20", "2024-01-02", "0x1F", ".inf", "~", "<<"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_values, min_size=1, max_size=3), st.booleans())
def test_generated_documents_match(docs: list[Any], flow: bool) -> None:
    data = yaml.safe_dump_all(docs, default_flow_style=flow, allow_unicode=True)
    assert repr(_fast(data)) == repr(_general(data))
