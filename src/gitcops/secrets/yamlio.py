"""YAML read and written the way sops (Go, yaml.v3) sees it.

The MAC covers every value's bytes, so gitcops must type plain scalars exactly as yaml.v3 does
when decoding into ``interface{}``: YAML 1.2 booleans only (``yes``/``on`` are strings), Go
integer syntax (``0644`` and ``0o17`` are octal), and timestamps kept as the text written.
``<<`` is an ordinary key, as in sops's own tree. Non-string keys are refused (sops refuses
them too). The typing shared with render/'s loader is in gitcops.model.goyaml; render/ prints
timestamps as RFC 3339 and reads ``<<`` as a merge key, so those parts stay apart.

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

from gitcops.model.goyaml import (
    BINARY_TAG,
    FIXED,
    FLOAT_TAG,
    MAP_TAG,
    MERGE_TAG,
    NUMERIC_START,
    SEQ_TAG,
    STR_TAG,
    TIMESTAMP_TAG,
    GoScalarLoader,
    go_float,
    number_tag,
)

__all__ = ["YamlError", "dump_documents", "load_documents"]

_TIMESTAMP_RE = re.compile(
    r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
    r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?"
)
# Aliases are expanded into copies; refuse a "billion laughs" document.
_MAX_NODES: Final = 1_000_000


class YamlError(ValueError):
    """YAML that cannot be read as a SOPS tree; the message names no values."""


def resolve_plain(value: str) -> str:
    """The tag yaml.v3 gives an untagged plain scalar."""
    fixed = FIXED.get(value)
    if fixed is not None:
        return fixed[0]
    if value[0] == ".":
        return FLOAT_TAG if go_float(value, finite=False) is not None else STR_TAG
    if value[0] not in NUMERIC_START:
        return STR_TAG
    if _TIMESTAMP_RE.fullmatch(value):
        return TIMESTAMP_TAG
    return number_tag(value, finite=False)


class _Loader(GoScalarLoader):
    finite_floats = False  # see go_float

    def plain_tag(self, value: str) -> str:
        return resolve_plain(value)

    def scalar(self, node: Node) -> str:
        # secrets/ has always said less here than the base; kept so its messages do not change.
        if not isinstance(node, ScalarNode):
            raise ConstructorError(None, None, "expected a scalar", node.start_mark)
        return str(node.value)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag != STR_TAG:
                raise ConstructorError(
                    None, None, "a mapping key is not a string; quote it", key_node.start_mark
                )
            if key_node.value in seen:
                raise ConstructorError(
                    None, None, f"mapping key {key_node.value!r} is repeated", key_node.start_mark
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=True)


def _construct_timestamp(loader: _Loader, node: Node) -> str:
    # yaml.v3 hands timestamps to interface{} as the original text.
    return loader.scalar(node)


def _construct_binary(loader: _Loader, node: Node) -> str:
    try:
        raw = base64.b64decode(loader.scalar(node))
    except (binascii.Error, ValueError):
        raise ConstructorError(None, None, "invalid base64", node.start_mark) from None
    return raw.decode("utf-8", "surrogateescape")


_Loader.add_constructor(TIMESTAMP_TAG, _construct_timestamp)
_Loader.add_constructor(BINARY_TAG, _construct_binary)


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
                return STR_TAG
            # A plain "<<" is a merge key to yaml.v3; quote it to keep it a string.
            return MERGE_TAG if value == "<<" else resolve_plain(value or "")
        return SEQ_TAG if kind is SequenceNode else MAP_TAG

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # yaml.v3 indents list items under their key


def _represent_str(dumper: _Dumper, value: str) -> ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar(STR_TAG, value, style=style)


def _represent_float(dumper: _Dumper, value: float) -> ScalarNode:
    if value != value:
        text = ".nan"
    elif value in (float("inf"), float("-inf")):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = repr(value)
        if "e" in text and "." not in text:
            text = text.replace("e", ".0e")  # 1e+20 would read as a string in YAML 1.1 tools
    return dumper.represent_scalar(FLOAT_TAG, text)


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
