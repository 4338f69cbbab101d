"""The one canonical JSON text of a value: what specs are hashed and stored as.

Sorted keys, no spaces, UTF-8 kept as is. Stored hashes (inventory spec hashes, the audit
chain) depend on these exact bytes, so this must never change for existing values.
"""

from __future__ import annotations

import json
from typing import Any

# Built once: json.dumps with keyword arguments builds an encoder on every call, and a run
# serializes a few values per resource.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_EMPTY: dict[type, str] = {tuple: "[]", list: "[]", dict: "{}"}


def canonical_json(value: Any) -> str:
    # Empty dependency lists and event details are most of what a run serializes per resource.
    if not value and (empty := _EMPTY.get(type(value))) is not None:
        return empty
    return _ENCODER.encode(value)
