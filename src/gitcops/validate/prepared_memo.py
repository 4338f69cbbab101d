"""Provider-prepared specs of documents validated before, so that a commit that edits one
document of a thousand checks and prepares that one.

An entry is keyed by the digest of the document as rendered and of where it was written, and
holds the spec its provider prepared. Only what follows from those alone is skipped on a hit:
the shape, kind and schema checks and the provider's `prepare`. The provider's `validate`,
which looks at the live system (a symlink on disk leaving the root), runs every time.
Documents with secrets are never remembered (their values must not reach the disk), nor those
whose preparation read another file of the repository (a File's `source`), nor specs JSON
cannot give back exactly. The owner keys the whole memo by gitcops' version and code, and the
providers configured: anything else that decides the outcome.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gitcops.model.canonical import exact_json, value_bytes
from gitcops.model.memo import TextMemo
from gitcops.model.resource import Origin


class PreparedMemo(TextMemo):
    """Digest of (document, file, index) -> the JSON text of the prepared spec."""

    @staticmethod
    def key(doc: dict[str, Any], origin: Origin) -> str | None:
        data = value_bytes([doc, origin.file, origin.position])
        if data is None:
            return None  # not plain data: validated every time
        return hashlib.blake2b(data, digest_size=16).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        text = self._known.get(key)
        if text is None:
            return None
        try:
            spec = json.loads(text)
        except (ValueError, RecursionError):
            return None  # the cache directory is the user's to clear or damage
        if not isinstance(spec, dict):
            return None
        self._used[key] = text
        self.hits += 1
        return spec

    def put(self, key: str, spec: dict[str, Any]) -> None:
        text = exact_json(spec)
        if text is not None:
            self._used[key] = text
            self.misses += 1
