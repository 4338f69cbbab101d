"""Values that came from secrets: where they sit in a spec, and how they are shown and stored.

A spec holds plaintext only in memory, on its way to a provider. Everywhere else (plans, state,
policy input, output) each sensitive field is replaced: by MARKER where people or policies look,
and by a token carrying a keyed hash (HMAC-SHA256, a per-installation key) where gitcops must
later tell whether the value changed without knowing it.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from gitcops.model.canonical import canonical_json

FieldPath = tuple[str | int, ...]

MARKER = "(sensitive value)"
_TOKEN_PREFIX = "(sensitive value, hmac-sha256:"  # noqa: S105 - a label, not a password
CHANGED = "(sensitive value changed)"


def is_token(value: object) -> bool:
    return isinstance(value, str) and (
        value == MARKER or (value.startswith(_TOKEN_PREFIX) and value.endswith(")"))
    )


def may_hold_tokens(text: str) -> bool:
    """A cheap test on serialized text before walking it for tokens."""
    return MARKER[:-1] in text


def _canonical(value: Any) -> bytes:
    return canonical_json(value).encode()


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return isinstance(part, str) and part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def lookup(tree: Any, path: FieldPath) -> tuple[bool, Any]:
    node = tree
    for part in path:
        if not _has(node, part):
            return False, None
        node = node[part]
    return True, node


def _replace(tree: Any, paths: Iterable[FieldPath], value_for: Any) -> Any:
    out = copy.deepcopy(tree)
    for path in paths:
        if not path:
            return value_for(out)
        found, parent = lookup(out, path[:-1])
        last = path[-1]
        if not found:
            continue
        if _has(parent, last):
            parent[last] = value_for(parent[last])
    return out


def mask(tree: Any, paths: Iterable[FieldPath]) -> Any:
    """A copy for people and policies: every sensitive field says MARKER."""
    return _replace(tree, paths, lambda _value: MARKER)


def find(
    tree: Any, match: Callable[[Any], bool], prefix: FieldPath = ()
) -> Iterator[tuple[FieldPath, Any]]:
    """Every node `match` accepts, with its path; accepted nodes are not searched further."""
    if match(tree):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from find(value, match, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from find(value, match, (*prefix, index))


def token_paths(tree: Any) -> Iterator[FieldPath]:
    """Where a stored (protected) spec holds tokens: the fields that were sensitive."""
    return (path for path, _ in find(tree, is_token))


def texts_at(tree: Any, paths: Iterable[FieldPath]) -> set[str]:
    """The sensitive values of `tree` as they could appear in a message.

    Besides each value (and its repr), the pieces of a structured string, so that a message
    quoting a URL with its credentials rewritten still loses the token in its query.
    """
    found: set[str] = set()
    for path in paths:
        present, value = lookup(tree, path)
        if present:
            found.update(_texts(value))
    return found


_PIECES = re.compile(r"[/:?&=@#;,\s]+")
_MIN_PIECE = 6  # shorter pieces of a URL are its scheme, a port, a word: not worth hiding


def _texts(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in (*_texts(k), *_texts(v))]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, str):
        if not value:
            return []
        pieces = [p for p in _PIECES.split(value) if len(p) >= _MIN_PIECE]
        return [value, repr(value), *pieces]
    return [json.dumps(value), repr(value)]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of a secret replaced by MARKER (messages quote values).

    Longest first: a secret that contains another must go whole, not leave its remainder."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, MARKER)
    return text


def under(path: FieldPath, sensitive: Iterable[FieldPath]) -> bool:
    """Whether `path` is a sensitive field, inside one, or holds one."""
    for field in sensitive:
        shorter = min(len(field), len(path))
        if field[:shorter] == path[:shorter]:
            return True
    return False


class Redactor:
    """Keyed hashing of sensitive values; one key per installation, never stored with them."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the redaction key must be at least 32 bytes")
        self._key = key

    def token(self, value: Any) -> str:
        if is_token(value):
            return str(value)
        digest = hmac.new(self._key, _canonical(value), hashlib.sha256).hexdigest()
        return f"{_TOKEN_PREFIX}{digest})"

    def protect(self, tree: Any, paths: Iterable[FieldPath]) -> Any:
        """A copy to store or save: every sensitive field is its token."""
        return _replace(tree, paths, self.token)
