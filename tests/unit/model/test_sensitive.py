"""Sensitive fields: masking, keyed tokens, finding tokens again, scrubbing messages."""

from __future__ import annotations

import pytest

from gitcops.model.sensitive import (
    MARKER,
    Redactor,
    is_token,
    mask,
    may_hold_tokens,
    scrub,
    texts_at,
    token_paths,
    under,
)

KEY = bytes(range(32))
SPEC = {"path": "a", "content": "s3cret", "env": [{"name": "X", "value": 42}]}


def test_mask_replaces_only_the_sensitive_fields_of_a_copy() -> None:
    masked = mask(SPEC, [("content",), ("env", 0, "value"), ("missing",)])
    assert masked == {"path": "a", "content": MARKER, "env": [{"name": "X", "value": MARKER}]}
    assert SPEC["content"] == "s3cret"


def test_tokens_are_keyed_deterministic_and_change_with_the_value() -> None:
    one, other = Redactor(KEY), Redactor(bytes(reversed(range(32))))
    assert one.token("s3cret") == one.token("s3cret")
    assert one.token("s3cret") != one.token("s3cret2")
    assert one.token("s3cret") != other.token("s3cret")
    assert one.token(42) != one.token("42")  # the type is part of the value
    assert "s3cret" not in one.token("s3cret") and is_token(one.token("s3cret"))
    assert one.token(one.token("x")) == one.token("x")  # protecting twice changes nothing


def test_protected_specs_give_their_token_paths_back() -> None:
    protected = Redactor(KEY).protect(SPEC, [("content",), ("env", 0, "value")])
    assert sorted(token_paths(protected), key=str) == [("content",), ("env", 0, "value")]
    assert may_hold_tokens(str(protected)) and not may_hold_tokens(str(SPEC))
    assert list(token_paths(SPEC)) == []


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError):
        Redactor(b"short")


@pytest.mark.parametrize(
    ("path", "expected"),
    [(("content",), True), (("env",), True), (("env", 0, "value", "x"), True), (("path",), False)],
)
def test_under_covers_the_field_its_parents_and_its_children(
    path: tuple[str | int, ...], expected: bool
) -> None:
    assert under(path, [("content",), ("env", 0, "value")]) is expected


def test_scrub_removes_values_and_their_reprs_longest_first() -> None:
    values = texts_at({"a": "pass", "b": "password", "n": 1234}, [("a",), ("b",), ("n",)])
    text = scrub("'password' is too long; pass; 1234 is not a string", values)
    assert "pass" not in text and "1234" not in text
    assert text.count(MARKER) == 3
