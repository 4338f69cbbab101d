"""The one canonical JSON text of a value: what specs are hashed and stored as.

Sorted keys, no spaces, UTF-8 kept as is. Stored hashes (inventory spec hashes, the audit
chain) depend on these exact bytes, so this must never change for existing values.
"""

from __future__ import annotations

import json
import marshal
from typing import Any

# Built once: json.dumps with keyword arguments builds an encoder on every call, and a run
# serializes a few values per resource.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_EMPTY: dict[type, str] = {tuple: "[]", list: "[]", dict: "{}"}


def canonical_json(value: Any) -> str:
    # Empty dependency lists and event details are most of what a run serializes per resource.
    if not value and (empty := _EMPTY.get(type(value))) is not None:
        return empty
    return _ENCODER.encode(value)


def exact_json(value: Any) -> str | None:
    """Compact JSON text of `value` if reading it back gives `value` exactly, else None
    (tuples, sets, non-string keys, NaN, nesting too deep): what the memos may keep. The
    encoder is built once: the memos write one text per document."""
    try:
        text = _COMPACT.encode(value)
        return text if json.loads(text) == value else None
    except (TypeError, ValueError, RecursionError):
        return None


def value_bytes(value: Any) -> bytes | None:
    """Bytes that tell values apart, to hash into a cache key; None for a value that is not
    plain data (or nests too deep). Two to three times faster than canonical_json.

    marshal's version 0 format writes every string, number and container in full, whatever
    objects are shared or interned, so equal values built in the same order give equal bytes
    and different values never do. Mappings are written in their order, not sorted: a
    document whose keys come in another order gets another key, and is only worked out
    again (a cache miss), never mistaken for another; so does a set, whose order changes from
    one process to the next."""
    try:
        return marshal.dumps(value, 0)
    except (ValueError, RecursionError):
        return None
