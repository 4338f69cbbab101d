"""YAML 1.2 scalar typing as Go's yaml.v3 does it, shared by resource documents and SOPS files.

Two readers need Go's typing, each to match a Go tool byte for byte: render/ reads resource
documents as kustomize does and secrets/ reads SOPS files as sops does. The layering keeps
secrets/ from importing render/, so what they share lives here: the tags, the fixed words
(``true``, ``null``, ``.inf``…), Go's integer and float syntax, and a loader base that builds
explicitly tagged and untagged values. Each reader keeps what differs on purpose: which plain
scalars are timestamps and how they read, ``<<``, binary decoding, and mapping rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = [
    "BINARY_TAG",
    "BOOL_TAG",
    "FIXED",
    "FLOAT_TAG",
    "INT_TAG",
    "MAP_TAG",
    "MERGE_TAG",
    "NULL_TAG",
    "NUMERIC_START",
    "SEQ_TAG",
    "STR_TAG",
    "TIMESTAMP_TAG",
    "GoScalarLoader",
    "go_float",
    "go_int",
    "number_tag",
]

_TAG = "tag:yaml.org,2002:"
STR_TAG: Final = _TAG + "str"
INT_TAG: Final = _TAG + "int"
FLOAT_TAG: Final = _TAG + "float"
BOOL_TAG: Final = _TAG + "bool"
NULL_TAG: Final = _TAG + "null"
TIMESTAMP_TAG: Final = _TAG + "timestamp"
BINARY_TAG: Final = _TAG + "binary"
MERGE_TAG: Final = _TAG + "merge"
MAP_TAG: Final = _TAG + "map"
SEQ_TAG: Final = _TAG + "seq"

# The words yaml.v3 types without looking further, with their tag and value. "<<" is not here:
# render/ reads it as a merge key as kubectl does, secrets/ as an ordinary key as sops does.
FIXED: Final[Mapping[str, tuple[str, Any]]] = {
    **{word: (BOOL_TAG, True) for word in ("true", "True", "TRUE")},
    **{word: (BOOL_TAG, False) for word in ("false", "False", "FALSE")},
    **{word: (NULL_TAG, None) for word in ("", "~", "null", "Null", "NULL")},
    **{word: (FLOAT_TAG, float("nan")) for word in (".nan", ".NaN", ".NAN")},
    **{word: (FLOAT_TAG, float("inf")) for word in (".inf", ".Inf", ".INF")},
    **{word: (FLOAT_TAG, float("inf")) for word in ("+.inf", "+.Inf", "+.INF")},
    **{word: (FLOAT_TAG, float("-inf")) for word in ("-.inf", "-.Inf", "-.INF")},
}
# yaml.v3 only tries a plain scalar as a number or timestamp when it starts with one of these.
NUMERIC_START: Final = frozenset("+-0123456789")
_INT = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64) (falling back to ParseUint) as yaml.v3 calls it."""
    plain = text.replace("_", "")
    if not _INT.fullmatch(plain):
        return None
    sign, digits = (-1, plain[1:]) if plain[0] == "-" else (1, plain.lstrip("+"))
    if len(digits) > 1 and digits[0] == "0" and digits[1] in "0123456789":
        value = sign * int(digits, 8)  # 0644: yaml.v3 keeps YAML 1.1 octals
    else:
        value = sign * int(digits, 0)
    return value if _INT64_MIN <= value <= _UINT64_MAX else None


def go_float(text: str, *, finite: bool) -> float | None:
    """The float yaml.v3 reads from text matching its float syntax, else None.

    With ``finite``, a value too large for a float64 is None, as Go's ParseFloat refuses it
    (ErrRange) and yaml.v3 then keeps the text a string. secrets/ has always read it as ±inf.
    """
    plain = text.replace("_", "")
    if not _FLOAT.fullmatch(plain):
        return None
    value = float(plain)
    return None if finite and value in (float("inf"), float("-inf")) else value


def number_tag(value: str, *, finite: bool) -> str:
    """The tag of a plain scalar that starts like a number and is no timestamp (see go_float)."""
    if go_int(value) is not None:
        return INT_TAG
    if go_float(value, finite=finite) is not None:
        return FLOAT_TAG
    return STR_TAG


class GoScalarLoader(yaml.CSafeLoader):
    """CSafeLoader that builds tagged and untagged values like yaml.v3.

    A subclass says which tag a plain scalar gets (``plain_tag``) and registers constructors
    for the tags whose reading differs between render/ and secrets/ (timestamp, binary).
    """

    # Whether a float that overflows is an error (as in Go) rather than ±inf; see go_float.
    finite_floats: ClassVar[bool] = True

    def plain_tag(self, value: str) -> str:
        raise NotImplementedError

    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return self.plain_tag(value or "") if implicit[0] else STR_TAG
        return SEQ_TAG if kind is SequenceNode else MAP_TAG

    def scalar(self, node: Node) -> str:
        """The text of a node that a scalar tag was put on; a list or map there is an error."""
        if not isinstance(node, ScalarNode):
            shape = "list" if isinstance(node, SequenceNode) else "map"
            raise ConstructorError(
                None, None, f"expected a scalar, found a {shape}", node.start_mark
            )
        return str(node.value)


def _construct_int(loader: GoScalarLoader, node: Node) -> int:
    value = go_int(loader.scalar(node))
    if value is None:
        raise ConstructorError(None, None, "invalid integer", node.start_mark)
    return value


def _construct_float(loader: GoScalarLoader, node: Node) -> float:
    text = loader.scalar(node)
    fixed = FIXED.get(text)
    if fixed is not None and fixed[0] == FLOAT_TAG:
        return float(fixed[1])
    as_int = go_int(text)
    value = float(as_int) if as_int is not None else go_float(text, finite=loader.finite_floats)
    if value is None:
        raise ConstructorError(None, None, "invalid float", node.start_mark)
    return value


def _construct_bool(loader: GoScalarLoader, node: Node) -> bool:
    fixed = FIXED.get(loader.scalar(node))
    if fixed is None or fixed[0] != BOOL_TAG:
        raise ConstructorError(None, None, "invalid boolean", node.start_mark)
    return bool(fixed[1])


def _construct_null(loader: GoScalarLoader, node: Node) -> None:
    return None


def _construct_untagged(loader: GoScalarLoader, node: Node) -> Any:
    """yaml.v3 ignores tags it does not know and reads the node by its shape."""
    if isinstance(node, MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.scalar(node)


# Registered on the base, so each subclass's own add_constructor starts from a copy of these.
for _tag, _constructor in (
    (INT_TAG, _construct_int),
    (FLOAT_TAG, _construct_float),
    (BOOL_TAG, _construct_bool),
    (NULL_TAG, _construct_null),
    (None, _construct_untagged),
):
    GoScalarLoader.add_constructor(_tag, _constructor)
