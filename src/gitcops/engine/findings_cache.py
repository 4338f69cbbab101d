"""Raw resource findings (policy results, plaintext-secret hits) cached per document.

A commit that changes one document then costs the evaluation of that document only, where the
tree-level cache in policy_check misses as a whole. An entry is keyed by the document's entire
policy input (spec, metadata and the `gitcops` block: project, environment, provider, file and
position), since the findings are a function of it alone; the file holding the entries is keyed
by everything else they depend on (policy sources and settings, namespaces, and the code: see
the policy check's `_bundle_key`). Waivers are applied after the cache, so expiring ones are
never cached.

Results hold no secret material: only policy messages and detect-secrets' hash prefixes, as the
tree-level cache already does.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitcops.engine.cache import write_atomic
from gitcops.model.canonical import value_bytes

FOLDER = "policy-documents"  # in the cache directory

# A policy result: (namespace, rule, message, details, policy file or None).
PolicyRow = tuple[str, str, str, dict[str, Any], str | None]
# A plaintext-secret hit: (field path, what was found).
SecretRow = tuple[tuple[str | int, ...], str]


def document_key(document: Mapping[str, Any]) -> str | None:
    """None for a document that is not plain data (odd types): not cached."""
    data = value_bytes(document)
    return None if data is None else hashlib.sha256(data).hexdigest()


class DocumentFindings:
    """The entries of one bundle key; `save` keeps only those of the current documents."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._entries: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self._path.read_bytes())
            if isinstance(loaded, dict):
                self._entries = loaded

    @property
    def size(self) -> int:
        return len(self._entries)

    def get(self, key: str | None) -> tuple[list[PolicyRow], list[SecretRow]] | None:
        entry = self._entries.get(key) if key is not None else None
        if entry is None:
            return None
        try:
            policy = [(ns, rule, msg, dict(details), pf) for ns, rule, msg, details, pf in entry[0]]
            secrets = [(tuple(path), what) for path, what in entry[1]]
        except (TypeError, ValueError, IndexError):
            return None
        return policy, secrets

    def save(self, rows: Mapping[str, tuple[list[PolicyRow], list[SecretRow]]]) -> None:
        """Best effort, like every cache here: failing to write only costs speed."""
        data = {
            key: [[list(r) for r in policy], [[list(p), what] for p, what in secrets]]
            for key, (policy, secrets) in rows.items()
        }
        write_atomic(self._path, json.dumps(data, separators=(",", ":")))
