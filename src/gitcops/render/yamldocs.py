"""Multi-document YAML loading that types scalars the way kubectl/kustomize do.

Parsing uses PyYAML's C parser (``yaml.CSafeLoader``). Plain scalars are typed like
go-yaml v3, which kustomize uses, rather than like YAML 1.1: ``yes``/``on`` stay strings,
``0o17`` and ``0644`` are octal integers, ``1e3`` is a float, ``1:20`` is a string, and an
unquoted date becomes the RFC 3339 string kustomize prints. Otherwise a document
rendered by gitcops and by ``kubectl kustomize`` would not hold the same values.

Documents must be JSON-like: duplicate keys and keys that are not strings are errors
(kustomize rejects both), unknown tags are read as plain values as go-yaml does.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from gitcops.model.diagnostics import Diagnostics
from gitcops.model.goyaml import (
    BINARY_TAG,
    BOOL_TAG,
    FIXED,
    FLOAT_TAG,
    INT_TAG,
    MAP_TAG,
    MERGE_TAG,
    NULL_TAG,
    NUMERIC_START,
    SEQ_TAG,
    STR_TAG,
    TIMESTAMP_TAG,
    GoScalarLoader,
    number_tag,
)

if TYPE_CHECKING:
    from gitcops.render.docmemo import DocumentMemo

__all__ = [
    "GoYamlLoader",
    "YamlSyntaxError",
    "all_documents",
    "document_label",
    "iter_documents",
    "load_documents",
]

# "<<" is a merge key, as kubectl reads it.
_FIXED: Final[dict[str, tuple[str, Any]]] = {**FIXED, "<<": (MERGE_TAG, "<<")}
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")
_TIMESTAMP = re.compile(
    r"(?P<y>[0-9]{4})-(?P<mo>[0-9]{1,2})-(?P<d>[0-9]{1,2})"
    r"(?:(?P<sep>[Tt ])(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{1,2}):(?P<s>[0-9]{1,2})"
    r"(?:\.(?P<frac>[0-9]{1,9}))?(?P<tz>Z|[-+][0-9]{2}:[0-9]{2})?)?"
)


def _timestamp(text: str) -> str | None:
    """go-yaml's accepted timestamp forms, rendered as Go's time.Time JSON (RFC 3339)."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    # go-yaml's layouts want a zone after "T"/"t" and none after a space.
    if m["sep"] is not None and (m["tz"] is not None) != (m["sep"] in "Tt"):
        return None
    hour, minute, second = (int(m[k]) if m[k] else 0 for k in ("h", "mi", "s"))
    try:
        moment = dt.datetime(int(m["y"]), int(m["mo"]), int(m["d"]), hour, minute, second)
    except ValueError:
        return None
    frac = (m["frac"] or "").rstrip("0")
    zone = m["tz"] or "Z"
    if zone[1:] == "00:00":
        zone = "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + zone


def _resolve_plain(value: str) -> str:
    """The tag go-yaml v3 gives an untagged plain scalar."""
    fixed = _FIXED.get(value)
    if fixed is not None:
        return fixed[0]
    first = value[0]
    if first == ".":
        return FLOAT_TAG if _DOT_FLOAT.fullmatch(value) else STR_TAG
    if first not in NUMERIC_START:
        return STR_TAG
    if first.isdigit() and _timestamp(value) is not None:
        return TIMESTAMP_TAG
    return number_tag(value, finite=True)


class GoYamlLoader(GoScalarLoader):
    """CSafeLoader with go-yaml v3 scalar typing and strict, JSON-like mappings."""

    # PyYAML hands out one object for an anchor and all its aliases; set when that happens
    # so the document can be copied apart (callers may change one place, not the other).
    aliased = False

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        if node in self.constructed_objects:
            self.aliased = True
        return super().construct_object(node, deep=deep)

    def plain_tag(self, value: str) -> str:
        return _resolve_plain(value)

    def construct_document(self, node: Any) -> Any:
        # PyYAML's general construction (generators for recursive structures, a state machine
        # per node) is most of the cost of loading; plain documents take a direct route.
        try:
            value = _construct_plain(self, node, set())
        except Exception:  # anything unusual, invalid included: the general route decides
            value = _NOT_PLAIN
        if value is _NOT_PLAIN:
            return super().construct_document(node)
        return value

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[str, Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            if not isinstance(key_node, ScalarNode) or key_node.tag != STR_TAG:
                raise ConstructorError(
                    None,
                    None,
                    f"mapping key {_node_text(key_node)} is not a string; quote it",
                    key_node.start_mark,
                )
            earlier = seen.setdefault(key_node.value, key_node)
            if earlier is not key_node:
                raise ConstructorError(
                    None,
                    None,
                    f"mapping key {key_node.value!r} already defined at line "
                    f"{earlier.start_mark.line + 1}",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


_NOT_PLAIN: Final = object()


def _construct_plain(loader: GoYamlLoader, node: Node, seen: set[int]) -> Any:
    """What the general construction gives for a document of maps with string keys, lists and
    scalars of the core tags; _NOT_PLAIN for anything else: merge keys, duplicate or
    non-string keys, other tags, and any node reached twice (aliases: the general route
    counts their expansion), which keeps this route to trees."""
    tag = node.tag
    if type(node) is ScalarNode:
        if tag == STR_TAG:
            return node.value
        if tag not in _PLAIN_SCALAR_TAGS:
            return _NOT_PLAIN
        return loader.yaml_constructors[tag](loader, node)
    if id(node) in seen:
        return _NOT_PLAIN
    seen.add(id(node))
    if type(node) is MappingNode and tag == MAP_TAG:
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode or key_node.tag != STR_TAG:
                return _NOT_PLAIN
            key = key_node.value
            if key in mapping:
                return _NOT_PLAIN
            value = _construct_plain(loader, value_node, seen)
            if value is _NOT_PLAIN:
                return _NOT_PLAIN
            mapping[key] = value
        return mapping
    if type(node) is SequenceNode and tag == SEQ_TAG:
        items = []
        for item_node in node.value:
            item = _construct_plain(loader, item_node, seen)
            if item is _NOT_PLAIN:
                return _NOT_PLAIN
            items.append(item)
        return items
    return _NOT_PLAIN


def _node_text(node: Node) -> str:
    if isinstance(node, ScalarNode):
        return repr(node.value)
    return "that is a list" if isinstance(node, SequenceNode) else "that is a map"


def _construct_timestamp(loader: GoYamlLoader, node: Node) -> str:
    value = _timestamp(loader.scalar(node))
    if value is None:
        raise ConstructorError(None, None, "invalid timestamp", node.start_mark)
    return value


def _construct_binary(loader: GoYamlLoader, node: Node) -> str:
    try:
        raw = base64.b64decode(loader.scalar(node), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ConstructorError(None, None, f"invalid base64: {exc}", node.start_mark) from exc
    return raw.decode("utf-8", errors="replace")


GoYamlLoader.add_constructor(TIMESTAMP_TAG, _construct_timestamp)
GoYamlLoader.add_constructor(BINARY_TAG, _construct_binary)

# Scalars the direct route builds, with the constructors registered for them.
_PLAIN_SCALAR_TAGS: Final = frozenset({INT_TAG, FLOAT_TAG, BOOL_TAG, NULL_TAG, TIMESTAMP_TAG})


class YamlSyntaxError(Exception):
    """YAML that cannot be read; line and column are 1-based, index is the document's."""

    def __init__(self, problem: str, index: int, line: int | None, column: int | None) -> None:
        self.problem = problem
        self.index = index
        self.line = line
        self.column = column
        super().__init__(self.describe())

    def describe(self) -> str:
        if self.line is None:
            return f"invalid YAML: {self.problem}"
        return f"invalid YAML at line {self.line}, column {self.column}: {self.problem}"


def iter_documents(data: bytes | str) -> Iterator[tuple[int, Any]]:
    """Yield (index, value) for every non-empty document; index counts empty ones too."""
    for index, value in enumerate(all_documents(data)):
        if value is not None:
            yield index, value


def all_documents(data: bytes | str) -> Iterator[Any]:
    """Every document's value, None for an empty one; raises YamlSyntaxError."""
    loader = GoYamlLoader(data)
    index = 0
    try:
        while loader.check_node():
            value = loader.construct_document(loader.get_node())
            if loader.aliased:
                value, loader.aliased = _unshare(value), False
            yield value
            index += 1
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, index) from None
    except ReaderError as exc:
        problem = f"{exc.reason} at byte {exc.position} (the file must be UTF-8 text)"
        raise YamlSyntaxError(problem, index, None, None) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(str(exc), index, None, None) from None
    except RecursionError:
        problem = "nesting is too deep (or an alias refers to itself)"
        raise YamlSyntaxError(problem, index, None, None) from None
    finally:
        loader.dispose()


# Aliases are expanded into copies; a "billion laughs" document would expand without end.
# go-yaml (kubectl's parser) refuses excessive aliasing too.
MAX_EXPANDED_NODES = 1_000_000


def _unshare(value: Any, budget: list[int] | None = None) -> Any:
    budget = budget if budget is not None else [MAX_EXPANDED_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise yaml.YAMLError(
            f"aliases expand to more than {MAX_EXPANDED_NODES:,} values; refusing to expand"
        )
    if type(value) is dict:
        return {key: _unshare(item, budget) for key, item in value.items()}
    if type(value) is list:
        return [_unshare(item, budget) for item in value]
    return value


def _syntax_error(exc: yaml.MarkedYAMLError, index: int) -> YamlSyntaxError:
    mark = exc.problem_mark or exc.context_mark
    problem = " ".join(part for part in (exc.context, exc.problem) if part) or str(exc)
    if mark is None:
        return YamlSyntaxError(problem, index, None, None)
    return YamlSyntaxError(problem, index, mark.line + 1, mark.column + 1)


def document_label(index: int, doc: Mapping[str, Any] | None = None) -> str:
    """'document 3' or 'document 3 (local.gitcops.io/File/motd)' for a 0-based index."""
    label = f"document {index + 1}"
    if doc is None:
        return label
    kind, metadata = doc.get("kind"), doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(kind, str) or not isinstance(name, str):
        return label
    api_version = doc.get("apiVersion")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
    where = f"namespaces/{namespace}/" if isinstance(namespace, str) and namespace else ""
    return f"{label} ({group}/{where}{kind}/{name})"


def load_documents(
    data: bytes, file: str, diags: Diagnostics, memo: DocumentMemo | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """The mapping documents of a YAML stream with their 0-based position in it.

    Empty documents are skipped (as kustomize does) but still counted, so indexes match
    what the user sees. Anything else that is not a mapping, and syntax errors, become
    diagnostics naming the file, the document and the line. With `memo`, documents parsed
    before (in this or an earlier run) are taken from it.
    """
    documents: list[tuple[int, dict[str, Any]]] = []
    values = memo.documents(data) if memo is not None else None
    pairs = iter_documents(data) if values is None else _non_empty(values)
    try:
        for index, value in pairs:
            if isinstance(value, dict):
                documents.append((index, value))
            else:
                diags.error(
                    f"expected a mapping, found {_shape(value)}",
                    file=file,
                    document=document_label(index),
                )
    except YamlSyntaxError as exc:
        diags.error(exc.describe(), file=file, document=document_label(exc.index))
    return documents


def _non_empty(values: list[Any]) -> Iterator[tuple[int, Any]]:
    return ((index, value) for index, value in enumerate(values) if value is not None)


def _shape(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return f"a {type(value).__name__} value"
