"""yaml.v3 scalar typing shared by render/ and secrets/: numbers, fixed words, the loader."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from gitcops.model.goyaml import FIXED, INT_TAG, STR_TAG, GoScalarLoader, go_float, go_int


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("0644", 0o644),  # yaml.v3 keeps YAML 1.1 octals
        ("0o17", 0o17),
        ("-0x1F", -31),
        ("0b101", 5),
        ("1_000", 1000),
        ("18446744073709551615", 2**64 - 1),  # ParseUint's range
        ("18446744073709551616", None),
        ("-9223372036854775809", None),  # below ParseInt's range
        ("08", None),
        ("1.5", None),
        ("abc", None),
    ],
)
def test_go_int(text: str, expected: int | None) -> None:
    assert go_int(text) == expected


@pytest.mark.parametrize(
    ("text", "finite", "expected"),
    [
        ("1e3", True, 1000.0),
        ("1_0.5", True, 10.5),
        (".5", True, 0.5),
        ("1.", False, 1.0),
        ("1e400", True, None),  # Go's ParseFloat: ErrRange
        ("1e400", False, math.inf),
        ("e3", False, None),
        (".inf", False, None),  # a fixed word, not float syntax
    ],
)
def test_go_float(text: str, finite: bool, expected: float | None) -> None:
    assert go_float(text, finite=finite) == expected


def test_fixed_words_are_yaml_1_2_only() -> None:
    assert FIXED["True"] == ("tag:yaml.org,2002:bool", True)
    assert "yes" not in FIXED and "on" not in FIXED
    assert "<<" not in FIXED  # each reader decides what "<<" is


class _IntsOnly(GoScalarLoader):
    def plain_tag(self, value: str) -> str:
        return INT_TAG if go_int(value) is not None else STR_TAG


def _load(text: str) -> Any:
    return yaml.load(text, Loader=_IntsOnly)


def test_loader_base_builds_tagged_and_untagged_values() -> None:
    assert _load("a: 0644\nb: !!float 0x10\nc: !!bool TRUE\nd: !!null x\ne: !custom [1]\n") == {
        "a": 420,
        "b": 16.0,
        "c": True,
        "d": None,
        "e": [1],
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: !!int 1.5", "invalid integer"),
        ("a: !!bool yes", "invalid boolean"),
        ("a: !!float 1e400", "invalid float"),
        ("a: !!int [1]", "expected a scalar, found a list"),
    ],
)
def test_loader_base_refuses_what_yaml_v3_refuses(text: str, problem: str) -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match=problem):
        _load(text)
