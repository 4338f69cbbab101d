"""YAML read and written the way sops (Go, yaml.v3) sees it.

The MAC covers every value's bytes, so gitcops must type plain scalars exactly as yaml.v3 does
when decoding into ``interface{}``: YAML 1.2 booleans only (``yes``/``on`` are strings), Go
integer syntax (``0644`` and ``0o17`` are octal), and timestamps kept as the text written.
``<<`` is an ordinary key, as in sops's own tree. Non-string keys are refused (sops refuses
them too). gitcops's render layer has a similar loader, but it prints timestamps as RFC 3339
and the layering keeps secrets/ from importing render/.

Writing mirrors sops: 4-space indentation, block style, keys in order, multi-line strings as
literal blocks, and strings that yaml.v3 would read as another type are quoted. Comments are
not preserved.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Hashable, Sequence
from typing import Any, Final

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

__all__ = ["YamlError", "dump_documents", "load_documents"]

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT = _TAG + "str", _TAG + "int", _TAG + "float"
_BOOL, _NULL, _TIMESTAMP = _TAG + "bool", _TAG + "null", _TAG + "timestamp"
_MAP, _SEQ = _TAG + "map", _TAG + "seq"

_FIXED: Final[dict[str, tuple[str, Any]]] = {
    **{w: (_BOOL, True) for w in ("true", "True", "TRUE")},
    **{w: (_BOOL, False) for w in ("false", "False", "FALSE")},
    **{w: (_NULL, None) for w in ("", "~", "null", "Null", "NULL")},
    **{w: (_FLOAT, float("nan")) for w in (".nan", ".NaN", ".NAN")},
    **{w: (_FLOAT, float("inf")) for w in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
    **{w: (_FLOAT, float("-inf")) for w in ("-.inf", "-.Inf", "-.INF")},
}
_INT_RE = re.compile(r"[-+]?(?:0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_TIMESTAMP_RE = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?"
)
_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
# Aliases are expanded into copies; refuse a "billion laughs" document.
_MAX_NODES: Final = 1_000_000


class YamlError(ValueError):
    """YAML that cannot be read as a SOPS tree; the message names no values."""


def _go_int(text: str) -> int | None:
    plain = text.replace("_", "")
    if not _INT_RE.fullmatch(plain):
        return None
    sign, digits = (-1, plain[1:]) if plain[0] == "-" else (1, plain.lstrip("+"))
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        value = sign * int(digits, 8)
    else:
        value = sign * int(digits, 0)
    return value if _INT64_MIN <= value <= _UINT64_MAX else None


def _go_float(text: str) -> float | None:
    plain = text.replace("_", "")
    return float(plain) if _FLOAT_RE.fullmatch(plain) else None


def resolve_plain(value: str) -> str:
    """The tag yaml.v3 gives an untagged plain scalar."""
    fixed = _FIXED.get(value)
    if fixed is not None:
        return fixed[0]
    if value[0] == ".":
        return _FLOAT if _go_float(value) is not None else _STR
    if value[0] not in "+-0123456789":
        return _STR
    if _TIMESTAMP_RE.fullmatch(value):
        return _TIMESTAMP
    if _go_int(value) is not None:
        return _INT
    if _go_float(value) is not None:
        return _FLOAT
    return _STR


class _Loader(yaml.CSafeLoader):
    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return resolve_plain(value or "") if implicit[0] else _STR
        return _SEQ if kind is SequenceNode else _MAP

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != _STR:
                raise ConstructorError(
                    None, None, "a mapping key is not a string; quote it", key_node.start_mark
                )
            if key_node.value in seen:
                raise ConstructorError(
                    None, None, f"mapping key {key_node.value!r} is repeated", key_node.start_mark
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=True)


def _scalar(node: Node) -> str:
    if not isinstance(node, ScalarNode):
        raise ConstructorError(None, None, "expected a scalar", node.start_mark)
    return str(node.value)


def _construct_int(loader: _Loader, node: Node) -> int:
    value = _go_int(_scalar(node))
    if value is None:
        raise ConstructorError(None, None, "invalid integer", node.start_mark)
    return value


def _construct_float(loader: _Loader, node: Node) -> float:
    text = _scalar(node)
    fixed = _FIXED.get(text)
    if fixed is not None and fixed[0] == _FLOAT:
        return float(fixed[1])
    as_int = _go_int(text)
    value = float(as_int) if as_int is not None else _go_float(text)
    if value is None:
        raise ConstructorError(None, None, "invalid float", node.start_mark)
    return value


def _construct_bool(loader: _Loader, node: Node) -> bool:
    fixed = _FIXED.get(_scalar(node))
    if fixed is None or fixed[0] != _BOOL:
        raise ConstructorError(None, None, "invalid boolean", node.start_mark)
    return bool(fixed[1])


def _construct_null(loader: _Loader, node: Node) -> None:
    return None


def _construct_timestamp(loader: _Loader, node: Node) -> str:
    # yaml.v3 hands timestamps to interface{} as the original text.
    return _scalar(node)


def _construct_binary(loader: _Loader, node: Node) -> str:
    try:
        raw = base64.b64decode(_scalar(node))
    except (binascii.Error, ValueError):
        raise ConstructorError(None, None, "invalid base64", node.start_mark) from None
    return raw.decode("utf-8", "surrogateescape")


def _construct_untagged(loader: _Loader, node: Node) -> Any:
    if isinstance(node, MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return _scalar(node)


for _tag, _constructor in (
    (_INT, _construct_int),
    (_FLOAT, _construct_float),
    (_BOOL, _construct_bool),
    (_NULL, _construct_null),
    (_TIMESTAMP, _construct_timestamp),
    (_TAG + "binary", _construct_binary),
    (None, _construct_untagged),
):
    _Loader.add_constructor(_tag, _constructor)


def _unshare(value: Any, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlError(f"aliases expand to more than {_MAX_NODES:,} values")
    if isinstance(value, dict):
        return {key: _unshare(item, budget) for key, item in value.items()}
    if isinstance(value, list):
        return [_unshare(item, budget) for item in value]
    return value


def load_documents(data: bytes) -> list[Any]:
    """Every document of a YAML stream, typed like yaml.v3 (empty documents are None)."""
    loader = _Loader(data)
    documents: list[Any] = []
    try:
        while loader.check_node():
            documents.append(loader.construct_document(loader.get_node()))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        raise YamlError(f"invalid YAML{where}: {problem}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {type(exc).__name__}") from None
    except RecursionError:
        raise YamlError("invalid YAML: nesting is too deep") from None
    finally:
        loader.dispose()
    budget = [_MAX_NODES]
    return [_unshare(doc, budget) for doc in documents]


class _Dumper(yaml.SafeDumper):
    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        # The emitter quotes a string exactly when this says a plain scalar would not be one.
        if kind is ScalarNode:
            if not implicit[0]:
                return _STR
            # A plain "<<" is a merge key to yaml.v3; quote it to keep it a string.
            return _TAG + "merge" if value == "<<" else resolve_plain(value or "")
        return _SEQ if kind is SequenceNode else _MAP

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # yaml.v3 indents list items under their key


def _represent_str(dumper: _Dumper, value: str) -> ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(_STR, value, style=style)


def _represent_float(dumper: _Dumper, value: float) -> ScalarNode:
    if value != value:
        text = ".nan"
    elif value in (float("inf"), float("-inf")):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = repr(value)
        if "e" in text and "." not in text:
            text = text.replace("e", ".0e")  # 1e+20 would read as a string in YAML 1.1 tools
    return dumper.represent_scalar(_FLOAT, text)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(float, _represent_float)


def dump_documents(documents: Sequence[Any]) -> bytes:
    text = yaml.dump_all(
        documents,
        Dumper=_Dumper,
        indent=4,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=float("inf"),
    )
    return text.encode("utf-8", "surrogateescape")
