"""Patch semantics shared by the kustomization renderer.

* ``strategic_merge``: kustomize's strategic-merge patch for kinds without an OpenAPI schema
  (every gitcops kind). Checked against ``kubectl kustomize`` (kustomize v5.5): it is RFC 7386
  JSON merge patch (maps merge, lists are replaced whole, ``null`` deletes) except that
  a map, a list and a scalar never replace one another (kustomize refuses the patch), and
  a map may carry ``$patch: delete`` / ``$patch: replace`` / ``$patch: merge``.
* ``merge_patch``: plain RFC 7386, for callers that want exactly the RFC.
* ``read_json_patch_text`` / ``parse_json_patch`` / ``apply_json_patch``: RFC 6902 as
  kustomize's json-patch library applies it (see the JSON patch section).
* ``compile_selector``: a kustomize patch ``target`` (anchored regexes plus Kubernetes label
  and annotation selectors).

Every function here leaves its arguments untouched. A result may share unchanged subtrees
with the document it was computed from, so the caller must treat that input as consumed.
"""

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, NamedTuple

from gitcops.model.errors import GitcopsError
from gitcops.render.goregex import GoRegexError, compile_go
from gitcops.render.yamldocs import go_json_number_text, json_number

__all__ = [
    "JsonLiteral",
    "LabelSelector",
    "PatchError",
    "Selector",
    "apply_json_patch",
    "clone",
    "compile_selector",
    "merge_patch",
    "parse_json_patch",
    "parse_label_selector",
    "read_json_patch_text",
    "strategic_merge",
]

Path = tuple[str | int, ...]


class PatchError(GitcopsError):
    """A patch that cannot be read or applied; `path` points into the patch (or the op list)."""

    def __init__(self, message: str, path: Sequence[str | int] = ()) -> None:
        self.message = message
        self.path: Path = tuple(path)
        super().__init__(message)


def clone(value: Any) -> Any:
    """Deep copy of JSON-like data, much faster than copy.deepcopy for it."""
    if type(value) is dict:
        return {key: clone(item) for key, item in value.items()}
    if type(value) is list:
        return [clone(item) for item in value]
    return value


# --- merge patches ---------------------------------------------------------------------

DIRECTIVE: Final = "$patch"
_STRATEGIES: Final = ("merge", "replace", "delete")


class _Clear:
    """Returned for a value that `$patch: delete` removes."""


_CLEAR: Final = _Clear()


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 / RFC 7396 JSON merge patch."""
    if not isinstance(patch, dict):
        return clone(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any] | None:
    """Apply a strategic-merge patch to a document of a kind without a schema.

    Returns the patched document, or None when the patch says ``$patch: delete``.
    """
    strategy = _strategy(patch, ())
    if strategy == "delete":
        return None
    if strategy == "replace":
        # kustomize silently ignores a whole patch that is marked this way.
        raise PatchError(
            "'$patch: replace' on a whole document is not supported (kustomize ignores it)",
            (DIRECTIVE,),
        )
    return _merge_map(target, patch, ())


def _strategy(patch: Mapping[str, Any], path: Path) -> str:
    strategy = patch.get(DIRECTIVE, "merge")
    if strategy not in _STRATEGIES:
        raise PatchError(
            f"unknown patch strategy {strategy!r}; expected one of {', '.join(_STRATEGIES)}",
            (*path, DIRECTIVE),
        )
    return str(strategy)


def _merge_map(dest: dict[str, Any], patch: Mapping[str, Any], path: Path) -> dict[str, Any]:
    result = dict(dest)
    for key, value in patch.items():
        if key == DIRECTIVE:
            continue
        if value is None:
            result.pop(key, None)
            continue
        merged = _merge_value(result.get(key), value, (*path, key))
        if merged is _CLEAR:
            result.pop(key, None)
        else:
            result[key] = merged
    return result


def _merge_value(dest: Any, patch: Any, path: Path) -> Any:
    """Merge `patch` (not null) into `dest`, which is None when missing or null."""
    empty = dest is None
    if not empty and _shape(dest) != _shape(patch):
        raise _kind_conflict(dest, patch, path)
    if not isinstance(patch, dict):
        return clone(patch)
    strategy = _strategy(patch, path)
    if strategy == "delete":
        return _CLEAR
    if empty or strategy == "replace":
        return _merge_map({}, patch, path)
    return _merge_map(dest, patch, path)


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    return "a scalar"


def _kind_conflict(dest: Any, patch: Any, path: Path) -> PatchError:
    return PatchError(
        f"the patch has {_shape(patch)} where the target has {_shape(dest)}; "
        "kustomize cannot merge them (use a JSON 6902 'replace' to change the type)",
        path,
    )


# --- JSON patch (RFC 6902, as kustomize applies it) ---------------------------------------
#
# kustomize v5.5 applies JSON patches with evanphx/json-patch v5, which differs from RFC 6902
# in ways a patch can observe; each was checked against kubectl and is reproduced here:
# `replace` of a missing object member adds it; `copy` from a missing member adds null; an
# array index may be negative (counted from the end) or written with leading zeros; `test`
# of a missing member against null passes; `test` compares numbers by their JSON text, so
# a JSON-text patch's 1.0 equals nothing (Go never writes 1.0), and crashes (kubectl exits
# with an error) on a null inside an array it compares. The patched document goes through
# float64: an integer beyond 2**53 loses its low digits, as kubectl prints it.

_OP_MEMBERS: Final[dict[str, tuple[str, ...]]] = {
    "add": ("path", "value"),
    "remove": ("path",),
    "replace": ("path", "value"),
    "move": ("from", "path"),
    "copy": ("from", "path"),
    "test": ("path", "value"),
}
_INDEX = re.compile(r"[-+]?[0-9]+")  # what Go's strconv.Atoi reads


class JsonLiteral(NamedTuple):
    """A number in a JSON-text patch, as written: `test` compares it as text."""

    text: str


class _NotApplicableError(Exception):
    """An operation that does not apply to this document."""


def read_json_patch_text(text: str) -> Any:
    """A patch written as JSON text (it starts with '['). Numbers are kept as JsonLiteral
    until parse_json_patch knows which operation holds them; NaN and Infinity are refused
    (Go's JSON has no such numbers). Raises ValueError."""

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_float=JsonLiteral, parse_int=JsonLiteral, parse_constant=constant)


def parse_json_patch(ops: Any) -> list[dict[str, Any]]:
    """Check that `ops` is a well-formed RFC 6902 operation list and return it. JsonLiterals
    stay as written until the patch is applied: a value added then tested by the same patch
    is compared as written, as kustomize compares it."""
    if not isinstance(ops, list):
        raise PatchError(f"a JSON patch is a list of operations, not {_shape(ops)}")
    for index, op in enumerate(ops):
        _check_op(op, index)
        if "value" in op:
            _check_numbers(op["value"], (index, "value"))
    return ops


def _check_numbers(value: Any, path: Path) -> None:
    if isinstance(value, JsonLiteral):
        if _FLOAT_TEXT.search(value.text) and not math.isfinite(float(value.text)):
            raise PatchError(
                f"{value.text} is too large for a float64 (kustomize refuses it)", path
            )
    elif type(value) is dict:
        for key, item in value.items():
            _check_numbers(item, (*path, key))
    elif type(value) is list:
        for index, item in enumerate(value):
            _check_numbers(item, (*path, index))


_FLOAT_TEXT = re.compile(r"[.eE]")


def _check_op(op: Any, index: int) -> None:
    if not isinstance(op, dict):
        raise PatchError(f"operation {index + 1} must be a map, not {_shape(op)}", (index,))
    name = op.get("op")
    if not isinstance(name, str) or name not in _OP_MEMBERS:
        expected = ", ".join(_OP_MEMBERS)
        raise PatchError(f"unknown op {name!r}; expected one of {expected}", (index, "op"))
    for member in _OP_MEMBERS[name]:
        if member not in op:
            raise PatchError(f"the {name!r} operation needs {member!r}", (index,))
        if member in ("path", "from"):
            _check_pointer(op[member], (index, member))


def _check_pointer(pointer: Any, path: Path) -> None:
    if not isinstance(pointer, str):
        raise PatchError(f"a JSON pointer is a string, not {_shape(pointer)}", path)
    if pointer and (not pointer.startswith("/") or re.search(r"~(?![01])", pointer)):
        raise PatchError(
            f"invalid JSON pointer {pointer!r}: it starts with '/' and escapes '~' and '/' "
            "as ~0 and ~1",
            path,
        )


def _tokens(pointer: str) -> list[str]:
    return [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]


def apply_json_patch(doc: Any, ops: Sequence[Mapping[str, Any]]) -> Any:
    """Apply checked operations (see parse_json_patch) in order, as kustomize does; all or
    nothing."""
    root: list[Any] = [clone(doc)]  # a box, so that a path "" can replace the document
    for index, op in enumerate(ops):
        try:
            _OPERATIONS[op["op"]](root, op)
        except _NotApplicableError as exc:
            where = f"{op['op']} {op.get('path')!r}"
            raise PatchError(f"operation {index + 1} ({where}) failed: {exc}", (index,)) from None
    return _through_float64(root[0])


def _through_float64(value: Any) -> Any:
    """kustomize reads the patched document back from JSON into float64s (and prints them
    as kubectl does, see json_number)."""
    if type(value) is dict:
        return {key: _through_float64(item) for key, item in value.items()}
    if type(value) is list:
        return [_through_float64(item) for item in value]
    if type(value) is int and abs(value) > _EXACT_IN_FLOAT:
        return json_number(float(value))
    if type(value) is JsonLiteral:
        return json_number(float(value.text))
    return value


_EXACT_IN_FLOAT: Final = 2**53


def _parent(root: list[Any], pointer: str) -> tuple[Any, str]:
    """The container holding the last token of `pointer`, and that token."""
    tokens = _tokens(pointer)
    container: Any = root[0]
    for token in tokens[:-1]:
        found = _get(container, token)
        if not isinstance(found, (dict, list)):
            raise _NotApplicableError(f"the document has no {pointer!r}")
        container = found
    if not isinstance(container, (dict, list)):
        raise _NotApplicableError(f"the document has no {pointer!r}")
    return container, tokens[-1]


def _get(container: Any, token: str) -> Any:
    """The member `token` of a container; None when an object lacks it (kustomize's
    json-patch does not tell a missing member from a null one)."""
    if token == "" and isinstance(container, (dict, list)):
        return container  # json-patch's get("") is the container itself
    if isinstance(container, dict):
        return container.get(token)
    if isinstance(container, list):
        return container[_array_index(container, token, len(container) - 1)]
    raise _NotApplicableError(f"{token!r} is inside a scalar")


def _array_index(items: list[Any], token: str, last: int) -> int:
    """Go's strconv.Atoi of `token`, negative counting from the end, within 0..last."""
    if not _INDEX.fullmatch(token):
        raise _NotApplicableError(f"{token!r} is not an array index")
    index = int(token)
    if index < 0:
        index += last + 1
    if not 0 <= index <= last:
        raise _NotApplicableError(f"index {token} is out of range for an array of {len(items)}")
    return index


def _add(root: list[Any], op: Mapping[str, Any]) -> None:
    if op["path"] == "":
        root[0] = clone(op["value"])
    else:
        _insert(root, op["path"], clone(op["value"]))


def _insert(root: list[Any], pointer: str, value: Any) -> None:
    """Add `value` at `pointer`; "" names the root's member "" here (only `add` replaces the
    whole document), as in kustomize's json-patch."""
    container, token = _parent(root, pointer) if pointer else (root[0], "")
    if isinstance(container, dict):
        container[token] = value
    elif token == "-":  # noqa: S105 (the RFC 6902 end-of-array token)
        container.append(value)
    else:
        container.insert(_array_index(container, token, len(container)), value)


def _remove(root: list[Any], op: Mapping[str, Any]) -> None:
    _take(root, op["path"])


def _take(root: list[Any], pointer: str) -> Any:
    container, token = _parent(root, pointer)
    if isinstance(container, dict):
        if token not in container:
            raise _NotApplicableError(f"there is no member {token!r} to remove")
        return container.pop(token)
    return container.pop(_array_index(container, token, len(container) - 1))


def _replace(root: list[Any], op: Mapping[str, Any]) -> None:
    if op["path"] == "":
        if not isinstance(op["value"], (dict, list)):
            raise _NotApplicableError("the whole document can only be replaced by a map or a list")
        root[0] = clone(op["value"])
        return
    container, token = _parent(root, op["path"])
    if isinstance(container, dict):
        container[token] = clone(op["value"])  # a missing member is added, as in kustomize
    else:
        container[_array_index(container, token, len(container) - 1)] = clone(op["value"])


def _move(root: list[Any], op: Mapping[str, Any]) -> None:
    if op["from"] == "":
        raise _NotApplicableError("the whole document cannot be moved")
    _insert(root, op["path"], _take(root, op["from"]))


def _copy(root: list[Any], op: Mapping[str, Any]) -> None:
    if op["from"] == "":
        value = root[0]
    else:
        container, token = _parent(root, op["from"])
        value = _get(container, token)  # a missing member copies as null, as in kustomize
    _insert(root, op["path"], clone(value))


def _test(root: list[Any], op: Mapping[str, Any]) -> None:
    expected = op["value"]
    if op["path"] == "":
        actual = root[0]
    else:
        container, token = _parent(root, op["path"])
        actual = _get(container, token)
    if actual is None or expected is None:
        if actual is None and expected is None:
            return
        raise _NotApplicableError("the value differs")
    if not _equal(actual, expected):
        raise _NotApplicableError("the value differs")


def _equal(actual: Any, expected: Any) -> bool:
    """json-patch's comparison: numbers by their JSON text, maps by members, arrays item by
    item; a null inside an array makes it crash (kubectl fails), reported as a difference."""
    if isinstance(actual, dict):
        if not isinstance(expected, dict) or actual.keys() != expected.keys():
            return False
        return all(
            (value is None) == (expected[key] is None)
            and (value is None or _equal(value, expected[key]))
            for key, value in actual.items()
        )
    if isinstance(actual, list):
        if not isinstance(expected, list) or len(actual) != len(expected):
            return False
        for item, other in zip(actual, expected, strict=True):
            if item is None or other is None:
                raise _NotApplicableError(
                    "kustomize's json-patch crashes on a null inside a tested array"
                )
            if not _equal(item, other):
                return False
        return True
    if isinstance(expected, (dict, list)):
        return False
    return _scalar_text(actual) == _scalar_text(expected)


def _scalar_text(value: Any) -> str:
    if isinstance(value, JsonLiteral):
        return value.text
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return go_json_number_text(value)
    return "s" + str(value)  # a string: compared by its value, never equal to a number


_OPERATIONS: Final[dict[str, Callable[[list[Any], Mapping[str, Any]], None]]] = {
    "add": _add,
    "remove": _remove,
    "replace": _replace,
    "move": _move,
    "copy": _copy,
    "test": _test,
}


# --- target selectors --------------------------------------------------------------------

_QUALIFIED_NAME = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?")
_SELECTOR_TOKEN = re.compile(r"\s*(?:(==|!=|[=!(),<>])|([^\s=!(),<>]+))")
_INTEGER = re.compile(r"[-+]?[0-9]+")


class _Requirement(NamedTuple):
    key: str
    operator: str  # exists, !, in, notin, gt, lt
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, Any]) -> bool:
        present = self.key in labels
        value = str(labels[self.key]) if present else ""
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator == "in":
            return present and value in self.values
        if self.operator == "notin":
            return not present or value not in self.values
        if not present or not _INTEGER.fullmatch(value):
            return False
        (bound,) = self.values
        return int(value) > int(bound) if self.operator == "gt" else int(value) < int(bound)


class LabelSelector(NamedTuple):
    """A Kubernetes label selector (``a=b,c in (d,e),!f``), as kustomize's targets use it."""

    text: str
    requirements: tuple[_Requirement, ...]

    def matches(self, labels: Mapping[str, Any]) -> bool:
        return all(requirement.matches(labels) for requirement in self.requirements)


class _SelectorParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._lex(text)
        self.pos = 0

    def _lex(self, text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _SELECTOR_TOKEN.match(text, pos)
            if m is None:
                break  # only trailing whitespace is left
            tokens.append(("op", m[1]) if m[1] else ("word", m[2]))
            pos = m.end()
        return tokens

    def fail(self, expected: str) -> PatchError:
        found = self.tokens[self.pos][1] if self.pos < len(self.tokens) else "the end"
        return PatchError(f"invalid selector {self.text!r}: found {found!r}, expected {expected}")

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str] | None:
        token = self.peek()
        self.pos += 1
        return token

    def parse(self) -> LabelSelector:
        requirements: list[_Requirement] = []
        if self.peek() is None:
            return LabelSelector(self.text, ())
        while True:
            requirements.append(self.requirement())
            token = self.take()
            if token is None:
                return LabelSelector(self.text, tuple(requirements))
            if token != ("op", ","):
                self.pos -= 1
                raise self.fail("',' or the end")

    def requirement(self) -> _Requirement:
        if self.peek() == ("op", "!"):
            self.pos += 1
            return _Requirement(self.key(), "!")
        key = self.key()
        token = self.peek()
        if token is None or token == ("op", ","):
            return _Requirement(key, "exists")
        self.pos += 1
        if token in (("word", "in"), ("word", "notin")):
            return _Requirement(key, token[1], self.value_set())
        if token in (("op", "="), ("op", "==")):
            return _Requirement(key, "in", frozenset({self.value()}))
        if token == ("op", "!="):
            return _Requirement(key, "notin", frozenset({self.value()}))
        if token in (("op", ">"), ("op", "<")):
            bound = self.value()
            if not _INTEGER.fullmatch(bound):
                self.pos -= 1
                raise self.fail("an integer")
            return _Requirement(key, "gt" if token[1] == ">" else "lt", frozenset({bound}))
        self.pos -= 1
        raise self.fail("'=', '==', '!=', 'in', 'notin', '>' or '<'")

    def key(self) -> str:
        token = self.take()
        if token is None or token[0] != "word":
            self.pos -= 1
            raise self.fail("a label key")
        prefix, _, name = token[1].rpartition("/")
        if not _QUALIFIED_NAME.fullmatch(name) or (prefix and not _DNS_SUBDOMAIN.fullmatch(prefix)):
            raise PatchError(f"invalid selector {self.text!r}: {token[1]!r} is not a label key")
        return token[1]

    def value(self) -> str:
        token = self.peek()
        if token is None or token[0] != "word":
            return ""  # "a=" selects an empty value
        self.pos += 1
        if not _LABEL_VALUE.fullmatch(token[1]):
            raise PatchError(f"invalid selector {self.text!r}: {token[1]!r} is not a label value")
        return token[1]

    def value_set(self) -> frozenset[str]:
        if self.take() != ("op", "("):
            self.pos -= 1
            raise self.fail("'('")
        values = {self.value()}
        while True:
            token = self.take()
            if token == ("op", ")"):
                return frozenset(values)
            if token != ("op", ","):
                self.pos -= 1
                raise self.fail("',' or ')'")
            values.add(self.value())


def parse_label_selector(text: str) -> LabelSelector:
    return _SelectorParser(text).parse()


_TARGET_FIELDS: Final = (
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
)
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_-]+")


class TargetRegex(NamedTuple):
    """A target field: a Go regular expression (RE2 syntax, as kustomize compiles it:
    `[[:alpha:]]` works, lookaround does not), anchored as kustomize anchors it."""

    source: str
    compiled: re.Pattern[str]

    def matches(self, value: str) -> bool:
        return self.compiled.search(value) is not None


class Selector(NamedTuple):
    """A compiled patch target. Regexes are anchored at both ends, as kustomize does."""

    group: TargetRegex | None = None
    version: TargetRegex | None = None
    kind: TargetRegex | None = None
    name: TargetRegex | None = None
    namespace: TargetRegex | None = None
    labels: LabelSelector | None = None
    annotations: LabelSelector | None = None

    @property
    def exact_name(self) -> str | None:
        """The only name this selector can match, if its name is a plain word (for indexes)."""
        return _exact(self.name)

    @property
    def exact_kind(self) -> str | None:
        return _exact(self.kind)

    def matches(
        self,
        *,
        group: str,
        version: str,
        kind: str,
        names: tuple[str, str],
        namespaces: tuple[str, str],
        labels: Mapping[str, Any],
        annotations: Mapping[str, Any],
    ) -> bool:
        """names and namespaces are (original, current); either one may match."""
        return (
            _either(self.namespace, namespaces)
            and _either(self.name, names)
            and _one(self.group, group)
            and _one(self.version, version)
            and _one(self.kind, kind)
            and (self.labels is None or self.labels.matches(labels))
            and (self.annotations is None or self.annotations.matches(annotations))
        )


def _exact(pattern: TargetRegex | None) -> str | None:
    if pattern is None:
        return None
    return pattern.source if _PLAIN_WORD.fullmatch(pattern.source) else None


def _one(pattern: TargetRegex | None, value: str) -> bool:
    return pattern is None or pattern.matches(value)


def _either(pattern: TargetRegex | None, values: tuple[str, str]) -> bool:
    return pattern is None or any(pattern.matches(value) for value in values)


def _anchored(field: str, pattern: str) -> TargetRegex:
    try:
        # kustomize compiles "^(?:" + pattern + ")$" and searches with it; so do we, which
        # keeps even a pattern that closes the group itself ("a)|(b") meaning what it means
        # there.
        return TargetRegex(pattern, compile_go(f"^(?:{pattern})$"))
    except GoRegexError as exc:
        raise PatchError(
            f"invalid regular expression {pattern!r}: {exc} (kustomize reads Go's RE2 syntax)",
            (field,),
        ) from None


def compile_selector(raw: Any) -> Selector:
    """Compile a kustomize target; errors carry the offending field in `path`."""
    if not isinstance(raw, dict):
        raise PatchError(f"a target is a map, not {_shape(raw)}")
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _TARGET_FIELDS:
            raise PatchError(f"field {key} is not supported by gitcops", (key,))
        if value is not None and not isinstance(value, str):
            raise PatchError(f"must be a string, not {_shape(value)}", (key,))
        if not value:
            continue  # kustomize treats an empty field as no constraint
        if key in ("labelSelector", "annotationSelector"):
            try:
                parsed = parse_label_selector(value)
            except PatchError as exc:
                raise PatchError(exc.message, (key,)) from None
            fields["labels" if key == "labelSelector" else "annotations"] = parsed
        else:
            fields[key] = _anchored(key, value)
    return Selector(**fields)
