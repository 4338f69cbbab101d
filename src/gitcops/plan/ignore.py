"""Ignored fields (ignoreDifferences): the live object's values win where a rule points.

Argo CD's RespectIgnoreDifferences semantics: before live and desired are compared, the desired
spec takes the live values at the ignored pointers, so those fields never differ, and an update
that changes other fields writes them back as they are. Where the live object lacks a field,
the desired value stays (there is nothing to keep; the plan shows it being added). A create has
nothing live to take from and is applied as Git says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitcops.model.drift import pointer_tokens
from gitcops.plan.diff import same


def _index(node: list[Any], part: str) -> int | None:
    # RFC 6901: an array index is "0" or digits without a leading zero.
    if part.isascii() and part.isdigit() and (len(part) == 1 or not part.startswith("0")):
        i = int(part)
        return i if i < len(node) else None
    return None


def _step(node: Any, token: str) -> tuple[bool, Any, str | int]:
    if isinstance(node, dict):
        return token in node, node.get(token), token
    if isinstance(node, list):
        i = _index(node, token)
        return i is not None, node[i] if i is not None else None, i if i is not None else -1
    return False, None, token


def respect(
    desired: dict[str, Any], live: dict[str, Any] | None, pointers: Sequence[str]
) -> dict[str, Any]:
    """`desired` with the live values at `pointers` (document pointers: /spec/...).

    Copies only along the paths it changes; `desired` and `live` are never modified.
    """
    if live is None or not pointers:
        return desired
    out = desired
    for pointer in pointers:
        tokens = pointer_tokens(pointer)
        if not tokens:
            continue
        out = _put(out, live, tokens)
    return out


def _put(desired: Any, live: Any, tokens: tuple[str, ...]) -> Any:
    """`desired` with live's value at `tokens`, or `desired` itself when live has none."""
    token, rest = tokens[0], tokens[1:]
    found, value, key = _step(live, token)
    if not found:
        return desired
    if isinstance(desired, dict) and isinstance(key, str):
        if rest:
            inner = desired.get(key)
            if inner is None and isinstance(value, dict):
                inner = {}  # live holds the field in a mapping Git leaves out
            elif not isinstance(inner, dict | list):
                return desired
            value = _put(inner, value, rest)
            if value is inner:
                return desired
        elif key in desired and same(desired[key], value):
            return desired
        copy = dict(desired)
        copy[key] = value
        return copy
    if isinstance(desired, list) and isinstance(key, int) and key < len(desired):
        if rest:
            inner = desired[key]
            if not isinstance(inner, dict | list):
                return desired
            value = _put(inner, value, rest)
            if value is inner:
                return desired
        copy_list = list(desired)
        copy_list[key] = value
        return copy_list
    return desired
