"""Multi-document YAML loading that types scalars the way kubectl/kustomize do.

Parsing uses PyYAML's C parser (``yaml.CSafeLoader``). Plain scalars are typed like
go-yaml v3, which kustomize reads resources with, rather than like YAML 1.1: ``yes``/``on``
stay strings, ``0o17`` and ``0644`` are octal integers, ``1:20`` is a string, and an
unquoted date becomes the RFC 3339 string kustomize prints. kustomize prints every value
after a trip through JSON, so a float is read as the number that trip gives back: a whole
one is an integer (``1e1`` is 10, ``1.0`` is 1) and NaN and infinity, which JSON cannot
hold, are refused (as kubectl refuses them). Otherwise a document rendered by gitcops and
by ``kubectl kustomize`` would not hold the same values.

``Yaml11Loader`` reads what kustomize reads with go-yaml v2 (YAML 1.1): the kustomization
file and JSON 6902 patches written in YAML. There ``yes``/``on``/``y`` and their opposites
are booleans and a date stays the text it was written as.

Documents must be JSON-like: duplicate keys and keys that are not strings are errors
(kustomize rejects both), unknown tags are read as plain values as go-yaml does.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import math
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
    "Yaml11Loader",
    "YamlSyntaxError",
    "all_documents",
    "document_label",
    "go_json_number_text",
    "iter_documents",
    "json_number",
    "load_documents",
    "metadata_texts",
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
            _times_as_written(node, in_flow=False, seen=set())
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


def _construct_plain(
    loader: GoYamlLoader, node: Node, seen: set[int], in_flow: bool = False
) -> Any:
    """What the general construction gives for a document of maps with string keys, lists and
    scalars of the core tags; _NOT_PLAIN for anything else: merge keys, duplicate or
    non-string keys, other tags, and any node reached twice (aliases: the general route
    counts their expansion), which keeps this route to trees. `in_flow`: inside a flow
    collection (see _times_as_written)."""
    tag = node.tag
    if type(node) is ScalarNode:
        if tag == STR_TAG:
            return node.value
        if tag not in _PLAIN_SCALAR_TAGS:
            return _NOT_PLAIN
        if in_flow and tag == TIMESTAMP_TAG and _time_as_written(node):
            return node.value
        return loader.yaml_constructors[tag](loader, node)
    if id(node) in seen:
        return _NOT_PLAIN
    seen.add(id(node))
    in_flow = in_flow or node.flow_style  # type: ignore[attr-defined]
    if type(node) is MappingNode and tag == MAP_TAG:
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not ScalarNode or key_node.tag != STR_TAG:
                return _NOT_PLAIN
            key = key_node.value
            if key in mapping:
                return _NOT_PLAIN
            value = _construct_plain(loader, value_node, seen, in_flow)
            if value is _NOT_PLAIN:
                return _NOT_PLAIN
            mapping[key] = value
        return mapping
    if type(node) is SequenceNode and tag == SEQ_TAG:
        items = []
        for item_node in node.value:
            item = _construct_plain(loader, item_node, seen, in_flow)
            if item is _NOT_PLAIN:
                return _NOT_PLAIN
            items.append(item)
        return items
    return _NOT_PLAIN


def _times_as_written(node: Node, *, in_flow: bool, seen: set[int]) -> None:
    """Inside a flow collection (`{a: ...}`, `[...]`) kubectl prints a timestamp with a
    time of day as written (2001-12-14t21:59:43.10-05:00), and rewrites it elsewhere (to
    2001-12-14T21:59:43.1-05:00); a date alone is rewritten everywhere. Checked against
    kubectl v5.5. For the general construction route, such scalars are retagged as strings
    (the direct route checks them as it goes)."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, ScalarNode):
        if in_flow and node.tag == TIMESTAMP_TAG and _time_as_written(node):
            node.tag = STR_TAG
        return
    in_flow = in_flow or bool(getattr(node, "flow_style", False))
    if isinstance(node, MappingNode):
        for key, value in node.value:
            _times_as_written(key, in_flow=in_flow, seen=seen)
            _times_as_written(value, in_flow=in_flow, seen=seen)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            _times_as_written(item, in_flow=in_flow, seen=seen)


def _time_as_written(node: ScalarNode) -> bool:
    return not node.style and ":" in node.value


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


_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1
_EXACT_IN_FLOAT = 2**53


def json_number(value: float) -> int | float:
    """The number kustomize prints for a float64: Go's JSON writes a whole one below 1e21 as
    its shortest digits without a point (9.223372036854776e18 as 9223372036854776000), and
    reading that back gives an integer when it fits 64 bits. NaN and infinity stay as they
    are (callers refuse them)."""
    if not value.is_integer() or abs(value) >= 1e21:
        return value
    if abs(value) < _EXACT_IN_FLOAT:
        return int(value)
    from decimal import Decimal  # rarely needed: only for floats beyond 2**53

    whole = int(Decimal(repr(value)))
    return whole if _INT64_MIN <= whole <= _UINT64_MAX else value


def go_json_number_text(value: int | float) -> str:
    """The text Go's encoding/json writes for a number (an int as is, a float64 in the
    shortest form, 'e' notation below 1e-6 and from 1e21, exponent "e-7" not "e-07")."""
    from decimal import Decimal

    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    if 1e-6 <= abs(value) < 1e21:
        return format(Decimal(repr(value)).normalize(), "f")
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    power = exponent + len(text) - 1
    mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}".replace(
        "e-0", "e-"
    )


_go_float = GoYamlLoader.yaml_constructors[FLOAT_TAG]


def _construct_json_float(loader: GoYamlLoader, node: Node) -> int | float:
    value = _go_float(loader, node)
    if not math.isfinite(value):
        raise ConstructorError(
            None,
            None,
            f"{loader.scalar(node)} is not a number JSON can hold; kustomize refuses it",
            node.start_mark,
        )
    return json_number(value)


GoYamlLoader.add_constructor(FLOAT_TAG, _construct_json_float)
GoYamlLoader.add_constructor(TIMESTAMP_TAG, _construct_timestamp)
GoYamlLoader.add_constructor(BINARY_TAG, _construct_binary)

# go-yaml v2's booleans beyond YAML 1.2's true/false.
_YAML11_BOOLS: Final = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "off", "Off", "OFF"), False),
}


class Yaml11Loader(GoYamlLoader):
    """GoYamlLoader with go-yaml v2's typing (YAML 1.1), as sigs.k8s.io/yaml reads: more
    booleans, and a timestamp is kept as the text written (v2 hands out the text when the
    target is untyped)."""

    def plain_tag(self, value: str) -> str:
        if value in _YAML11_BOOLS:
            return BOOL_TAG
        tag = _resolve_plain(value)
        return STR_TAG if tag == TIMESTAMP_TAG else tag


def _construct_yaml11_bool(loader: GoYamlLoader, node: Node) -> bool:
    value = _YAML11_BOOLS.get(loader.scalar(node))
    return _go_bool(loader, node) if value is None else value


def _construct_text(loader: GoYamlLoader, node: Node) -> str:
    return loader.scalar(node)


_go_bool = GoYamlLoader.yaml_constructors[BOOL_TAG]
Yaml11Loader.add_constructor(BOOL_TAG, _construct_yaml11_bool)
Yaml11Loader.add_constructor(TIMESTAMP_TAG, _construct_text)

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


def iter_documents(
    data: bytes | str, loader_class: type[GoYamlLoader] = GoYamlLoader
) -> Iterator[tuple[int, Any]]:
    """Yield (index, value) for every non-empty document; index counts empty ones too."""
    for index, value in enumerate(all_documents(data, loader_class)):
        if value is not None:
            yield index, value


def all_documents(
    data: bytes | str, loader_class: type[GoYamlLoader] = GoYamlLoader
) -> Iterator[Any]:
    """Every document's value, None for an empty one; raises YamlSyntaxError."""
    loader = loader_class(data)
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


def metadata_texts(data: str) -> dict[int, dict[str, dict[str, str | None]]]:
    """For each document (by index, as iter_documents counts them): the text written for
    each value under metadata.labels and metadata.annotations; None for a null, a map or a
    list. For text that iter_documents has read already (its errors are not repeated)."""
    found: dict[int, dict[str, dict[str, str | None]]] = {}
    loader = GoYamlLoader(data)
    try:
        index = 0
        while loader.check_node():
            fields = _mapping_items(_mapping_items(loader.get_node()).get("metadata"))
            found[index] = {
                name: {key: _scalar_text(value) for key, value in _mapping_items(node).items()}
                for name, node in fields.items()
                if name in ("labels", "annotations")
            }
            index += 1
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()
    return found


def _mapping_items(node: Node | None) -> dict[str, Node]:
    if not isinstance(node, MappingNode):
        return {}
    return {key.value: value for key, value in node.value if isinstance(key, ScalarNode)}


def _scalar_text(node: Node) -> str | None:
    if not isinstance(node, ScalarNode) or node.tag == NULL_TAG:
        return None
    return str(node.value)


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
    data: bytes,
    file: str,
    diags: Diagnostics,
    memo: DocumentMemo | None = None,
    loader_class: type[GoYamlLoader] = GoYamlLoader,
) -> list[tuple[int, dict[str, Any]]]:
    """The mapping documents of a YAML stream with their 0-based position in it.

    Empty documents are skipped (as kustomize does) but still counted, so indexes match
    what the user sees. Anything else that is not a mapping, and syntax errors, become
    diagnostics naming the file, the document and the line. With `memo`, documents parsed
    before (in this or an earlier run) are taken from it; it holds GoYamlLoader's values.
    """
    documents: list[tuple[int, dict[str, Any]]] = []
    values = memo.documents(data) if memo is not None else None
    pairs = iter_documents(data, loader_class) if values is None else _non_empty(values)
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
